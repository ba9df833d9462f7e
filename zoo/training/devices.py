"""Where a run computes: the device an option names, the one it resolves to (a rank's own GPU
under torchrun), how it is described beside measured figures, and the seeds of a fresh start."""

from __future__ import annotations

import platform
import random
from pathlib import Path

import numpy as np
import torch

from zoo.errors import ZooError
from zoo.options import did_you_mean
from zoo.training.distributed import World, visible_gpus
from zoo.training.threads import available_cores

DEVICES = ("auto", "cpu", "cuda")


def check_device(name: str, option: str) -> None:
    """auto, cpu, or cuda where a CUDA device is visible."""
    if name not in DEVICES:
        raise ZooError(f"{option}={name!r} is not one of {', '.join(DEVICES)}{did_you_mean(name, DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ZooError(f"{option}=cuda but no CUDA device is visible; use {option}=auto")


def resolve_device(name: str, world: World | None = None) -> torch.device:
    """The device of `name`; a torchrun rank's GPU is the one of its local rank. auto: CUDA where
    every rank on this machine has a GPU of its own, else the CPU, for every rank alike (ranks on
    one device type, so that one backend reduces their gradients)."""
    world = world or World()
    gpus = visible_gpus()
    if name == "auto":
        name = "cuda" if world.local_size <= gpus else "cpu"
    if name != "cuda":
        return torch.device(name)
    if world.local_rank >= gpus:
        raise ZooError(
            f"train.device=cuda gives each of the {world.local_size} ranks on this machine a GPU of its own, "
            f"and {gpus} {'is' if gpus == 1 else 'are'} visible: start torchrun with --nproc_per_node={gpus}, "
            "or train on the CPU with train.device=cpu (or auto)"
        )
    return torch.device("cuda", world.local_rank)


def describe_device(device: torch.device | str = "cpu") -> str:
    """Where figures were measured: the GPU's name, or the CPU's with the threads torch uses (a
    time budget buys another number of steps on another CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads, name = torch.get_num_threads(), cpu_name()
    return (
        f"CPU{f' ({name})' if name else ''}, {threads} thread{'s' if threads > 1 else ''} ({available_cores()} cores)"
    )


def cpu_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The CPU's model name, as Linux's cpuinfo gives it, else as Python's platform module does
    (None where neither says)."""
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        lines = []
    name = next((line.partition(":")[2].strip() for line in lines if line.startswith("model name")), "")
    return name or platform.processor() or None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
