"""SeqGAN's convolutional discriminator (Yu et al. 2016, arXiv 1609.05473, section 4 and its
released discriminator.py): a text CNN (Kim 2014; Zhang & LeCun 2015) with a highway layer.

    e_t = phi(x_t)                                      an embedding, 64 wide
    c^k_s = relu(W^k * e_{s:s+l_k-1} + b^k)             a filter of width l_k over each window
    c~^k = max_s c^k_s                                  max-pooling over the windows
    h = highway([c~^1, ..., c~^K])                      t * relu(W_H c~ + b_H) + (1 - t) * c~, t = sigmoid(W_T c~ + b_T)
    (s_fake, s_real) = W_o dropout(h) + b_o              two class scores, as SeqGAN's softmax
    D(x) = softmax(s)_real = sigmoid(s_real - s_fake)

SeqGAN's sizes: widths [1..10, 15, 20] with [100, 200, 200, 200, 200, 100 x 5, 160, 160]
filters (1,720 features), dropout keeping 0.75, and L2 0.2 on the output layer,
0.2 (|W_o|^2 + |b_o|^2) / 2. Its sequences all have 20 tokens; ours may be ragged, so the
embeddings past a sequence's length are zeroed and a window counts only if it lies inside the
sequence, or, for a filter wider than it, starts at its first step (the sequence followed by
zeros): padding is never read, and D(x) does not depend on how far the batch is padded.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.functional import pad, relu

from zoo.data.dataset import DataSpec
from zoo.errors import ZooError
from zoo.nn.discriminator import SequenceDiscriminator

SEQGAN_FILTER_SIZES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)
SEQGAN_NUM_FILTERS = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160)


class Highway(nn.Module):
    """z = t * relu(W_H y + b_H) + (1 - t) * y with the transform gate t = sigmoid(W_T y + b_T)
    (Srivastava et al. 2015); SeqGAN starts the gate's bias at 0."""

    def __init__(self, size: int, gate_bias: float = 0.0):
        super().__init__()
        self.transform, self.gate = nn.Linear(size, size), nn.Linear(size, size)
        nn.init.constant_(self.gate.bias, gate_bias)

    def forward(self, y: Tensor) -> Tensor:
        t = torch.sigmoid(self.gate(y))
        return t * relu(self.transform(y)) + (1 - t) * y


class ConvolutionalDiscriminator(SequenceDiscriminator):
    """D(x) by convolutions of several widths over the embedded sequence, max-pooled over its
    windows; initialised as SeqGAN's (embedding U(-1, 1), filters and output N(0, 0.1^2)
    truncated at two standard deviations, their biases 0.1)."""

    def __init__(
        self,
        spec: DataSpec,
        embedding_size: int = 64,
        filter_sizes=SEQGAN_FILTER_SIZES,
        num_filters=SEQGAN_NUM_FILTERS,
        dropout: float = 0.25,
        l2: float = 0.2,
    ):
        super().__init__(spec, embedding_size)
        filter_sizes, num_filters = tuple(filter_sizes), tuple(num_filters)
        if len(filter_sizes) != len(num_filters) or not filter_sizes or min(filter_sizes + num_filters) < 1:
            raise ZooError(f"filter sizes {filter_sizes} and counts {num_filters} must be as many, each at least 1")
        self.filter_sizes, self.l2 = filter_sizes, l2
        self.convs = nn.ModuleList(nn.Conv1d(embedding_size, n, k) for k, n in zip(filter_sizes, num_filters))
        features = sum(num_filters)
        self.highway = Highway(features)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(features, 2)  # scores of (generated, real)
        if spec.kind == "categorical":
            nn.init.uniform_(self.phi.weight, -1.0, 1.0)
        for layer in [*self.convs, self.output]:
            nn.init.trunc_normal_(layer.weight, std=0.1, a=-0.2, b=0.2)
            nn.init.constant_(layer.bias, 0.1)

    def features(self, x: Tensor, lengths: Tensor) -> Tensor:
        """The max-pooled filter responses [c~^1, ..., c~^K], (B, F), reading each sequence up to its length."""
        e = self.embed(x)  # (B, T, E)
        B, T, _ = e.shape
        lengths = lengths.to(e.device)
        inside = torch.arange(T, device=e.device)[None, :] < lengths[:, None]  # (B, T)
        e = torch.where(inside[..., None], e, torch.zeros_like(e))  # padding -> 0: never read
        width = max(T, max(self.filter_sizes))
        e = pad(e, (0, 0, 0, width - T)).transpose(1, 2)  # (B, E, W): zeros after the last step
        pooled = []
        for k, conv in zip(self.filter_sizes, self.convs):
            c = relu(conv(e))  # (B, n_k, W - k + 1)
            last_start = (lengths - k).clamp(min=0)  # (B,): windows inside the sequence, or the first
            valid = torch.arange(c.shape[-1], device=e.device)[None, :] <= last_start[:, None]  # (B, W - k + 1)
            pooled.append(c.masked_fill(~valid[:, None, :], 0.0).amax(-1))  # relu >= 0: the max over valid windows
        return torch.cat(pooled, -1)  # (B, F)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        """Logits of "real", s_real - s_fake: x (B, T[, D or V]), lengths (B,) -> (B,)."""
        s = self.output(self.dropout(self.highway(self.features(x, lengths))))  # (B, 2)
        return s[:, 1] - s[:, 0]

    def penalty(self) -> Tensor:
        """SeqGAN's L2 on the output layer: l2 (|W_o|^2 + |b_o|^2) / 2."""
        return self.l2 * 0.5 * (self.output.weight.square().sum() + self.output.bias.square().sum())
