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
from torch.distributions import kl_divergence, register_kl


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
            raise NotImplementedError(
                f"a path of batch {tuple(self.batch_shape)} cannot expand to {tuple(batch_shape)}"
            )
        return self

    def rsample(self, sample_shape=torch.Size()) -> Tensor:
        if sample_shape:
            raise NotImplementedError("a GaussianPath holds one drawn path; draw more by running the guide again")
        return self.z

    def log_prob(self, value: Tensor) -> Tensor:
        step = dist.Normal(self.loc, self.scale).log_prob(value).sum(-1)  # (B, T)
        return (step * self.mask).sum(-1)  # (B,)


class PathPrior(dist.TorchDistribution):
    """A model's prior over a whole path, p(z_{1:T} | .) = prod_t N(z_t | loc_t, scale_t), with
    (loc_t, scale_t) depending on the path itself (z_{t-1}, or a state run along it). A model
    subclasses it with `params(z)`, the (B, T, Z) loc and scale of every step along a path z;
    steps past a sequence's length are masked out. Batch (B,), event (T, Z).

    Against a GaussianPath guide its KL is taken in closed form per step along the guide's
    drawn path (the analytic KL terms of the VRNN, SRNN and DMM papers)."""

    arg_constraints = {}
    support = constraints.independent(constraints.real, 2)
    has_rsample = True
    expand = GaussianPath.expand

    def __init__(self, mask: Tensor, z_size: int):
        self.mask = mask  # (B, T)
        B, T = mask.shape
        super().__init__(torch.Size([B]), torch.Size([T, z_size]), validate_args=False)

    def params(self, z: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def log_prob(self, z: Tensor) -> Tensor:
        loc, scale = self.params(z)
        step = dist.Normal(loc, scale).log_prob(z).sum(-1)  # (B, T)
        return (step * self.mask).sum(-1)  # (B,)


@register_kl(GaussianPath, PathPrior)
def _kl_path_prior(q: GaussianPath, p: PathPrior) -> Tensor:
    """sum_t KL(q(z_t | .) || p(z_t | .)) in closed form per step, along q's drawn path."""
    loc, scale = p.params(q.z)
    step = kl_divergence(dist.Normal(q.loc, q.scale), dist.Normal(loc, scale)).sum(-1)  # (B, T)
    return (step * q.mask).sum(-1)


class PathSteps:
    """A Gaussian path drawn step by step by a guide's own loop, then declared as one site:

    steps = PathSteps()                       # or flows.steps() (zoo.nn.flows) for a flowed path
    for t in range(T):
        loc, scale = ...                      # from z_{<t} and x
        z_t = steps.draw(loc, scale)          # z_t = loc + scale * eps_t, eps_t ~ N(0, I): (B, Z)
    z = pyro.sample("z", steps.path(mask))    # GaussianPath, (B, T, Z)
    """

    def __init__(self):
        self.zs, self.locs, self.scales = [], [], []

    def draw(self, loc: Tensor, scale: Tensor) -> Tensor:
        """z_t ~ N(loc, scale), reparameterised: (B, Z) x2 -> (B, Z)."""
        z_t = loc + scale * torch.randn_like(loc)
        self.zs.append(z_t)
        self.locs.append(loc)
        self.scales.append(scale)
        return z_t

    def path(self, mask: Tensor) -> GaussianPath:
        """The drawn path as one distribution: batch (B,), event (T, Z)."""
        stack = [torch.stack(steps, 1) for steps in (self.zs, self.locs, self.scales)]  # (B, T, Z) x3
        return GaussianPath(*stack, mask)
