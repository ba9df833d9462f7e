"""Draw sequences from a trained run.

    python -m zoo.sample run=PATH [n=4] [length=400] [temperature=1.0] [prime="ROMEO:"]
                         [bias=0] [checkpoint=best.pt] [seed=0] [data.<field>=...]

Writes samples-T<temperature>.txt (text) or .png (piano rolls, pen strokes; with a bias
b > 0, samples-T<temperature>-b<b>.png) beside the checkpoint and prints text samples.
"""

from __future__ import annotations

import logging
import sys

import torch

from zoo.cli import user_errors
from zoo.errors import ZooError
from zoo.evaluate import load_run, parse
from zoo.infer.checkpoint import resolve_checkpoint
from zoo.infer.generate import draw, encode_prime, write_samples
from zoo.infer.handwriting import sampling_bias

DEFAULTS = {"run": None, "checkpoint": "best.pt", "n": 4, "length": 400, "temperature": 1.0, "prime": None,
            "bias": 0.0, "seed": 0, "device": "cpu"}


def sample(options: dict, overrides: list[str]) -> list:
    ckpt = resolve_checkpoint(options["run"], options["checkpoint"])
    _, data, model, guide, _ = load_run(str(ckpt), overrides=overrides)
    if options["temperature"] <= 0:
        raise ZooError(f"temperature={options['temperature']} must be positive")
    torch.manual_seed(options["seed"])
    with sampling_bias(model, float(options["bias"])):
        samples = draw(model, guide, options["n"], options["length"], options["temperature"],
                       encode_prime(data.spec, options["prime"]))
    stem = f"samples-T{options['temperature']:g}" + (f"-b{float(options['bias']):g}" if options["bias"] else "")
    files = write_samples(samples, data.spec, ckpt.parent, stem=stem)
    if files[0].suffix == ".txt":
        print(files[0].read_text())
    logging.getLogger("zoo").info(f"wrote {', '.join(str(f) for f in files)}")
    return files


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with user_errors():
        sample(*parse(sys.argv[1:] if argv is None else argv, DEFAULTS))

if __name__ == "__main__":
    main()
