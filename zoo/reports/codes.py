"""Everything a run writes about the codes of a sequence autoencoder (computed by
zoo.evaluation.latent_code): latent_code.json with the code diagnostics (seq_vae) or the code MMD
(seq_ae), reconstructions of the first sequences of a split, and the homotopy between its first
two. Text is written one sequence a line, its line breaks shown as " / "; piano rolls as panels
of a PNG; other data as a tensor file."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from zoo.data.dataset import DataSpec, SequenceData
from zoo.evaluation.latent_code import LatentCodeReport, code_figures, homotopy, reconstruct
from zoo.reports.plots import plot_piano_rolls

log = logging.getLogger("zoo")


def _text(spec: DataSpec, x: Tensor) -> str:
    return spec.vocab.decode(x.tolist()).rstrip("\n").replace("\n", " / ")


def _rolls_figure(rolls: list[Tensor], titles: list[str], path: Path) -> Path:
    """One panel per roll, shorter rolls padded with silence to the longest."""
    plot_piano_rolls(pad_sequence(rolls, batch_first=True), path, titles=titles)
    return path


def write_reconstructions(
    model, guide, seqs: list[Tensor], spec: DataSpec, run_dir: Path, greedy: bool = True
) -> list[Path]:
    """reconstructions.txt (each input above its reconstruction) or .png (input and
    reconstruction panels in turn, piano rolls); .pt for other data."""
    outputs = reconstruct(model, guide, seqs, greedy)
    if spec.kind == "categorical" and spec.vocab is not None:
        path = run_dir / "reconstructions.txt"
        blocks = [f"input   {_text(spec, x)}\ndecoded {_text(spec, y)}" for x, y in zip(seqs, outputs)]
        path.write_text(f"decode(c(x)), {'greedy' if greedy else 'sampled'}\n\n" + "\n\n".join(blocks) + "\n")
        return [path]
    if spec.kind == "bernoulli":
        titles = [t for i in range(len(seqs)) for t in (f"input {i}", f"reconstruction {i}")]
        return [
            _rolls_figure([r for pair in zip(seqs, outputs) for r in pair], titles, run_dir / "reconstructions.png")
        ]
    path = run_dir / "reconstructions.pt"
    torch.save({"inputs": seqs, "reconstructions": outputs}, path)
    return [path]


def write_homotopy(
    model, guide, x_a: Tensor, x_b: Tensor, spec: DataSpec, run_dir: Path, steps: int = 5, greedy: bool = True
) -> list[Path]:
    """homotopy.txt (one decoded sequence per alpha, between the two inputs) or .png."""
    alphas, decoded = homotopy(model, guide, x_a, x_b, steps, greedy=greedy)
    if spec.kind == "categorical" and spec.vocab is not None:
        path = run_dir / "homotopy.txt"
        lines = [f"x_a          {_text(spec, x_a)}"]
        lines += [f"alpha={a:.2f}   {_text(spec, y)}" for a, y in zip(alphas.tolist(), decoded)]
        lines += [f"x_b          {_text(spec, x_b)}"]
        header = f"decode((1 - alpha) c(x_a) + alpha c(x_b)), {'greedy' if greedy else 'sampled'}"
        path.write_text(header + "\n\n" + "\n".join(lines) + "\n")
        return [path]
    if spec.kind == "bernoulli":
        titles = ["x_a"] + [f"alpha = {a:.2f}" for a in alphas.tolist()] + ["x_b"]
        return [_rolls_figure([x_a, *decoded, x_b], titles, run_dir / "homotopy.png")]
    path = run_dir / "homotopy.pt"
    torch.save({"x_a": x_a, "x_b": x_b, "alphas": alphas, "decoded": decoded}, path)
    return [path]


def write_code_report(
    model,
    guide,
    data: SequenceData,
    run_dir: Path,
    split: str = "test",
    num_examples: int = 4,
    steps: int = 5,
    greedy: bool = True,
    batch_size: int = 256,
    device="cpu",
    limit: int | None = None,
) -> dict | None:
    """For a model with codes (a `decode` method: seq_ae, seq_vae), write latent_code.json,
    reconstructions and homotopy files into run_dir, log the diagnostics, and return
    {"latent_code": diagnostics (seq_vae), the code MMD (seq_ae with a code generator or
    prior) or None, "files": [names]}; None for other models."""
    if not hasattr(model, "decode"):
        return None
    run_dir = Path(run_dir)
    model.eval()
    guide.eval()
    report = code_figures(model, guide, data, split, batch_size, device, limit)
    if report is not None:
        if "code_mmd" in report:
            log.info(f"MMD between new codes ({model.code_source}) and encoded {split} codes: {report['code_mmd']:.4f}")
        else:
            log.info(LatentCodeReport(**report).summary())
        (run_dir / "latent_code.json").write_text(json.dumps(report, indent=2))
    seqs = data.split(split, limit)
    files = write_reconstructions(model, guide, list(seqs[:num_examples]), data.spec, run_dir, greedy)
    if len(seqs) > 1:
        files += write_homotopy(model, guide, seqs[0], seqs[1], data.spec, run_dir, steps, greedy)
    return {"latent_code": report, "files": [f.name for f in files]}
