"""Draw sequences from a trained run.

    python -m zoo.sample run=PATH [n=4] [length=400] [temperature=1.0] [prime="ROMEO:"]
                         [checkpoint=best.pt] [seed=0] [data.<field>=...]

Writes samples-T<temperature>.txt (text) or .png (piano rolls) beside the checkpoint and
prints text samples.
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

DEFAULTS = {"run": None, "checkpoint": "best.pt", "n": 4, "length": 400, "temperature": 1.0, "prime": None,
            "seed": 0, "device": "cpu"}


def sample(options: dict, overrides: list[str]) -> list:
    ckpt = resolve_checkpoint(options["run"], options["checkpoint"])
    _, data, model, guide, _ = load_run(str(ckpt), overrides=overrides)
    if options["temperature"] <= 0:
        raise ZooError(f"temperature={options['temperature']} must be positive")
    torch.manual_seed(options["seed"])
    samples = draw(model, guide, options["n"], options["length"], options["temperature"],
                   encode_prime(data.spec, options["prime"]))
    files = write_samples(samples, data.spec, ckpt.parent, stem=f"samples-T{options['temperature']:g}")
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
