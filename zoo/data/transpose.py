"""Transposition of piano rolls, drawn afresh each time training draws a piece.

The four polyphonic sets were transposed to C major or C minor by their authors, so a model
sees each chord progression in one key only. Drawing every training piece shifted by a random
number of semitones teaches it the same progressions in neighbouring keys; Walder (2016,
"Modelling symbolic music: beyond the piano roll", ACML, arXiv 1606.01368) trained on all
twelve transpositions of these sets and improved on the published likelihoods. Valid and test
pieces are never shifted, so the figures stay those of the published splits.

    s ~ Uniform{ s in [-k, k] : every note n of the piece has 0 <= n + s < 88 }
    x'_t[n + s] = x_t[n]                      the whole piece moved by s keys, each frame alike

A shift that would push a note off the keyboard is never drawn, so no note is lost and every
frame keeps its notes, their number and the intervals between them.
"""

from __future__ import annotations

import torch
from torch import Tensor

from zoo.data.checks import whole_number


def shift_range(roll: Tensor, k: int) -> tuple[int, int]:
    """The smallest and largest shift in [-k, k] that keep every note of `roll` (T, D) on its D
    keys; (0, 0) for a silent piece."""
    sounding = roll.any(0).nonzero().flatten()  # the keys the piece uses
    if len(sounding) == 0:
        return 0, 0
    lowest, highest = int(sounding[0]), int(sounding[-1])
    return max(-k, -lowest), min(k, roll.shape[-1] - 1 - highest)


def transpose(roll: Tensor, shift: int) -> Tensor:
    """`roll` (T, D) moved up by `shift` keys (down when negative); the caller keeps every note on
    the keyboard (`shift_range`), so the keys that wrap round are silent ones."""
    return torch.roll(roll, shift, dims=-1)


class RandomTransposition:
    """A training piece shifted by s keys, s uniform over the shifts in [-k, k] that keep it on
    the keyboard, drawn from the caller's generator (so a resumed run draws what an
    uninterrupted one would)."""

    def __init__(self, k: int):
        self.k = k

    def __call__(self, roll: Tensor, generator: torch.Generator) -> Tensor:
        low, high = shift_range(roll, self.k)
        shift = int(torch.randint(low, high + 1, (), generator=generator))
        return transpose(roll, shift) if shift else roll

    def __repr__(self) -> str:
        return f"RandomTransposition(k={self.k})"


def random_transposition(k) -> RandomTransposition | None:
    """The augmentation of `data.transpose=k`, checked: None for 0 or null (no shift)."""
    k = whole_number("transpose", 0 if k is None else k, least=0)
    return RandomTransposition(k) if k else None
