"""Sequential Monte Carlo over a state-space model's latent chain, one step at a time.

What a model and its filtering guide provide (as Pyro's SMCFilter asks for init and step):

    model.smc_init(batch) -> (context, state)
        context: what depends on x alone (features, a deterministic RNN over x): a tuple of
                 (B, T, ...) tensors, one row per sequence, computed once for all K particles
                 and never resampled;
        state:   the latent chain's state before step 1 (h_0, z_0): a tuple of (B, ...)
                 tensors, copied to every particle and gathered when particles are resampled.
    model.smc_step(context_t, state, z_t) -> (log p(z_t | past), log p(x_t | z_t, past), state')
        context_t: each context tensor at step t, one row per particle (R, ...); each
        log-probability (R,), not masked: the estimator masks steps past each length.
    guide.smc_proposal(context_t, state) -> q(z_t | past, x), batch (R,), event (Z,)

Particle rows follow Batch.tile: row j * B + b is particle j of sequence b, R = K * B. The
context stays one row per sequence, so in evaluation (no gradients kept) memory grows with K
times one step, not K times the whole sequence. `SMCModel` and `SMCProposal` state the contract as Protocols.
"""

from __future__ import annotations

import math
from typing import Protocol

import torch
from torch import Tensor
from torch.distributions import Distribution

from zoo.contracts import provides
from zoo.data.batch import Batch
from zoo.errors import ZooError

RESAMPLING = ("multinomial", "none")


class SMCModel(Protocol):
    """A state-space model's factors one step at a time (see the module's docstring)."""

    def smc_init(self, batch: Batch) -> tuple[tuple, tuple]: ...

    def smc_step(self, context_t: tuple, state: tuple, z_t: Tensor) -> tuple[Tensor, Tensor, tuple]: ...


class SMCProposal(Protocol):
    """A filtering guide's proposal q(z_t | past, x) one step at a time."""

    def smc_proposal(self, context_t: tuple, state: tuple) -> Distribution: ...


def supports_smc(model, guide) -> bool:
    """Whether SMC can run `model` with proposals from `guide`, one step at a time."""
    return provides(model, SMCModel) and provides(guide, SMCProposal)


def check_smc(model, guide, option: str = "objective=fivo") -> None:
    """A ZooError saying why SMC cannot run this pair: a model without step-by-step factors, or a
    guide that draws the path as a whole (a smoothing guide reads x_{t:T}) rather than proposing
    each z_t from the past."""
    if not provides(model, SMCModel):
        raise ZooError(
            f"{option} runs the latent chain step by step; model {type(model).__name__} has no "
            "step-by-step factors (smc_init, smc_step): use model=vrnn, srnn or dmm"
        )
    if not provides(guide, SMCProposal):
        raise ZooError(
            f"{option} resamples particles step by step, so it needs a guide that proposes each z_t "
            f"from the past and x_{{<=t}}; guide {type(guide).__name__} draws the whole path at once "
            "(a smoothing guide looks ahead at x_{t:T}): use a filtering guide (guide=vrnn_filtering "
            "or srnn_filtering)"
        )


def repeat_for_particles(rows: Tensor, k: int) -> Tensor:
    """k copies of one row per sequence, copy-major as Batch.tile: (B, ...) -> (k * B, ...)."""
    return rows.repeat(k, *([1] * (rows.dim() - 1)))


def effective_sample_size(log_w: Tensor) -> Tensor:
    """1 / sum_k wbar_k^2 of the normalised weights of each column: (K, B) -> (B,)."""
    w = torch.softmax(log_w, 0)
    return 1.0 / (w * w).sum(0)


def resample(log_w: Tensor, chosen: Tensor) -> Tensor:
    """Row indices of the ancestors of every particle after multinomial resampling of the
    sequences `chosen` (B,) bool; the other sequences keep their own particles. Particles of
    one sequence only ever descend from particles of that sequence: (K, B) -> (K * B,)."""
    K, B = log_w.shape
    own = torch.arange(K, device=log_w.device)[:, None].expand(K, B)  # (K, B)
    if chosen.any():
        weights = torch.softmax(log_w.detach()[:, chosen], 0).T  # (B', K)
        drawn = torch.multinomial(weights, K, replacement=True).T  # (K, B')
        own = own.clone()
        own[:, chosen] = drawn
    return (own * B + torch.arange(B, device=log_w.device)).reshape(-1)  # row j * B + b


def smc_log_marginal(
    model, guide, batch: Batch, num_particles: int, resampling: str = "multinomial", ess_threshold: float = 0.5
) -> Tensor:
    """log p_hat(x_b) of each sequence from K particles (B,): the log of the product over
    resampling epochs of the mean weight, an unbiased estimate of p(x_b) whose log bounds
    log p(x_b) from below in expectation (FIVO: Maddison et al. 2017, Le et al. 2018,
    Naesseth et al. 2018). A sequence's particles are resampled when their effective sample
    size falls below ess_threshold * K, never past its last step. Differentiable, except
    through the choice of ancestors."""
    if resampling not in RESAMPLING:
        raise ZooError(f"resampling={resampling!r} is not one of {RESAMPLING}")
    K, B, T = num_particles, batch.batch_size, batch.mask.shape[1]
    context, state = model.smc_init(batch)  # (B, T, ...) and (B, ...)
    state = tuple(repeat_for_particles(s, K) for s in state)  # (K * B, ...)
    mask = batch.mask.to(torch.get_default_dtype())  # (B, T)
    log_w = mask.new_zeros(K, B)  # log weights since the last resampling
    log_p_hat = mask.new_zeros(B)
    # the context step by step, unbound once: c[:, t] would zero-fill a (B, T, .) tensor per step in backward
    steps = list(zip(*(c.unbind(1) for c in context)))
    for t in range(T):
        context_t = tuple(repeat_for_particles(c, K) for c in steps[t])  # (K * B, ...)
        q = guide.smc_proposal(context_t, state)
        z_t = q.rsample()  # (K * B, Z)
        log_p_z, log_p_x, state = model.smc_step(context_t, state, z_t)
        increment = (log_p_z + log_p_x - q.log_prob(z_t)).reshape(K, B)
        log_w = log_w + increment * mask[:, t]
        if resampling == "none" or t == T - 1:
            continue
        chosen = (effective_sample_size(log_w) < ess_threshold * K) & (batch.lengths.to(mask.device) > t + 1)
        if chosen.any():
            rows = resample(log_w, chosen)
            state = tuple(s[rows] for s in state)
            log_mean = torch.logsumexp(log_w, 0) - math.log(K)  # (B,)
            log_p_hat = log_p_hat + torch.where(chosen, log_mean, torch.zeros_like(log_mean))
            log_w = torch.where(chosen, torch.zeros_like(log_w), log_w)
    return log_p_hat + torch.logsumexp(log_w, 0) - math.log(K)
