"""Shared timing helper for the bench scripts: interleaved repeats, median seconds."""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import torch

from zoo.training.checkpoint import load_checkpoint
from zoo.training.devices import describe_device


def time_steps(steps: dict, repeats: int = 7, inner: int = 5, warmup: int = 3) -> dict[str, float]:
    """Median seconds per call of each zero-argument step, the contenders interleaved so that
    machine noise falls on all of them alike."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    samples = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(inner):
                step()
            samples[name].append((time.perf_counter() - start) / inner)
    return {name: statistics.median(s) for name, s in samples.items()}


def train_step(loss_fn, params, lr: float = 1e-3, clip_norm: float = 5.0):
    """A zero-argument training step as the trainer runs it: loss, backward, clipping, Adam."""
    optimizer = torch.optim.Adam(params, lr=lr)

    def step():
        loss = loss_fn()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip_norm)
        optimizer.step()

    return step


def reload_best(trainer) -> None:
    """After fit(): the trainer's best.pt back into its model and guide, both in evaluation mode."""
    trainer.load_state_dict(load_checkpoint(trainer.run_dir, "best.pt"))
    trainer.model.eval()
    trainer.guide.eval()


def command_line() -> str:
    """The command that is running, as `python -m bench.<script> <arguments>`."""
    return "python -m " + " ".join([f"bench.{Path(sys.argv[0]).stem}", *sys.argv[1:]])


def write_json(name: str, payload: dict) -> Path:
    """bench/results/<name>.json, with the hardware it ran on and the command that made it."""
    out = Path(__file__).parent / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    payload = {**payload, "hardware": describe_device(device), "command": command_line()}
    out.write_text(json.dumps(payload, indent=2))
    return out
