"""Guides for the VRNN's path z_{1:T} (zoo.models.vrnn).

Both draw the path step by step and declare it as one site "z": a GaussianPath, or with
`flows=N` a FlowPath whose every step goes through N inverse autoregressive flows shared
across time (zoo.nn.flows). They hold the model to read its feature extractors and
recurrence (`VRNNLike` says what they read); its parameters stay the model's (the guide does
not own them).
"""

from __future__ import annotations

from typing import Protocol

import pyro
import pyro.distributions as dist
import torch
from torch import Tensor, nn

from guides.contract import model_for
from guides.dmm import Combiner
from zoo.data.batch import Batch
from zoo.nn.flows import IAFStack
from zoo.nn.layers import MLP, GaussianHead, reverse_padded


class VRNNLike(Protocol):
    """What the VRNN guides read of their model (zoo.models.vrnn.VRNN declares it): its sizes,
    phi_x, h_0, eq. 7 along a path (`unroll`) and where a filtering guide leaves its states."""

    z_size: int
    hidden_size: int
    feature_size: int  # width of phi_x(x_t)

    def features(self, x: Tensor) -> Tensor: ...

    def initial_state(self, batch_size: int, like: Tensor) -> Tensor: ...

    def unroll(self, h: Tensor, steps: int, draw_z, read_x) -> tuple[list[Tensor], list[Tensor], Tensor]: ...

    def remember(self, x: Tensor, z: Tensor, h_prev: Tensor) -> None: ...


class VRNNFiltering(nn.Module):
    """q(z_t | x_{<=t}, z_{<t}) = N(mu_zt, sigma_zt), (mu_zt, sigma_zt) = phi_enc(phi_x(x_t), h_{t-1}):
    the encoder of Chung et al. 2015, eq. 9, on the model's own recurrence h."""

    def __init__(self, model: nn.Module, flows: int = 0):
        super().__init__()
        object.__setattr__(self, "vrnn", model_for("vrnn_filtering", "vrnn", model, VRNNLike))  # shared, not owned
        self.phi_enc = nn.Sequential(
            MLP(model.feature_size + model.hidden_size, model.hidden_size),
            GaussianHead(model.hidden_size, model.z_size),
        )
        self.flows = IAFStack(model.z_size, flows)  # on every z_t; none: the Gaussian of eq. 9

    def forward(self, batch: Batch):
        vrnn, x = self.vrnn, batch.x
        phi_x = vrnn.features(x)  # (B, T, F)
        steps = self.flows.steps()
        phi_x_t = phi_x.unbind(1)  # unbind once: [:, t] in the loop costs a (B, T, .) zero fill per step in backward

        def propose(t: int, h: Tensor) -> Tensor:
            loc, scale = self.phi_enc(torch.cat([phi_x_t[t], h], -1))  # eq. 9
            return steps.draw(loc, scale)  # (B, Z), through the flows if any

        _, h_prev, _ = vrnn.unroll(
            vrnn.initial_state(batch.batch_size, phi_x), len(phi_x_t), propose, lambda t, z, h: phi_x_t[t]
        )  # eq. 7
        with pyro.plate("sequences", batch.dataset_size, subsample_size=batch.batch_size):
            z = pyro.sample("z", steps.path(batch.mask))  # (B, T, Z)
        vrnn.remember(x, z, torch.stack(h_prev, 1))  # the model, replaying this z, reuses h
        return z

    def smc_proposal(self, context_t, state) -> dist.Distribution:
        """q(z_t | x_{<=t}, z_{<t}) for SMC (zoo.estimators.smc), from the model's context at step t
        (x_t, phi_x(x_t)) and state (h_{t-1},): eq. 9 at one step, batch (R,), event (Z,)."""
        (_, phi_x_t), (h,) = context_t, state
        loc, scale = self.phi_enc(torch.cat([phi_x_t, h], -1))
        return self.flows.distribution(dist.Normal(loc, scale).to_event(1))


class VRNNSmoothing(nn.Module):
    """q(z_t | z_{t-1}, x_{t:T}) = N(mu_t, sigma_t) from the combiner of Krishnan et al. 2017 (DMM):
    g_t = backward GRU over phi_x(x_{t:T}); c_t = (tanh(W z_{t-1} + b) + g_t) / 2; (mu_t, sigma_t) = head(c_t)."""

    def __init__(self, model: nn.Module, hidden_size: int | None = None, flows: int = 0):
        super().__init__()
        object.__setattr__(self, "vrnn", model_for("vrnn_smoothing", "vrnn", model, VRNNLike))  # shared, not owned
        hidden = hidden_size or model.hidden_size
        self.backward_rnn = nn.GRU(model.feature_size, hidden, batch_first=True)
        self.combiner = Combiner(model.z_size, hidden)  # the DMM's combiner: c_t and its Gaussian head
        self.z_0 = nn.Parameter(torch.zeros(model.z_size))  # z_0, learned
        self.flows = IAFStack(model.z_size, flows)  # on every z_t, shared across steps

    def forward(self, batch: Batch):
        phi_x = self.vrnn.features(batch.x)  # (B, T, F)
        g, _ = self.backward_rnn(reverse_padded(phi_x, batch.lengths))
        g = reverse_padded(g, batch.lengths)  # g_t summarises x_{t:T}: (B, T, H)
        z_t = self.z_0.expand(batch.batch_size, -1)
        steps = self.flows.steps()
        for g_t in g.unbind(1):
            z_t = steps.draw(*self.combiner(z_t, g_t))  # the next step reads the flowed z_t
        with pyro.plate("sequences", batch.dataset_size, subsample_size=batch.batch_size):
            return pyro.sample("z", steps.path(batch.mask))
