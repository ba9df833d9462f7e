"""Emitters: p(x_t | h_t) for each kind of value, and the features x_t feeds back.

An emitter does two things for a recurrent generator:
  features(x)   what the network reads at the next step, (B, T, ...) -> (B, T, F)
  forward(h)    the distribution of x_t given the state, (B, T, H) -> batch shape (B, T)
"""

from __future__ import annotations

import pyro.distributions as dist
import torch
from torch import Tensor, nn

from zoo.data.dataset import DataSpec
from zoo.errors import ZooError


class CategoricalEmitter(nn.Module):
    """p(x_t | h_t) = Categorical(softmax(W_y h_t + b_y)): the softmax output of Graves 2013, eq. 17."""

    def __init__(self, vocab_size: int, hidden_size: int, embedding_size: int | None = None):
        super().__init__()
        self.vocab_size = vocab_size
        # An embedding is the one-hot input of Graves 2013 times its first weight matrix.
        self.embed = nn.Embedding(vocab_size, embedding_size or vocab_size)
        self.output = nn.Linear(hidden_size, vocab_size)

    @property
    def feature_size(self) -> int:
        return self.embed.embedding_dim

    def features(self, x: Tensor) -> Tensor:
        return self.embed(x)  # (B, T) -> (B, T, E)

    def forward(self, h: Tensor, temperature: float = 1.0) -> dist.Distribution:
        return dist.Categorical(logits=self.output(h) / temperature)  # batch (B, T)


class BernoulliEmitter(nn.Module):
    """p(x_t | h_t) = prod_d Bernoulli(x_td | sigmoid(W_y h_t + b_y)_d): independent notes
    of a piano roll given the state (Graves 2013 section 3's binary output; Boulanger-Lewandowski 2012)."""

    def __init__(self, dim: int, hidden_size: int):
        super().__init__()
        self.dim = dim
        self.output = nn.Linear(hidden_size, dim)

    @property
    def feature_size(self) -> int:
        return self.dim

    def features(self, x: Tensor) -> Tensor:
        return x  # (B, T, D)

    def forward(self, h: Tensor, temperature: float = 1.0) -> dist.Distribution:
        return dist.Bernoulli(logits=self.output(h) / temperature).to_event(1)  # batch (B, T)


def make_emitter(spec: DataSpec, hidden_size: int, emission: str = "auto", embedding_size: int | None = None):
    """The emitter for a data set: `auto` takes the one its kind of values calls for."""
    kind = {"auto": spec.kind, "softmax": "categorical", "bernoulli": "bernoulli"}.get(emission)
    if kind is None:
        raise ZooError(f"model.emission={emission!r} is not one of auto, softmax, bernoulli")
    if kind != spec.kind:
        raise ZooError(f"model.emission={emission!r} cannot model {spec.kind} data; use model.emission=auto")
    if kind == "categorical":
        return CategoricalEmitter(spec.dim, hidden_size, embedding_size)
    if kind == "bernoulli":
        return BernoulliEmitter(spec.dim, hidden_size)
    raise ZooError(f"no emitter for {spec.kind} data yet")
