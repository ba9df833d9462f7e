"""Per-sequence importance weights and the IWAE bound, for any model/guide pair.

    log w_k(x) = log p(x, z_k) - log q(z_k | x),   z_k ~ q(z | x),  k = 1..K
    IWAE-K(x)  = log (1/K) sum_k w_k(x)  <=  log p(x)          (Burda et al. 2015)
    ELBO(x)    = (1/K) sum_k log w_k(x)  <=  IWAE-K(x)

Every sequence gets its own bound (Pyro's RenyiELBO bounds a whole minibatch at once). The
K particles are drawn by tiling the batch, `chunk` copies at a time, so memory stays bounded
whatever K is.
"""

from __future__ import annotations

import math

import pyro.poutine as poutine
import torch
from pyro.poutine.util import site_is_subsample
from torch import Tensor

from zoo.data.batch import Batch


def log_weights(model, guide, batch: Batch, num_particles: int) -> Tensor:
    """log w_k(x_b) for k < num_particles, b < B: (K, B). Differentiable."""
    tiled = batch.tile(num_particles)
    guide_trace = poutine.trace(guide).get_trace(tiled)
    model_trace = poutine.trace(poutine.replay(model, trace=guide_trace)).get_trace(tiled)
    log_w = tiled.x.new_zeros(tiled.batch_size, dtype=torch.get_default_dtype())
    for trace, sign in ((model_trace, 1.0), (guide_trace, -1.0)):
        for site in trace.nodes.values():
            if site["type"] == "sample" and not site_is_subsample(site):
                log_w = log_w + sign * site["fn"].log_prob(site["value"])  # (K * B,) or () for global sites
    return log_w.reshape(num_particles, batch.batch_size)


def chunked_log_weights(model, guide, batch: Batch, num_particles: int, chunk: int) -> Tensor:
    """log_weights with the K particles drawn `chunk` at a time: (K, B)."""
    return torch.cat(
        [log_weights(model, guide, batch, min(chunk, num_particles - done)) for done in range(0, num_particles, chunk)]
    )


def iwae_bound(log_w: Tensor) -> Tensor:
    """log (1/K) sum_k w_k per sequence: (K, B) -> (B,)."""
    return torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])
