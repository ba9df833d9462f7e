"""A distribution over a whole path z_{1:T} of diagonal Gaussian steps, built step by step.

Sequential guides draw z_t ~ N(loc_t, scale_t) where (loc_t, scale_t) depend on z_{<t}.
They run that loop themselves and declare the drawn path as one sample site with this
distribution, so Pyro sees one site per sequence instead of one per step:

    log q(z_{1:T}) = sum_t mask_t sum_d log N(z_td | loc_td, scale_td)

The path is reparameterised (its graph runs through every eps_t), so gradients of the
ELBO flow through it. It is only ever scored at its own drawn value.
"""

from __future__ import annotations

import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from torch import Tensor


class GaussianPath(dist.TorchDistribution):
    """batch shape (B,), event shape (T, Z)."""

    arg_constraints = {}
    support = constraints.independent(constraints.real, 2)
    has_rsample = True

    def __init__(self, z: Tensor, loc: Tensor, scale: Tensor, mask: Tensor):
        self.z, self.loc, self.scale, self.mask = z, loc, scale, mask  # (B, T, Z) x3, (B, T)
        super().__init__(z.shape[:1], z.shape[1:], validate_args=False)

    def expand(self, batch_shape, _instance=None):
        """A plate of the path's own batch size leaves it as it is (no wrapper, so the drawn
        path keeps its identity through Pyro's replay)."""
        if torch.Size(batch_shape) != self.batch_shape:
            raise NotImplementedError(f"a path of batch {tuple(self.batch_shape)} cannot expand to {tuple(batch_shape)}")
        return self

    def rsample(self, sample_shape=torch.Size()) -> Tensor:
        if sample_shape:
            raise NotImplementedError("a GaussianPath holds one drawn path; draw more by running the guide again")
        return self.z

    def log_prob(self, value: Tensor) -> Tensor:
        step = dist.Normal(self.loc, self.scale).log_prob(value).sum(-1)  # (B, T)
        return (step * self.mask).sum(-1)  # (B,)
