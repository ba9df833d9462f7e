"""Free bits (Kingma et al. 2016, "Improved variational inference with inverse autoregressive
flow", arXiv 1606.04934): the KL of each latent dimension costs at least lambda
nats, so the optimiser gains nothing by squeezing a dimension's KL below lambda:

    -L_lambda = -E_q[log p(x | z)] + sum_d max(lambda, KL_d),
    KL_d      = (1/B) sum_b KL(q(z_bd | x_b) || p(z_bd))      closed form, averaged over the minibatch

Both terms are scaled to the data set as the ELBO is (the minibatch plate's dataset_size / B).
Written from the model's and the guide's traces, for any model whose latent sites are Normal
(after Independent and plate expansion) in both the model and the guide.
"""

from __future__ import annotations

import math

import pyro.poutine as poutine
from torch import Tensor
from torch.distributions import Independent, Normal, kl_divergence

from zoo.data.batch import Batch
from zoo.errors import ZooError
from zoo.estimators.sites import is_latent


def normal_of(fn, name: str, side: str) -> Normal:
    """The elementwise Normal behind a site's distribution (Independent wrappers removed)."""
    while isinstance(fn, Independent):
        fn = fn.base_dist
    if not isinstance(fn, Normal):
        raise ZooError(
            f"objective.free_bits needs Normal latent sites in model and guide; the {side}'s site "
            f"{name!r} is {type(fn).__name__}: use objective.free_bits=0"
        )
    return fn


def latent_sites(trace) -> dict:
    return {name: site for name, site in trace.nodes.items() if is_latent(site)}


def kl_per_dimension(model_site: dict, guide_site: dict, name: str) -> tuple[Tensor, int]:
    """(KL_d for every latent dimension d of a site, averaged over the site's plates; the number
    of plate elements averaged). A site of batch (B,) and event (Z,) gives ((Z,), B)."""
    q = normal_of(guide_site["fn"], name, "guide")
    p = normal_of(model_site["fn"], name, "model")
    kl = kl_divergence(q, p)  # batch shape + event shape of the site, e.g. (B, Z)
    batch_dims = len(guide_site["fn"].batch_shape)
    plate_dims = [batch_dims + f.dim for f in guide_site["cond_indep_stack"] if f.vectorized and f.dim is not None]
    if not plate_dims:
        return kl, 1
    return kl.mean(plate_dims), math.prod(kl.shape[d] for d in plate_dims)


def clamped_kl(model_trace, guide_trace, free_bits: float) -> Tensor:
    """sum over latent sites of scale * B * sum_d max(lambda, KL_d): the KL term of -L_lambda.
    With lambda = 0 it is the closed-form KL of the ELBO."""
    total = 0.0
    guide_sites = latent_sites(guide_trace)
    for name, model_site in latent_sites(model_trace).items():
        if name not in guide_sites:
            raise ZooError(f"objective.free_bits: the model's latent site {name!r} is not sampled by the guide")
        kl_d, elements = kl_per_dimension(model_site, guide_sites[name], name)
        total = total + guide_sites[name]["scale"] * elements * kl_d.clamp(min=free_bits).sum()
    return total


def log_likelihood(model_trace) -> Tensor:
    """sum of the observed sites' log-densities, with their plate scaling and masks."""
    model_trace.compute_log_prob(site_filter=lambda name, site: site["is_observed"])
    return sum(
        site["log_prob_sum"] for site in model_trace.nodes.values() if site["type"] == "sample" and site["is_observed"]
    )


def free_bits_loss(model, guide, batch: Batch, free_bits: float, beta: float = 1.0, num_particles: int = 1) -> Tensor:
    """-L_lambda with the KL term weighted by beta (KL annealing), averaged over num_particles draws."""
    loss = 0.0
    for _ in range(num_particles):
        guide_trace = poutine.trace(guide).get_trace(batch)
        model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(batch)
        loss = loss - log_likelihood(model_trace) + beta * clamped_kl(model_trace, guide_trace, free_bits)
    return loss / num_particles
