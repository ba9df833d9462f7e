"""A user's own sequences from one .npz file (`data=npz data.path=FILE data.kind=KIND`).

Format (`numpy.savez(FILE, train=..., valid=..., test=...)`, no pickled objects):

    train, valid, test   the sequences of each split, padded to a common length T:
                         kind "bernoulli" or "real": a float array (N, T, D) of frames;
                         kind "categorical": an integer array (N, T) of token ids.
    <split>_lengths      optional (N,) integers in 1..T, the true length of each
                         sequence; without it every sequence has length T.
    vocab_size           optional integer scalar, for kind "categorical": ids lie in
                         [0, vocab_size); without it, vocab_size is the largest id + 1.

Only `train` is required. A missing `valid` or `test` is taken from the end of
the train sequences: the last `test_fraction` of them test, the
`valid_fraction` before those validate (at least one sequence each), so the
split is fixed by the file. Frames have at least one value each; Bernoulli
frames must be 0 or 1, real frames finite as float32. Bad options (kind,
fractions) are ZooErrors naming them, raised before the file is read; every
fault of the file is a DataError naming the file, the field and the fix.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from zoo.data.checks import file_path, held_out_fractions, shown
from zoo.data.dataset import DataSpec, SequenceData
from zoo.data.errors import DataError
from zoo.errors import ZooError

SPLITS = ("train", "valid", "test")
KINDS = ("categorical", "bernoulli", "real")
KNOWN_KEYS = {*SPLITS, *(f"{s}_lengths" for s in SPLITS), "vocab_size"}
# What reading a damaged or foreign file raises: numpy's format checks (ValueError), data cut
# short (EOFError), a damaged zip (BadZipFile; zlib.error in a deflated member;
# NotImplementedError for an unknown compression method or zip version; RuntimeError for a
# member flagged as encrypted), a declared shape too large to allocate, and I/O errors.
UNREADABLE = (
    ValueError,
    EOFError,
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
    RuntimeError,
    MemoryError,
    OSError,
)


def load(
    path: str | os.PathLike, kind: str = "real", valid_fraction: float = 0.1, test_fraction: float = 0.1
) -> SequenceData:
    """The sequences of an .npz file in the format of the module docstring."""
    if not isinstance(kind, str) or kind not in KINDS:
        raise ZooError(
            f"data.kind={shown(kind)} is not one of {', '.join(KINDS)}; set it to categorical (token ids), "
            f"bernoulli (frames of 0 and 1) or real (frames of numbers)"
        )
    valid_fraction, test_fraction = held_out_fractions(valid_fraction, test_fraction)
    path = file_path(path, "an .npz file (see zoo/data/npz.py)")
    arrays = _read(path)
    splits = {s: _sequences(arrays, s, kind, path) for s in SPLITS if s in arrays}
    spec = DataSpec(kind, _dim(arrays, splits, kind, path))
    for split, seqs in splits.items():
        _validate(seqs, split, spec, path)
    splits = _hold_out(splits, valid_fraction, test_fraction, path)
    info = {"path": str(path), "held_out": [s for s in ("valid", "test") if s not in arrays]}
    return SequenceData(path.stem, spec, **splits, info=info)


def _read(path: Path) -> dict[str, np.ndarray]:
    """Every field of the file, read in full; a file that is not an .npz of plain arrays is a DataError."""
    if not path.is_file():
        missing = "is not a file" if path.exists() else "does not exist"
        raise DataError(f"npz file {path} {missing}; set data.path to an .npz file (see zoo/data/npz.py)")
    if path.stat().st_size == 0:
        raise DataError(f"npz file {path} is empty; write the sequences into it with numpy.savez(FILE, train=...)")
    try:
        with open(path, "rb") as handle:  # closed here even when numpy gives up on a damaged archive
            loaded = np.load(handle, allow_pickle=False)
            if isinstance(loaded, np.lib.npyio.NpzFile):
                with loaded as f:
                    arrays = {key: f[key] for key in f.files}
    except UNREADABLE as e:
        if "pickle" in str(e):
            fix = "save numeric arrays, not pickled objects or lists of arrays (pad them and give <split>_lengths)"
        else:
            fix = "the file is damaged or not an .npz; write it again with numpy.savez(FILE, train=...)"
        reason = f"{type(e).__name__}: {e}"
        raise DataError(f"{path} is not a readable .npz of plain numeric arrays ({reason}); {fix}") from e
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DataError(
            f"{path} holds one bare array (.npy format), not named fields; "
            f"save it with numpy.savez({path.name!r}, train=...)"
        )
    unknown = sorted(arrays.keys() - KNOWN_KEYS)
    if unknown:
        raise DataError(f"{path}: unexpected fields {unknown}; the fields are {sorted(KNOWN_KEYS)}")
    raw = sorted(key for key, value in arrays.items() if not isinstance(value, np.ndarray))
    if raw:
        raise DataError(
            f"{path}: fields {raw} are not arrays (zip members without numpy's .npy format); "
            f"write the file with numpy.savez"
        )
    if "train" not in arrays:
        raise DataError(f"{path} has no field 'train' (it has {sorted(arrays)}); save the sequences as train=...")
    return arrays


def _sequences(arrays: dict[str, np.ndarray], split: str, kind: str, path: Path) -> list[Tensor]:
    """The unpadded sequences of one split."""
    x = arrays[split]
    ndim = 2 if kind == "categorical" else 3
    shape = "(N, T) of token ids" if ndim == 2 else "(N, T, D) of frames"
    if x.ndim != ndim:
        raise DataError(f"{path}: field {split!r} has shape {x.shape}; kind {kind} needs {shape}")
    if kind == "categorical" and x.dtype.kind not in "iu":
        raise DataError(f"{path}: field {split!r} has dtype {x.dtype}; token ids must be integers")
    if kind != "categorical" and x.dtype.kind not in "biuf":
        raise DataError(f"{path}: field {split!r} has dtype {x.dtype}; frames must be numbers")
    if x.dtype == np.uint64 and x.size and x.max() > np.iinfo(np.int64).max:
        raise DataError(f"{path}: field {split!r} has values above 2**63 - 1; store smaller numbers (int64 or float)")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise DataError(f"{path}: field {split!r} has shape {x.shape}, no sequences or no steps; give at least one")
    if ndim == 3 and x.shape[2] == 0:
        raise DataError(f"{path}: field {split!r} has shape {x.shape}, frames of no values; give D >= 1")
    lengths = _lengths(arrays, split, x.shape[:2], path)
    dtype = torch.long if kind == "categorical" else torch.float32
    return [torch.as_tensor(x[i, :n]).to(dtype) for i, n in enumerate(lengths)]


def _lengths(arrays: dict[str, np.ndarray], split: str, shape: tuple[int, int], path: Path) -> list[int]:
    """The length of each of the (N, T) sequences of a split: field <split>_lengths, else T."""
    key = f"{split}_lengths"
    n, t = shape
    if key not in arrays:
        return [t] * n
    lengths = arrays[key]
    if lengths.shape != (n,) or lengths.dtype.kind not in "iu":
        raise DataError(
            f"{path}: field {key!r} should be {n} integers, one per sequence, not {lengths.dtype} {lengths.shape}"
        )
    bad = np.flatnonzero((lengths < 1) | (lengths > t))
    if len(bad):
        i = int(bad[0])
        raise DataError(
            f"{path}: field {key!r}[{i}] is {int(lengths[i])}, outside 1..{t}; "
            f"every sequence needs at least one step (drop empty ones)"
        )
    return lengths.tolist()


def _hold_out(
    splits: dict[str, list[Tensor]], valid_fraction: float, test_fraction: float, path: Path
) -> dict[str, list[Tensor]]:
    """Take missing valid / test splits from the end of train."""
    train = splits["train"]
    n_test = 0 if "test" in splits else max(1, round(len(train) * test_fraction))
    n_valid = 0 if "valid" in splits else max(1, round(len(train) * valid_fraction))
    if n_valid + n_test >= len(train):
        raise DataError(
            f"{path}: field 'train' has {len(train)} sequences, too few to hold out "
            f"{n_valid} for valid and {n_test} for test; give more sequences or the fields valid and test"
        )
    cut = len(train) - n_valid - n_test
    held = {"valid": train[cut : cut + n_valid], "test": train[cut + n_valid :]}
    return {"train": train[:cut], **{s: splits.get(s) or held[s] for s in ("valid", "test")}}


def _dim(arrays: dict[str, np.ndarray], splits: dict[str, list[Tensor]], kind: str, path: Path) -> int:
    """Frame size D, or the vocabulary size for token ids."""
    if kind != "categorical":
        dims = {s: arrays[s].shape[2] for s in SPLITS if s in arrays}
        if len(set(dims.values())) > 1:
            raise DataError(f"{path}: the splits have different frame sizes {dims}; they must agree")
        return dims["train"]
    if "vocab_size" in arrays:
        size = arrays["vocab_size"]
        if size.shape != () or size.dtype.kind not in "iu" or size < 1:
            raise DataError(f"{path}: field 'vocab_size' should be one positive integer, not {size!r}")
        return int(size)
    return 1 + max(int(seq.max()) for seqs in splits.values() for seq in seqs)


def _validate(seqs: list[Tensor], split: str, spec: DataSpec, path: Path) -> None:
    """Check every value of a split against its kind; the first bad sequence is named."""
    for i, seq in enumerate(seqs):
        where = f"{path}: field {split!r}, sequence {i}"
        if spec.kind == "categorical":
            if seq.min() < 0 or seq.max() >= spec.dim:
                raise DataError(
                    f"{where} has token ids {int(seq.min())}..{int(seq.max())}, outside 0..{spec.dim - 1}; "
                    f"fix the ids or the field 'vocab_size'"
                )
        elif not torch.isfinite(seq).all():
            raise DataError(
                f"{where} has NaN or infinite values, or values beyond float32's range (3.4e38); "
                f"remove, impute or rescale them"
            )
        elif spec.kind == "bernoulli" and not ((seq == 0) | (seq == 1)).all():
            raise DataError(f"{where} has values other than 0 and 1; binarize it or use data.kind=real")
