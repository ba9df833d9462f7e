"""The structured inference network of the Deep Markov Model (Krishnan et al. 2017, "DKS":
q(z_t | z_{t-1}, x_{t:T}), the factorisation the true posterior has), after Pyro's examples/dmm.py.

    g_t  = GRU over the emitter's features of x_T, ..., x_t        backward RNN, g_t summarises x_{t:T}
    c_t  = 1/2 (tanh(W z_{t-1} + b) + g_t)                          combiner
    q(z_t | z_{t-1}, x_{t:T}) = N(loc(c_t), diag scale(c_t)^2)     then `flows` IAFs (zoo.nn.flows)

The path is drawn step by step and declared as one site "z". It is a smoothing guide (it reads
ahead, x_{t:T}), so it proposes no single steps for SMC. The guide holds the model to read its
emitter's features; those parameters stay the model's.
"""

from __future__ import annotations

from typing import Protocol

import pyro
import torch
from torch import Tensor, nn

from guides.contract import model_for
from zoo.data.batch import Batch
from zoo.nn.flows import IAFStack
from zoo.nn.layers import GaussianHead, reverse_padded


class DMMLike(Protocol):
    """What the DMM guide reads of its model (zoo.models.dmm.DMM declares it): its sizes and the
    features of x_t, on a chain with a transition p(z_t | z_{t-1}) from z_0 (`previous`)."""

    z_size: int
    hidden_size: int
    feature_size: int  # width of features(x)
    transition: nn.Module

    def features(self, x: Tensor) -> Tensor: ...

    def previous(self, z: Tensor) -> Tensor: ...


class Combiner(nn.Module):
    """(loc, scale) of q(z_t | z_{t-1}, x_{t:T}) from z_{t-1} and the backward RNN's g_t."""

    def __init__(self, z_size: int, rnn_size: int):
        super().__init__()
        self.z_to_hidden = nn.Linear(z_size, rnn_size)
        self.head = GaussianHead(rnn_size, z_size)

    def forward(self, z_prev: Tensor, g_t: Tensor) -> tuple[Tensor, Tensor]:
        """(B, Z), (B, H) -> (B, Z) x2."""
        return self.head(0.5 * (torch.tanh(self.z_to_hidden(z_prev)) + g_t))


class DMMGuide(nn.Module):
    """q(z_{1:T} | x) = prod_t q(z_t | z_{t-1}, x_{t:T})."""

    def __init__(self, model: nn.Module, hidden_size: int | None = None, flows: int = 0):
        super().__init__()
        object.__setattr__(self, "dmm", model_for("dmm", "dmm", model, DMMLike))  # shared, not owned
        hidden = hidden_size or model.hidden_size
        self.rnn = nn.GRU(model.feature_size, hidden, batch_first=True)  # one fused GRU over x_T..x_1
        self.h_0 = nn.Parameter(torch.zeros(1, 1, hidden))  # the RNN's initial state, learned
        self.combiner = Combiner(model.z_size, hidden)
        self.z_q_0 = nn.Parameter(torch.zeros(model.z_size))  # z_0 of the guide, learned
        self.flows = IAFStack(model.z_size, flows)  # shared by every step

    def backward_states(self, batch: Batch) -> Tensor:
        """g_t for every t, each from x_{t:T} of its own sequence only: (B, T, H)."""
        features = self.dmm.features(batch.x)  # (B, T, F)
        h_0 = self.h_0.expand(1, batch.batch_size, -1).contiguous()
        g, _ = self.rnn(reverse_padded(features, batch.lengths), h_0)  # reads x_T, ..., x_1, then padding
        return reverse_padded(g, batch.lengths)  # (B, T, H)

    def forward(self, batch: Batch) -> Tensor:
        g = self.backward_states(batch)
        steps = self.flows.steps()
        z_t = self.z_q_0.expand(batch.batch_size, -1)  # (B, Z)
        # unbind once: [:, t] in the loop costs a (B, T, .) zero fill per step in backward
        for g_t in g.unbind(1):
            z_t = steps.draw(*self.combiner(z_t, g_t))  # the next step reads the flowed z_t
        with pyro.plate("sequences", batch.dataset_size, subsample_size=batch.batch_size):
            return pyro.sample("z", steps.path(batch.mask))  # (B, T, Z)
