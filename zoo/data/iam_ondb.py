"""IAM-OnDB (Liwicki & Bunke 2005), the handwriting of Graves 2013 section 4, for users who
have it (registration at fki.tic.heia-fr.ch; it cannot be downloaded here).

`data=iam_ondb data.path=DIR`: DIR holds the data set's lineStrokes folder (any depth of
subfolders, one XML file per line of text, such as a01/a01-000/a01-000u-01.xml):

    <WhiteboardCaptureSession> ... <StrokeSet>
      <Stroke ...> <Point x="1073" y="1058" time="769.05"/> ... </Stroke> ...
    </StrokeSet> </WhiteboardCaptureSession>

Each line becomes one drawing: its strokes, y flipped so that up is up, as Graves's offsets
with end-of-stroke bits (zoo.data.strokes). Lines of one form (a01-000u) stay in one split.
With the data set's task lists beside lineStrokes (trainset.txt, testset_v.txt,
testset_t.txt: one form id per line), those are the splits; otherwise the forms, sorted
by id, are split by `valid_fraction` and `test_fraction` from the end.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from zoo.data.dataset import SequenceData
from zoo.data.errors import DataError
from zoo.data.strokes import stroke_data, to_steps

TASK_LISTS = {"train": "trainset.txt", "valid": "testset_v.txt", "test": "testset_t.txt"}


def read_line(path: Path) -> list[np.ndarray]:
    """One lineStrokes XML file -> its strokes as (N_k, 2) positions, y up."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise DataError(f"{path} is not well-formed XML ({e}); is it an IAM-OnDB lineStrokes file?") from e
    strokes = []
    for k, stroke in enumerate(root.iter("Stroke")):
        try:
            points = [(float(p.attrib["x"]), -float(p.attrib["y"])) for p in stroke.iter("Point")]
        except (KeyError, ValueError) as e:
            raise DataError(f"{path}: stroke {k} has a Point without numeric x and y attributes ({e})") from e
        if points:
            strokes.append(np.array(points))
    if not strokes:
        raise DataError(f"{path} has no <Stroke> with <Point>s; is it an IAM-OnDB lineStrokes file?")
    return strokes


def form_of(path: Path) -> str:
    """a01-000u-01.xml -> a01-000u: the form a line was written on."""
    return path.stem.rsplit("-", 1)[0]


def split_forms(forms: list[str], root: Path, valid_fraction: float, test_fraction: float) -> dict[str, set[str]]:
    """Forms per split: the task lists when all three are in `root`, else the last forms (by id)."""
    if all((root / name).is_file() for name in TASK_LISTS.values()):
        return {
            split: {line.strip() for line in (root / name).read_text().splitlines() if line.strip()}
            for split, name in TASK_LISTS.items()
        }
    n_test = max(1, round(len(forms) * test_fraction))
    n_valid = max(1, round(len(forms) * valid_fraction))
    if n_valid + n_test >= len(forms):
        raise DataError(
            f"{root}: {len(forms)} forms are too few to hold out {n_valid} for valid and {n_test} for test; "
            f"add forms or the task lists {', '.join(TASK_LISTS.values())}"
        )
    cut = len(forms) - n_valid - n_test
    return {"train": set(forms[:cut]), "valid": set(forms[cut : cut + n_valid]), "test": set(forms[cut + n_valid :])}


def load(
    path: str | os.PathLike | None = None,
    valid_fraction: float = 0.05,
    test_fraction: float = 0.05,
    max_steps: int | None = None,
) -> SequenceData:
    """Every line under `path` as a drawing, split by form; `max_steps` drops longer lines."""
    if path is None:
        raise DataError("data=iam_ondb needs data.path=DIR, the folder holding IAM-OnDB's lineStrokes")
    root = Path(path).expanduser()
    files = sorted(root.rglob("*.xml")) if root.is_dir() else []
    if not files:
        raise DataError(f"data.path={root} holds no .xml files; point it at IAM-OnDB's lineStrokes folder")
    forms = sorted({form_of(f) for f in files})
    which = split_forms(forms, root, valid_fraction, test_fraction)
    splits: dict[str, list[np.ndarray]] = {s: [] for s in TASK_LISTS}
    for f in files:
        steps = to_steps(read_line(f))
        if max_steps and len(steps) > max_steps:
            continue
        for split, chosen in which.items():
            if form_of(f) in chosen and len(steps):
                splits[split].append(steps)
    for split, seqs in splits.items():
        if not seqs:
            raise DataError(
                f"data.path={root}: no lines fall in the {split} split; check the task lists or data.max_steps"
            )
    return stroke_data(
        "iam_ondb",
        splits["train"],
        splits["valid"],
        splits["test"],
        info={"path": str(root), "lines": {s: len(v) for s, v in splits.items()}},
    )
