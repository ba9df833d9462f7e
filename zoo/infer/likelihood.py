"""Held-out log-likelihood figures, each with its unit and its kind.

Per-step figures are sums over the sequences of a split divided by its number of steps
(characters or frames); bits are nats / ln 2.

exact                  log p(x) of a model with no latent variables (char_lstm).
-ELBO                  for weight-latent models: E_q[-log p(x | w)] per step plus
                       KL(q(w) || p(w)) shared over the training steps, i.e. the training
                       objective per step evaluated on held-out data.
posterior predictive   -sum_i log (1/S) sum_s p(x_i | w_s), w_s ~ q(w): each held-out
                       sequence i predicted by the average of S weight draws.
-ELBO, -IWAE-K         for per-sequence latents (vrnn): each sequence's own bounds,
                       -ELBO <= ... and IWAE-K <= log p(x) (zoo.infer.importance).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import pyro.poutine as poutine
import torch
from torch.distributions import kl_divergence

from zoo.data.dataset import SequenceData
from zoo.infer.importance import sequence_bounds


@dataclass
class Figure:
    """One negative log-likelihood on a split."""

    kind: str  # "exact", "-ELBO", "posterior predictive (S=10)"
    nats_per_step: float
    num_steps: int
    num_sequences: int

    @property
    def bits_per_step(self) -> float:
        return self.nats_per_step / math.log(2)

    @property
    def nats_per_sequence(self) -> float:
        return self.nats_per_step * self.num_steps / self.num_sequences

    def as_dict(self) -> dict:
        return {**asdict(self), "bits_per_step": self.bits_per_step, "nats_per_sequence": self.nats_per_sequence}


def _log_likelihoods(log_prob, data: SequenceData, split: str, batch_size: int, device, limit=None) -> torch.Tensor:
    """log p(x_i) for every sequence i of the split, (N,), from log_prob(batch) -> (B,)."""
    out = [log_prob(b.to(device)).double().cpu() for b in data.batches(split, batch_size, limit=limit)]
    return torch.cat(out)


def _steps(data: SequenceData, split: str, limit=None) -> tuple[int, int]:
    seqs = data.split(split)[:limit] if limit else data.split(split)
    return sum(len(s) for s in seqs), len(seqs)


@torch.no_grad()
def exact_nll(model, data: SequenceData, split: str, batch_size: int = 256, device="cpu", limit=None) -> Figure:
    """-log p(x) per step for a model with an exact `log_prob`."""
    log_p = _log_likelihoods(model.log_prob, data, split, batch_size, device, limit)
    steps, n = _steps(data, split, limit)
    return Figure("exact", float(-log_p.sum()) / steps, steps, n)


@torch.no_grad()
def weight_kl(model, guide) -> float:
    """KL(q(w) || p(w)) in nats: in closed form where torch has it, else a Monte Carlo
    estimate from one draw of w."""
    guide_trace = poutine.trace(guide).get_trace()
    total = 0.0
    for name, site in guide_trace.nodes.items():
        if site["type"] != "sample":
            continue
        q = site["fn"]
        p = model.weight_prior(site["value"].shape[-1], site["value"].device)
        try:
            total += float(kl_divergence(q, p))
        except NotImplementedError:
            total += float(q.log_prob(site["value"]) - p.log_prob(site["value"]))
    return total


@torch.no_grad()
def weight_posterior_nll(
    model, guide, data: SequenceData, split: str, num_samples: int = 10, train_steps: int | None = None,
    batch_size: int = 256, device="cpu", limit=None,
) -> list[Figure]:
    """-ELBO and posterior predictive NLL per step of a model p(w) p(x | w) under guide q(w)."""
    log_p = []  # (S, N): log p(x_i | w_s)
    for _ in range(num_samples):
        weights = guide()
        log_p.append(_log_likelihoods(lambda b: model.log_prob(b, weights), data, split, batch_size, device, limit))
    log_p = torch.stack(log_p)
    steps, n = _steps(data, split, limit)
    expected_nll = float(-log_p.sum(1).mean()) / steps
    kl_per_step = weight_kl(model, guide) / (train_steps or data.num_steps("train"))
    predictive = -(torch.logsumexp(log_p, 0) - math.log(num_samples)).sum()
    return [
        Figure("-ELBO", expected_nll + kl_per_step, steps, n),
        Figure(f"posterior predictive (S={num_samples})", float(predictive) / steps, steps, n),
    ]


@torch.no_grad()
def latent_nll(
    model, guide, data: SequenceData, split: str, num_particles: int = 100, batch_size: int = 256,
    device="cpu", limit=None, max_rows: int = 4096,
) -> list[Figure]:
    """-ELBO and -IWAE-K per step of a model with per-sequence latents, each sequence bounded
    with its own K particles, drawn max_rows sequence-particles at a time."""
    elbo, iwae = [], []
    for batch in data.batches(split, batch_size, limit=limit):
        chunk = max(1, max_rows // batch.batch_size)
        e, i = sequence_bounds(model, guide, batch.to(device), num_particles, chunk)
        elbo.append(e.cpu())
        iwae.append(i.cpu())
    steps, n = _steps(data, split, limit)
    figures = [Figure("-ELBO", float(-torch.cat(elbo).sum()) / steps, steps, n)]
    if num_particles > 1:
        figures.append(Figure(f"-IWAE (K={num_particles})", float(-torch.cat(iwae).sum()) / steps, steps, n))
    return figures


def held_out_figures(
    model, guide, data: SequenceData, split: str, num_samples: int = 10, num_particles: int = 100,
    train_steps: int | None = None, **kw,
) -> list[Figure]:
    """Every figure this model has on a split; the first is the one to select models by.

    Weight latents: -ELBO and posterior predictive with S = num_samples weight draws.
    Per-sequence latents: -ELBO and IWAE-K with K = num_particles.
    No latents: the exact NLL."""
    if hasattr(model, "weight_sites"):
        return weight_posterior_nll(model, guide, data, split, num_samples, train_steps, **kw)
    if hasattr(model, "log_prob"):
        return [exact_nll(model, data, split, **kw)]
    return latent_nll(model, guide, data, split, num_particles, **kw)
