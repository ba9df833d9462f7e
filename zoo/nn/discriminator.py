"""A recurrent discriminator: an LSTM reads a whole sequence and tells real from generated.

    g_t = LSTM(phi(x_t), g_{t-1})          phi: an embedding of tokens, or a linear map of frames
    D(x) = sigmoid(w^T g_T + c)             g_T: the state at the sequence's own last step
                                            (with the backward pass's first, if bidirectional)

SeqGAN (Yu et al. 2016) uses a CNN; a recurrent discriminator reads sequences of any length
the way the generators do (as C-RNN-GAN, Mogren 2016, does for music). Usable on its own:
`score(x, lengths)` is D's probability that each sequence is real.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.functional import binary_cross_entropy_with_logits as bce
from torch.nn.utils.rnn import pack_padded_sequence

from zoo.data.dataset import DataSpec


class RecurrentDiscriminator(nn.Module):
    """D(x) for sequences of one data set's kind; bidirectional reads them both ways."""

    def __init__(self, spec: DataSpec, hidden_size: int = 64, embedding_size: int = 64, bidirectional: bool = False,
                 dropout: float = 0.0):
        super().__init__()
        self.spec = spec
        if spec.kind == "categorical":
            self.phi = nn.Embedding(spec.dim, embedding_size)
        else:
            self.phi = nn.Linear(spec.dim, embedding_size)
        self.lstm = nn.LSTM(embedding_size, hidden_size, batch_first=True, bidirectional=bidirectional)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_size * (2 if bidirectional else 1), 1)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        """Logits of "real": x (B, T[, D]), lengths (B,) -> (B,). Padding is never read."""
        packed = pack_padded_sequence(self.dropout(self.phi(x)), lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        _, (g, _) = self.lstm(packed)  # (directions, B, H): each direction's state after the whole sequence
        return self.output(self.dropout(torch.cat(list(g), -1)))[:, 0]

    @torch.no_grad()
    def score(self, x: Tensor, lengths: Tensor) -> Tensor:
        """D(x): the probability that each sequence is real, (B,)."""
        return torch.sigmoid(self(x, lengths))

    def loss(self, real: Tensor, real_lengths: Tensor, fake: Tensor, fake_lengths: Tensor) -> Tensor:
        """-log D(real) - log(1 - D(fake)), each averaged over its sequences."""
        d_real, d_fake = self(real, real_lengths), self(fake, fake_lengths)
        return bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake))
