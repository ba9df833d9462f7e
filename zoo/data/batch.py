"""The one type that flows from every data set to every model: a padded batch of sequences."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Batch:
    """B sequences padded to the longest, T steps.

    x        (B, T) long token ids, or (B, T, D) float frames; padding is zero.
    lengths  (B,) long, the true length of each sequence.
    mask     (B, T) bool, True on real steps. A model multiplies every per-step
             log-probability by it, so padding never changes a likelihood.
    dataset_size  number of sequences in the split the batch was drawn from; the
             likelihood of a minibatch is scaled by dataset_size / B so that global
             latent variables (weights) see the whole data set (Graves 2011).
    index    (B,) long, where each sequence sits in its split, when the batch was drawn
             from one (errors name the sequences by it); None otherwise.
    """

    x: Tensor
    lengths: Tensor
    mask: Tensor
    dataset_size: int
    index: Tensor | None = None

    def __post_init__(self):
        B, T = self.mask.shape
        assert self.x.shape[:2] == (B, T), f"x {tuple(self.x.shape)} vs mask {(B, T)}"
        assert self.lengths.shape == (B,)

    @property
    def batch_size(self) -> int:
        return self.mask.shape[0]

    @property
    def num_steps(self) -> int:
        """Real (unpadded) steps in the batch."""
        return int(self.lengths.sum())

    def tile(self, k: int) -> Batch:
        """k copies of every sequence, copy-major: row j * B + b is copy j of sequence b. The
        tiled batch is its own data set (dataset_size = k * B), so nothing is rescaled."""
        reps = (k,) + (1,) * (self.x.dim() - 1)
        index = None if self.index is None else self.index.repeat(k)
        return Batch(self.x.repeat(reps), self.lengths.repeat(k), self.mask.repeat(k, 1), k * self.batch_size, index)

    def split(self, k: int) -> list[Batch]:
        """k groups of consecutive sequences, their sizes differing by at most one, each still a
        minibatch of the same data set (dataset_size kept)."""
        index = [None] * k if self.index is None else self.index.tensor_split(k)
        parts = zip(self.x.tensor_split(k), self.lengths.tensor_split(k), self.mask.tensor_split(k), index)
        return [Batch(x, lengths, mask, self.dataset_size, i) for x, lengths, mask, i in parts]

    def to(self, device) -> Batch:
        return Batch(self.x.to(device), self.lengths.to(device), self.mask.to(device), self.dataset_size, self.index)


def collate(sequences: list[Tensor], dataset_size: int | None = None, index: list[int] | None = None) -> Batch:
    """Pad a list of (T_i,) or (T_i, D) tensors into one Batch; `index` says where each sits
    in its split."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    x = torch.nn.utils.rnn.pad_sequence(sequences, batch_first=True)  # (B, T, ...)
    mask = torch.arange(x.shape[1])[None, :] < lengths[:, None]  # (B, T)
    positions = None if index is None else torch.tensor(index, dtype=torch.long)
    return Batch(x, lengths, mask, dataset_size or len(sequences), positions)
