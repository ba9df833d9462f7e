"""Sample sheets of handwriting models: new drawings at several sampling biases, and test
drawings continued from their first half (Graves 2013, section 4 and the bias of section 5)."""

from __future__ import annotations

from pathlib import Path

import torch

from zoo.data.dataset import SequenceData
from zoo.data.strokes import to_strokes
from zoo.evaluation.sampling import draw, sampling_bias
from zoo.reports.plots import plot_strokes

BIASES = (0.0, 0.5, 1.0, 2.0)


def drawings(steps: torch.Tensor, scale: float) -> list[list]:
    """(n, T, 3) steps -> n drawings; a sampled step past the last end of stroke is kept."""
    return [to_strokes(s, scale) for s in steps]


def write_stroke_sheets(
    model, guide, data: SequenceData, run_dir: Path, n: int = 4, length: int | None = None, biases=BIASES
) -> list[Path]:
    """sample_sheet.png: n drawings per bias, a row each; primed.png: the first n test drawings,
    their first half given and the rest drawn by the model, beside the real one."""
    scale = data.spec.scale or 1.0
    length = length or max(len(s) for s in data.test)
    rows, labels = [], []
    for b in biases:
        with sampling_bias(model, b):
            rows += drawings(draw(model, guide, n, length), scale)
        labels.append(f"bias {b:g}")
    sheet = Path(run_dir) / "sample_sheet.png"
    plot_strokes(rows, sheet, ncols=n, row_labels=labels)

    pairs, given, titles = [], [], []
    for x in data.test[:n]:
        half = len(x) // 2
        continued = draw(model, guide, 1, len(x) - half, prime=x[:half])[0]
        pairs += [to_strokes(x, scale), to_strokes(continued, scale)]
        given += [None, to_strokes(x[:half], scale)]
        titles += ["test drawing", "first half given (grey), rest sampled"]
    primed = Path(run_dir) / "primed.png"
    plot_strokes(pairs, primed, titles=titles, ncols=2, given=given)
    return [sheet, primed]
