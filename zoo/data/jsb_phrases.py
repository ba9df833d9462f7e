"""Fixed-length phrases of the JSB chorales: each chorale's (T, 88) piano roll
(zoo.data.jsb_chorales) cut into non-overlapping windows of `length` frames (quarter notes),
its last partial window dropped, within the published 229/76/77 split of the chorales.
"""

from __future__ import annotations

import os

from torch import Tensor

from zoo.data import jsb_chorales
from zoo.data.dataset import SequenceData
from zoo.data.errors import DataError
from zoo.errors import ZooError

SPLITS = ("train", "valid", "test")


def windows(roll: Tensor, length: int) -> list[Tensor]:
    """roll[0:L], roll[L:2L], ... : every whole window of `length` frames, (L, 88) each."""
    return [roll[start : start + length] for start in range(0, len(roll) - length + 1, length)]


def load(length: int = 16, data_dir: str | os.PathLike | None = None) -> SequenceData:
    """Phrases of `length` frames of the JSB chorales, per split (see the module docstring)."""
    if length < 1:
        raise ZooError(f"data.length={length}; a phrase needs at least 1 frame")
    chorales = jsb_chorales.load(data_dir)
    splits = {s: [w.clone() for roll in chorales.split(s) for w in windows(roll, length)] for s in SPLITS}
    for s, phrases in splits.items():
        if not phrases:
            raise DataError(f"no {s} chorale has {length} frames; lower data.length")
    info = {**chorales.info, "length": length, "chorales": {s: len(chorales.split(s)) for s in SPLITS}}
    return SequenceData("jsb_phrases", chorales.spec, **splits, info=info)
