"""Figures written for people and for zoo.compare: the table of a split's figures a run logs, and
each sequence's figures as an .npz."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def summary_table(figures, split: str = "test") -> str:
    """One line per figure: nats per step with its standard error over sequences, bits per
    step, nats per sequence, and the kind."""
    lines = [f"{split} NLL   nats/step  (s.e.)    bits/step   nats/seq   kind", "-" * 76]
    for f in figures:
        lines.append(
            f"{'':9s}{f.nats_per_step:10.4f}  ({f.stderr:.4f})  {f.bits_per_step:9.4f}  "
            f"{f.nats_per_sequence:9.2f}   {f.kind}"
        )
    return "\n".join(lines)


def write_sequences(path: Path, figures, split: str) -> None:
    """The per-sequence figures of a split as an .npz: `kinds` (F,) the figures' kinds, `nll`
    (F, N) float64 nats of each sequence, `lengths` (N,) int64 steps of each, in the split's
    order, and `split`; nll[f].sum() / lengths.sum() is figure f's nats per step. Figures
    without per-sequence values are left out."""
    kept = [f for f in figures if f.per_sequence() is not None]
    if not kept:
        return
    lengths = kept[0].lengths
    assert all(torch.equal(f.lengths, lengths) for f in kept), "figures of one split over different sequences"
    np.savez(
        path,
        kinds=np.array([f.kind for f in kept], dtype=str),
        nll=np.stack([f.per_sequence().numpy() for f in kept]).astype(np.float64),  # (F, N)
        lengths=lengths.numpy().astype(np.int64),
        split=np.array(split),
    )
