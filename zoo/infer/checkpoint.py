"""Checkpoints: written atomically, read back with torch.load(weights_only=True).

A checkpoint holds only tensors and plain Python values: the model's and guide's state,
the optimiser's and schedule's state, the RNG state, the epoch, the metric history, the
run's configuration and the data spec (vocabulary), so it can be resumed, evaluated or
sampled from without unpickling arbitrary objects.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from zoo.errors import ZooError


class CheckpointError(ZooError):
    """A checkpoint that cannot be used, with what to do about it."""


def save_checkpoint(state: dict, path: str | Path) -> None:
    """Write `state` to `path` through a temporary file and an atomic rename: a crash or
    Ctrl-C mid-write leaves the previous checkpoint whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def resolve_checkpoint(path: str | Path, name: str = "last.pt") -> Path:
    """A checkpoint file, or `name` inside a run folder."""
    path = Path(path)
    if path.is_dir():
        path = path / name
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: give a .pt file or a run folder holding {name}")
    return path


def load_checkpoint(path: str | Path, name: str = "last.pt") -> dict:
    path = resolve_checkpoint(path, name)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated file, or one that needs arbitrary unpickling
        raise CheckpointError(f"cannot read checkpoint {path}: {e}") from None
