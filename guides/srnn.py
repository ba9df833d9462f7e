"""Guides for the SRNN's path z_{1:T} (zoo.models.srnn), Fraccaro et al. 2016's inference network.

    a_t = summary of what q may see at step t          smoothing: g_a(a_{t+1}, [d_t, phi_x(x_t)]),
                                                        a backward GRU, a_{T+1} = 0; filtering: an MLP of
                                                        [d_t, phi_x(x_t)]
    (delta_t, sigma_q) = NN_q(z_{t-1}, a_t)
    mu_q  = mu_p(z_{t-1}, d_t) + delta_t                the paper's residual parameterisation ("Resq")
    z_t   ~ N(mu_q, diag sigma_q^2)                     q(z_t | z_{t-1}, a_t), z_0 = 0

Both draw the path step by step and declare it as one site "z": a GaussianPath, or with
`flows=N` a FlowPath whose every z_t goes through N inverse autoregressive flows shared across
time (zoo.nn.flows), the next step reading the flowed z_t. They hold
the model to read d_t, phi_x and mu_p from it; its parameters stay the model's (the guide does
not own them), so with variational weights the guide runs on the drawn weights too.
"""

from __future__ import annotations

from typing import Protocol

import pyro
import pyro.distributions as dist
import torch
from torch import Tensor, nn

from guides.contract import model_for
from zoo.data.batch import Batch
from zoo.nn.flows import IAFStack
from zoo.nn.layers import MLP, MarkovGaussian, on_real_steps
from zoo.nn.ragged_gru import RaggedGRU


class SRNNLike(Protocol):
    """What the SRNN guides read of their model (zoo.models.srnn.SRNN declares it): its sizes,
    the recurrence d_t over x, the transition p(z_t | z_{t-1}, d_t) and z_0."""

    z_size: int
    hidden_size: int  # units of d_t
    feature_size: int  # width of phi_x(x_t) and of the MLPs
    transition: MarkovGaussian

    def recurrence(self, x: Tensor, lengths: Tensor, remember: bool = False) -> tuple[Tensor, Tensor, Tensor]: ...

    def initial_z(self, rows: int, like: Tensor) -> Tensor: ...


class _SRNNGuide(nn.Module):
    """q(z_{1:T} | x) = prod_t N(z_t | mu_p(z_{t-1}, d_t) + delta(z_{t-1}, a_t), sigma_q(z_{t-1}, a_t)),
    with a_t (B, T, A) from `summaries`."""

    name = "srnn guide"

    def __init__(self, model: nn.Module, summary_size: int, flows: int = 0):
        super().__init__()
        object.__setattr__(self, "srnn", model_for(self.name, "srnn", model, SRNNLike))  # shared, not owned
        self.combiner = MarkovGaussian(model.z_size, summary_size, model.feature_size)  # NN_q
        self.flows = IAFStack(model.z_size, flows)  # on every z_t, shared across steps; none: the Gaussian

    def summaries(self, d: Tensor, phi_x: Tensor, lengths: Tensor) -> Tensor:
        """a_t for every t: (B, T, H), (B, T, F) -> (B, T, A)."""
        raise NotImplementedError

    def step(self, z_prev: Tensor, prior_in: Tensor, guide_in: Tensor) -> tuple[Tensor, Tensor]:
        """(mu_q, sigma_q) of q(z_t | z_{t-1}, a_t) from the projected d_t and a_t: (R, Z) x2."""
        delta, scale = self.combiner.step(z_prev, guide_in)
        return self.srnn.transition.mean(z_prev, prior_in) + delta, scale

    def forward(self, batch: Batch) -> Tensor:
        srnn = self.srnn
        # phi_x(x_t) (B, T, F), d_t (B, T, H) and W_d d_t (B, T, F), which the model takes over
        phi_x, d, prior_in = srnn.recurrence(batch.x, batch.lengths, remember=True)
        a = self.summaries(d, phi_x, batch.lengths)  # (B, T, A)
        guide_in = on_real_steps(self.combiner.project, a, lengths=batch.lengths)  # W_a a_t: (B, T, F)
        z_t = srnn.initial_z(batch.batch_size, d)
        steps = self.flows.steps()
        # unbind once: [:, t] in the loop costs a (B, T, .) zero fill per step in backward
        for prior_t, guide_t in zip(prior_in.unbind(1), guide_in.unbind(1)):
            z_t = steps.draw(*self.step(z_t, prior_t, guide_t))  # (B, Z), through the flows if any
        with pyro.plate("sequences", batch.dataset_size, subsample_size=batch.batch_size):
            return pyro.sample("z", steps.path(batch.mask))  # (B, T, Z)


class SRNNSmoothing(_SRNNGuide):
    """q(z_t | z_{t-1}, d_{t:T}, x_{t:T}): a_t = g_a(a_{t+1}, [d_t, phi_x(x_t)]), a backward GRU,
    the posterior's own structure (the paper's smoothing inference network)."""

    name = "srnn_smoothing"

    def __init__(self, model: nn.Module, hidden_size: int | None = None, flows: int = 0):
        summary = hidden_size or model.hidden_size
        super().__init__(model, summary, flows)
        self.backward_rnn = RaggedGRU(model.hidden_size + model.feature_size, summary)  # g_a

    def summaries(self, d: Tensor, phi_x: Tensor, lengths: Tensor) -> Tensor:
        """a_t = g_a(a_{t+1}, [d_t, phi_x(x_t)]) from each sequence's own last step back: a_t reads
        steps t..T_b of its own sequence, (B, T, A), zero past its end."""
        a, _ = self.backward_rnn(torch.cat([d, phi_x], -1), lengths=lengths, reverse=True)
        return a


class SRNNFiltering(_SRNNGuide):
    """q(z_t | z_{t-1}, d_t, x_t): a_t = MLP([d_t, phi_x(x_t)]), no look-ahead (the paper's
    filtering inference network); also the proposal of sequential Monte Carlo."""

    name = "srnn_filtering"

    def __init__(self, model: nn.Module, hidden_size: int | None = None, flows: int = 0):
        summary = hidden_size or model.hidden_size
        super().__init__(model, summary, flows)
        self.encoder = MLP(model.hidden_size + model.feature_size, summary)

    def summaries(self, d: Tensor, phi_x: Tensor, lengths: Tensor | None) -> Tensor:
        """a_t = MLP([d_t, phi_x(x_t)]): (B, T, A) on the real steps of `lengths`, or (R, A) for
        one step (lengths None)."""
        d_phi = torch.cat([d, phi_x], -1)  # (..., H + F)
        return self.encoder(d_phi) if lengths is None else on_real_steps(self.encoder, d_phi, lengths=lengths)

    def smc_proposal(self, context_t, state) -> dist.Distribution:
        """q(z_t | z_{t-1}, d_t, x_t) from the model's context at step t, (d_t, phi_x(x_t), x_t, W_d d_t),
        and state (z_{t-1},): batch (R,), event (Z,)."""
        d_t, phi_x_t, _, prior_in_t = context_t
        (z_prev,) = state
        a_t = self.summaries(d_t, phi_x_t, None)  # (R, A)
        loc, scale = self.step(z_prev, prior_in_t, self.combiner.project(a_t))
        return self.flows.distribution(dist.Normal(loc, scale).to_event(1))
