"""Pen trajectories as Graves 2013 (section 4) feeds them to a network.

A drawing is a list of strokes, each an (N_k, 2) array of pen positions. It becomes one
sequence of steps x_t = (x1, x2, x3): x1, x2 the offset from the previous point, x3 = 1 when
the point ends a stroke (the next offset is then a jump with the pen up). The first point of
a drawing is its origin and has no step. Offsets are divided by one scale, the standard
deviation of the training offsets, which DataSpec.scale keeps so pictures can undo it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from zoo.data.dataset import DataSpec, SequenceData
from zoo.data.errors import DataError


def to_steps(strokes: list[np.ndarray]) -> np.ndarray:
    """Strokes [(N_k, 2) positions] -> (sum N_k - 1, 3) steps (dx, dy, end of stroke)."""
    points = np.concatenate(strokes, 0).astype(np.float64)  # (N, 2)
    ends = np.concatenate([np.arange(len(s)) == len(s) - 1 for s in strokes]).astype(np.float64)  # (N,)
    return np.concatenate([np.diff(points, axis=0), ends[1:, None]], 1)


def to_strokes(steps: Tensor, scale: float = 1.0) -> list[np.ndarray]:
    """(T, 3) steps -> strokes [(N_k, 2) positions] from the origin, offsets times `scale`;
    the inverse of to_steps up to the origin."""
    steps = steps.detach().cpu().double().numpy()
    points = np.concatenate([np.zeros((1, 2)), np.cumsum(steps[:, :2] * scale, 0)], 0)  # (T + 1, 2)
    ends = np.flatnonzero(steps[:, 2] > 0.5) + 1  # a stroke ends at point t + 1 when x3_t = 1
    return [s for s in np.split(points, ends + 1) if len(s)]


def drop_repeats(points: np.ndarray) -> np.ndarray:
    """An (N, 2) stroke without consecutive copies of a point: a zero offset draws nothing and
    would let a density put a spike at (0, 0)."""
    keep = np.ones(len(points), dtype=bool)
    keep[1:] = np.any(np.diff(points, axis=0) != 0, axis=1)
    return points[keep]


def stroke_data(
    name: str, train: list[np.ndarray], valid: list[np.ndarray], test: list[np.ndarray], info: dict | None = None
) -> SequenceData:
    """Splits of (T_i, 3) step arrays -> SequenceData of kind strokes, offsets divided by the
    standard deviation of the training offsets."""
    for split, seqs in (("train", train), ("valid", valid), ("test", test)):
        bad = [i for i, s in enumerate(seqs) if s.ndim != 2 or s.shape[1] != 3 or not np.isfinite(s).all()]
        if bad:
            raise DataError(f"{name}: {split} drawing {bad[0]} is not finite (T, 3) steps (dx, dy, end of stroke)")
    scale = float(np.concatenate([s[:, :2] for s in train]).std())
    if not scale > 0:
        raise DataError(f"{name}: the training drawings do not move the pen; nothing to learn")

    def tensors(seqs):
        return [torch.tensor(np.concatenate([s[:, :2] / scale, s[:, 2:]], 1), dtype=torch.float32) for s in seqs]

    return SequenceData(
        name,
        DataSpec("strokes", 3, scale=scale),
        tensors(train),
        tensors(valid),
        tensors(test),
        info={**(info or {}), "scale": scale},
    )
