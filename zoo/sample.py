"""Draw sequences from a trained run.

    python -m zoo.sample run=PATH [n=4] [length=400] [temperature=1.0] [prime="ROMEO:"]
                         [bias=0] [checkpoint=best.pt] [seed=0] [data.<field>=...]

Writes samples-T<temperature>.txt (text) or .png (piano rolls, pen strokes; with a bias
b > 0, samples-T<temperature>-b<b>.png) beside the checkpoint and prints text samples.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import ClassVar

import torch

from zoo.cli import user_errors
from zoo.evaluate import load_run, parse
from zoo.evaluation.sampling import SampleOptions, draw, encode_prime, sampling_bias
from zoo.reports.samples import write_samples
from zoo.training.checkpoint import resolve_checkpoint
from zoo.training.devices import check_device, resolve_device


@dataclass
class SampleCommandOptions(SampleOptions):
    """The options of zoo.sample: how to draw (SampleOptions) and from which run."""

    prefix: ClassVar[str] = ""
    command: ClassVar[str] = "python -m zoo.sample"
    run: str | None = None  # a run folder or a .pt checkpoint
    checkpoint: str = "best.pt"
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self):
        super().__post_init__()
        check_device(self.device, "device")


def sample(options: dict, overrides: list[str]) -> list:
    ckpt = resolve_checkpoint(options["run"], options["checkpoint"])
    _, data, model, guide, _ = load_run(str(ckpt), overrides=overrides, device=resolve_device(options["device"]))
    torch.manual_seed(options["seed"])
    with sampling_bias(model, float(options["bias"])):
        samples = draw(
            model,
            guide,
            options["n"],
            options["length"],
            options["temperature"],
            encode_prime(data.spec, options["prime"]),
        ).cpu()
    stem = f"samples-T{options['temperature']:g}" + (f"-b{float(options['bias']):g}" if options["bias"] else "")
    files = write_samples(samples, data.spec, ckpt.parent, stem=stem, frame_beats=data.info.get("frame_beats", 1.0))
    if files[0].suffix == ".txt":
        print(files[0].read_text())
    logging.getLogger("zoo").info(f"wrote {', '.join(str(f) for f in files)}")
    return files


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with user_errors():
        sample(*parse(sys.argv[1:] if argv is None else argv, SampleCommandOptions))


if __name__ == "__main__":
    main()
