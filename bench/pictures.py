"""The pictures of the model pages: samples drawn from the benches' trained checkpoints.

    python -m bench.pictures

Reads the best checkpoints under bench/results/ (run the benches first) and writes to docs/images/:

    char_lstm_samples.txt, bayes_lstm_samples.txt   text, from bench.hybrids --pairs text
    vrnn_samples.png, vrnn_samples-<i>.mid          piano rolls and each one as MIDI, from bench.jsb
    seq_vae_homotopy.png                            a homotopy, from bench.seq_autoencoders
    handwriting_sheet.png, handwriting_primed.png   strokes, from bench.handwriting
    seqgan_samples.txt                              lines after SeqGAN, from bench.seqgan --data shakespeare_lines
    <model>_samples.png, <model>_samples-<i>.mid    srnn's and dmm's piano rolls, from the run folders
                                                    bench/results/pictures/<model> of

    python -m zoo.run model=<model> data=jsb_chorales train.max_minutes=10 sample.n=3 sample.length=64 \
        hydra.run.dir=bench/results/pictures/<model>

    rnn_nade_nottingham_samples.png, -<i>.mid       RNN-NADE's, from the seed 0 cell of
                                                    bench.polyphonic --tag long on Nottingham

A picture whose checkpoint is missing is skipped with a note.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from guides.empty import NoLatents
from guides.vrnn import VRNNFiltering
from guides.weights import MeanFieldWeights
from guides.with_weights import WeightsThenLatents
from zoo.data.dataset import DataSpec
from zoo.evaluation.sampling import draw
from zoo.models.bayesian_weights import BayesianWeights
from zoo.models.char_lstm import CharLSTM
from zoo.models.vrnn import VRNN
from zoo.reports.midi import write_midi_files
from zoo.reports.plots import plot_piano_rolls
from zoo.training.checkpoint import CheckpointError, load_checkpoint

RESULTS = Path(__file__).parent / "results"
IMAGES = Path(__file__).parents[1] / "docs" / "images"


def load(folder: Path):
    state = load_checkpoint(folder, "best.pt")
    return state, DataSpec.from_state_dict(state["data_spec"])


def text(samples: torch.Tensor, spec: DataSpec) -> str:
    return "\n\n".join(spec.vocab.decode(s.tolist()) for s in samples) + "\n"


def char_lstm_text(args_hidden: int) -> str:
    state, spec = load(RESULTS / "hybrids" / "char_lstm")
    model = CharLSTM(spec, hidden_size=args_hidden)
    model.load_state_dict(state["model"])
    return text(draw(model, NoLatents(model), 2, 300, temperature=0.8), spec)


def bayes_lstm_text(args: dict) -> str:
    state, spec = load(RESULTS / "hybrids" / "bayes_lstm")
    model = BayesianWeights(CharLSTM(spec, hidden_size=args["lstm_hidden"]), prior_scale=args["prior_scale"])
    guide = WeightsThenLatents(model, MeanFieldWeights(model, init_scale=args["init_scale"]), NoLatents(model.net))
    model.load_state_dict(state["model"])
    guide.load_state_dict(state["guide"])
    return text(draw(model, guide, 2, 300, temperature=0.8), spec)


def vrnn_rolls(args: dict) -> None:
    state, spec = load(RESULTS / "jsb" / "vrnn_filtering")
    model = VRNN(spec, hidden_size=args["hidden"], z_size=args["z"])
    model.load_state_dict(state["model"])
    rolls = draw(model, VRNNFiltering(model), 3, 64)  # (3, 64, 88)
    titles = [f"vrnn sample {i} (64 frames)" for i in range(3)]
    plot_piano_rolls(rolls, IMAGES / "vrnn_samples.png", titles=titles)
    write_midi_files(rolls, IMAGES, "vrnn_samples", frame_beats=1.0)  # JSB: a frame per quarter note


def run_samples(name: str, folder: Path) -> None:
    """The piano rolls a zoo.run run folder drew at its end, and their MIDI files, as <name>_samples."""
    shutil.copy(folder / "samples.png", IMAGES / f"{name}_samples.png")
    for midi in sorted(folder.glob("samples-*.mid")):
        shutil.copy(midi, IMAGES / f"{name}_{midi.name}")


def main():
    torch.manual_seed(0)
    IMAGES.mkdir(parents=True, exist_ok=True)
    jobs = {
        "char_lstm_samples.txt": lambda: (IMAGES / "char_lstm_samples.txt").write_text(
            char_lstm_text(json.loads((RESULTS / "hybrids.json").read_text())["args"]["lstm_hidden"])
        ),
        "bayes_lstm_samples.txt": lambda: (IMAGES / "bayes_lstm_samples.txt").write_text(
            bayes_lstm_text(json.loads((RESULTS / "hybrids.json").read_text())["args"])
        ),
        "vrnn_samples.png": lambda: vrnn_rolls(json.loads((RESULTS / "jsb.json").read_text())["args"]),
        "seq_vae_homotopy.png": lambda: shutil.copy(
            RESULTS / "seq_autoencoders" / "jsb_phrases" / "seq_vae_free_bits" / "homotopy.png",
            IMAGES / "seq_vae_homotopy.png",
        ),
        "handwriting_sheet.png": lambda: shutil.copy(
            RESULTS / "handwriting" / "char_lstm" / "sample_sheet.png", IMAGES / "handwriting_sheet.png"
        ),
        "handwriting_primed.png": lambda: shutil.copy(
            RESULTS / "handwriting" / "char_lstm" / "primed.png", IMAGES / "handwriting_primed.png"
        ),
        "seqgan_samples.txt": lambda: shutil.copy(
            RESULTS / "seqgan_shakespeare_lines" / "samples.txt", IMAGES / "seqgan_samples.txt"
        ),
        **{
            f"{model}_samples.png": lambda model=model: run_samples(model, RESULTS / "pictures" / model)
            for model in ("srnn", "dmm")
        },
        "rnn_nade_nottingham_samples.png": lambda: run_samples(
            "rnn_nade_nottingham", RESULTS / "polyphonic" / "long" / "nottingham" / "rnn_nade" / "seed0"
        ),
    }
    for name, job in jobs.items():
        try:
            job()
            print(f"wrote docs/images/{name}")
        except (FileNotFoundError, KeyError, CheckpointError) as e:
            print(f"skipped {name}: {e}")


if __name__ == "__main__":
    main()
