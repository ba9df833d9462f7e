"""Small synthetic data sets for model tests."""

from __future__ import annotations

import torch

from zoo.data.dataset import DataSpec, SequenceData
from zoo.data.vocab import Vocabulary


def toy_text(num_sequences: int = 12, seed: int = 0) -> SequenceData:
    """Sequences of a 5-letter alphabet, ragged lengths 3..9."""
    g = torch.Generator().manual_seed(seed)
    vocab = Vocabulary(list("abcde"))
    seqs = [torch.randint(0, 5, (int(torch.randint(3, 10, (1,), generator=g)),), generator=g)
            for _ in range(num_sequences)]
    return SequenceData("toy_text", DataSpec("categorical", 5, vocab), seqs, seqs[:4], seqs[4:8])


def toy_rolls(num_sequences: int = 8, dim: int = 6, seed: int = 0) -> SequenceData:
    """Binary frames of `dim` notes, ragged lengths 2..7."""
    g = torch.Generator().manual_seed(seed)
    seqs = [(torch.rand(int(torch.randint(2, 8, (1,), generator=g)), dim, generator=g) < 0.3).float()
            for _ in range(num_sequences)]
    return SequenceData("toy_rolls", DataSpec("bernoulli", dim), seqs, seqs[:3], seqs[3:6])


def toy_strokes(num_sequences: int = 8, seed: int = 0) -> SequenceData:
    """Pen drawings of 2..7 steps (dx, dy, end of stroke), the last step ending the stroke."""
    from zoo.data.strokes import stroke_data

    g = torch.Generator().manual_seed(seed)
    seqs = []
    for _ in range(num_sequences):
        T = int(torch.randint(2, 8, (1,), generator=g))
        steps = torch.cat([torch.randn(T, 2, generator=g), torch.zeros(T, 1)], -1)
        steps[-1, 2] = 1
        seqs.append(steps.double().numpy())
    return stroke_data("toy_strokes", seqs, seqs[:3], seqs[3:6])
