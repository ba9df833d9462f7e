"""Discriminators of whole sequences, and the recurrent one: an LSTM reads a sequence and tells
real from generated.

    g_t = LSTM(phi(x_t), g_{t-1})          phi: an embedding of tokens, or a linear map of frames
    D(x) = sigmoid(w^T g_T + c)             g_T: the state at the sequence's own last step
                                            (with the backward pass's first, if bidirectional)

SeqGAN (Yu et al. 2016) uses a CNN (zoo.nn.cnn_discriminator); a recurrent discriminator reads
sequences of any length the way the generators do (as C-RNN-GAN, Mogren 2016, does for music).
Tokens come as ids (B, T) or as one-hot rows (B, T, V), hard or relaxed (RelGAN's Gumbel-softmax
tokens, Nie et al. 2019): phi(y_t) = y_t^T E is the embedding E[x_t] of a one-hot y_t, a linear
map of a soft one. Usable on its own: `score(x, lengths)` is D's probability that each
sequence is real.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.functional import binary_cross_entropy_with_logits as bce
from torch.nn.utils.rnn import pack_padded_sequence

from zoo.data.dataset import DataSpec


class SequenceDiscriminator(nn.Module):
    """What every D(x) shares: phi, the embedding of its inputs; forward(x, lengths), the logit
    of "real", (B,); score, the probability; loss, -log D(real) - log(1 - D(fake)) + penalty."""

    def __init__(self, spec: DataSpec, embedding_size: int):
        super().__init__()
        self.spec = spec
        if spec.kind == "categorical":
            self.phi = nn.Embedding(spec.dim, embedding_size)
        else:
            self.phi = nn.Linear(spec.dim, embedding_size)

    def embed(self, x: Tensor) -> Tensor:
        """phi(x_t) for every step: token ids (B, T), one-hot or relaxed tokens (B, T, V), or
        frames (B, T, D) -> (B, T, E)."""
        if self.spec.kind == "categorical" and x.is_floating_point():
            return x @ self.phi.weight  # y_t^T E: a linear map of the (soft) one-hot
        return self.phi(x)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        raise NotImplementedError

    def penalty(self) -> Tensor:
        """A regulariser added to D's loss (none here)."""
        return self.phi.weight.new_zeros(())

    @torch.no_grad()
    def score(self, x: Tensor, lengths: Tensor) -> Tensor:
        """D(x): the probability that each sequence is real, (B,), with dropout off."""
        training = self.training
        self.eval()
        try:
            return torch.sigmoid(self(x, lengths))
        finally:
            self.train(training)

    def loss(self, real: Tensor, real_lengths: Tensor, fake: Tensor, fake_lengths: Tensor) -> Tensor:
        """-log D(real) - log(1 - D(fake)), each averaged over its sequences, + the penalty."""
        d_real, d_fake = self(real, real_lengths), self(fake, fake_lengths)
        return bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake)) + self.penalty()


class RecurrentDiscriminator(SequenceDiscriminator):
    """D(x) for sequences of one data set's kind; bidirectional reads them both ways."""

    def __init__(
        self,
        spec: DataSpec,
        hidden_size: int = 64,
        embedding_size: int = 64,
        bidirectional: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__(spec, embedding_size)
        self.lstm = nn.LSTM(embedding_size, hidden_size, batch_first=True, bidirectional=bidirectional)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_size * (2 if bidirectional else 1), 1)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        """Logits of "real": x (B, T[, D or V]), lengths (B,) -> (B,). Padding is never read."""
        packed = pack_padded_sequence(
            self.dropout(self.embed(x)), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, (g, _) = self.lstm(packed)  # (directions, B, H): each direction's state after the whole sequence
        return self.output(self.dropout(torch.cat(list(g), -1)))[:, 0]
