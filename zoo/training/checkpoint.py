"""Checkpoints: written atomically, read back with torch.load(weights_only=True).

A checkpoint holds only tensors and plain Python values: the model's and guide's state,
the optimiser's and schedule's state, the RNG state, the epoch, the metric history, the
run's configuration and the data spec (vocabulary), so it can be resumed, evaluated or
sampled from without unpickling arbitrary objects.
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from pathlib import Path

import torch

from zoo.errors import ZooError
from zoo.models.bayesian_weights import has_weight_latents


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


ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since torch 1.6 is a zip archive
KEYS = ("model", "guide", "config", "data_spec", "epoch", "history")  # what every checkpoint of a run holds


def load_checkpoint(path: str | Path, name: str = "last.pt") -> dict:
    """The state saved by Trainer.save. A file that is not one ends in one CheckpointError
    saying what the file is not: empty, truncated, not a torch file, one that would run code
    when unpickled (refused, never executed), or a torch file that is not a run's checkpoint."""
    path = resolve_checkpoint(path, name)
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path} is empty, not a checkpoint: give last.pt or best.pt of a run folder")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols of foreign files
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path} is not a checkpoint: {_why_unreadable(path, e)}") from None
    if not isinstance(state, dict) or not set(KEYS) <= set(state):
        what = (
            f"a {type(state).__name__}"
            if not isinstance(state, dict)
            else "a dict without " + ", ".join(repr(k) for k in KEYS if k not in state)
        )
        raise CheckpointError(
            f"{path} is a torch file but not a zoo checkpoint ({what}): "
            "give last.pt or best.pt of a run folder written by python -m zoo.run"
        )
    return state


def _why_unreadable(path: Path, error: Exception) -> str:
    """What a file that torch.load(weights_only=True) refused is, in a few words."""
    with open(path, "rb") as f:
        head = f.read(4)
    refused = re.search(r"GLOBAL ([\w.]+)", str(error))
    if refused:
        return (
            f"it asks to unpickle {refused.group(1)}, which a checkpoint never holds; it was refused "
            "unread (only tensors and plain values are loaded)"
        )
    if head == ZIP_MAGIC:
        return f"a torch zip archive that is truncated or corrupt ({path.stat().st_size:,} bytes)"
    return "neither a torch zip archive nor a plain pickle of tensors (wrong file, or random bytes)"


def load_module_state(module: torch.nn.Module, state: dict, what: str) -> None:
    """module.load_state_dict(state), or a CheckpointError naming the first tensors whose names
    or shapes differ: the checkpoint was trained with other options than these."""
    own = module.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    reshaped = [
        f"{k}: checkpoint {tuple(state[k].shape)}, here {tuple(own[k].shape)}"
        for k in own
        if k in state and hasattr(state[k], "shape") and state[k].shape != own[k].shape
    ]
    problems = (
        ([f"missing {missing[:3]}"] if missing else [])
        + ([f"unexpected {unexpected[:3]}"] if unexpected else [])
        + reshaped[:3]
    )
    if problems:
        raise CheckpointError(
            f"the checkpoint's {what} does not fit the {what} these options build ({'; '.join(problems)}): "
            "use the options it was trained with (the run folder's .hydra/config.yaml)"
        )
    module.load_state_dict(state)


def load_weights(model: torch.nn.Module, guide: torch.nn.Module, data_spec: dict, path: str | Path) -> Path:
    """The model's and guide's weights from a trained run's checkpoint (best.pt of a run folder,
    or the file given), and nothing else: the run that loads them keeps its own optimiser, step
    count, history and random state. `data_spec` is this run's (DataSpec.state_dict()); a
    checkpoint of other data is refused. A deterministic network's checkpoint also starts a run
    with variational weights (start_weight_guide_at). Returns the checkpoint read."""
    file = resolve_checkpoint(path, "best.pt")
    state = load_checkpoint(file)
    theirs = {k: state["data_spec"].get(k) for k in ("kind", "dim")}
    if theirs != {k: data_spec.get(k) for k in ("kind", "dim")}:
        raise CheckpointError(
            f"train.init={path}: its model was trained on {theirs['kind']} data with {theirs['dim']} symbols, "
            f"this run's data have {data_spec.get('kind')} with {data_spec.get('dim')}: start from a run on "
            f"the same data set"
        )
    if has_weight_latents(model) and set(state["model"]) == set(model.net.state_dict()):
        start_weight_guide_at(model, guide, state)
    else:
        load_module_state(model, state["model"], "model")
        load_module_state(guide, state["guide"], "guide")
    return file


def start_weight_guide_at(model: torch.nn.Module, guide: torch.nn.Module, state: dict) -> None:
    """A deterministic network's checkpoint for a run whose weights are latent: its weights
    become the means mu of q(w), whose spreads keep their initial sigma (weight_guide.init_scale),
    and its guide of the network's own latents (none for char_lstm) is this run's. Variational
    training then starts where maximum likelihood stopped, not from a fresh initialisation."""
    load_module_state(model.net, state["model"], "network")
    load_module_state(guide.latents, state["guide"], "guide")
    guide.weights.start_means_at(model.weight_sites)
