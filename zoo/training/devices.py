"""Where a run computes: the device an option names, the one it resolves to (a rank's own GPU
under torchrun), how it is described beside measured figures, and the seeds of a fresh start."""

from __future__ import annotations

import random

import numpy as np
import torch

from zoo.errors import ZooError
from zoo.options import did_you_mean
from zoo.training.distributed import World
from zoo.training.threads import available_cores

DEVICES = ("auto", "cpu", "cuda")


def check_device(name: str, option: str) -> None:
    """auto, cpu, or cuda where a CUDA device is visible."""
    if name not in DEVICES:
        raise ZooError(f"{option}={name!r} is not one of {', '.join(DEVICES)}{did_you_mean(name, DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ZooError(f"{option}=cuda but no CUDA device is visible; use {option}=auto")


def resolve_device(name: str, world: World | None = None) -> torch.device:
    """The device of `name` (auto: CUDA where visible); a rank's GPU is the one of its local rank."""
    kind = ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name
    return torch.device(kind, (world or World()).local_rank) if kind == "cuda" else torch.device(kind)


def describe_device(device: torch.device | str = "cpu") -> str:
    """Where figures were measured: the GPU's name, or the CPU threads torch uses."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return f"CPU, {threads} thread{'s' if threads > 1 else ''} ({available_cores()} cores)"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
