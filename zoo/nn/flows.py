"""Normalising flows on the steps of a Gaussian path guide: inverse autoregressive flows
(Kingma et al. 2016, "Improved variational inference with inverse autoregressive flow",
arXiv 1606.04934), one stack shared by every step, as in Pyro's Deep Markov Model example.

    eps_t ~ N(loc_t, diag scale_t^2)                          the guide's Gaussian step
    z_t   = f_N(... f_1(eps_t))                               f_k(u) = mu_k(u) + sigma_k(u) * u, autoregressive
    log q(z_t | .) = log N(eps_t | loc_t, scale_t) - sum_k log |det df_k/du|

and the next step of the guide conditions on the flowed z_t. The path z_{1:T} stays one
sample site (a FlowPath). A guide adopts flows with one change to its loop: it draws each
step through `steps = flows.steps()`,

    z_t = steps.draw(loc, scale)          # instead of loc + scale * torch.randn_like(loc)
    ...
    pyro.sample("z", steps.path(mask))    # a GaussianPath with no flows, else a FlowPath

With zero flows `steps()` is zoo.nn.gaussian_path.PathSteps, so the guide is exactly the
plain Gaussian one (same draws, same GaussianPath, its closed-form KL still registered).
A flowed path has no closed-form KL: under objective=elbo_analytic_kl Pyro's
TraceMeanField_ELBO finds none registered for FlowPath and estimates the KL by Monte Carlo.
"""

from __future__ import annotations

import pyro.distributions as dist
import torch
from pyro.distributions import constraints
from pyro.distributions.transforms import AffineAutoregressive
from pyro.nn import AutoRegressiveNN
from torch import Tensor, nn

from zoo.errors import ZooError
from zoo.nn.gaussian_path import GaussianPath, PathSteps


class IAFStack(nn.Module):
    """z = f_N o ... o f_1 (u), each f_k an affine autoregressive transform
    (pyro.distributions.transforms.AffineAutoregressive over an AutoRegressiveNN with one hidden
    layer, its own random order of the dimensions). No flows: the identity."""

    def __init__(self, z_size: int, num_flows: int = 0, hidden_size: int | None = None):
        super().__init__()
        if num_flows < 0:
            raise ZooError(f"guide.flows={num_flows} must be at least 0 (inverse autoregressive flows per step)")
        hidden = hidden_size or 3 * z_size + 1  # Pyro's affine_autoregressive default
        self.transforms = nn.ModuleList(
            AffineAutoregressive(AutoRegressiveNN(z_size, [hidden])) for _ in range(num_flows)
        )

    @property
    def num_flows(self) -> int:
        return len(self.transforms)

    def forward(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """(z, sum_k log |det df_k/du|): (R, Z) -> (R, Z), (R,)."""
        log_det = u.new_zeros(u.shape[:-1])
        for f in self.transforms:
            z = f(u)
            log_det = log_det + f.log_abs_det_jacobian(u, z)  # right after f(u): its own cache
            u = z
        return u, log_det

    def inverse(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """(u, sum_k log |det df_k/du|) with f(u) = z, inverting each flow one dimension at a
        time (Z network passes per flow): (R, Z) -> (R, Z), (R,)."""
        log_det = z.new_zeros(z.shape[:-1])
        for f in reversed(self.transforms):
            u = f.inv(z)
            log_det = log_det + f.log_abs_det_jacobian(u, z)
            z = u
        return z, log_det

    def steps(self) -> PathSteps:
        """A recorder for one path: plain Gaussian steps without flows, flowed steps with them."""
        return FlowSteps(self) if self.num_flows else PathSteps()

    def distribution(self, base: dist.Distribution) -> dist.Distribution:
        """One step's q(z_t | .) for code that scores steps one at a time (SMC proposals):
        base itself without flows, else the flows pushed over it. Event shape (Z,)."""
        return dist.TransformedDistribution(base, list(self.transforms)) if self.num_flows else base


class FlowSteps(PathSteps):
    """PathSteps whose draws go through the flows: z_t = flows(eps_t), eps_t ~ N(loc_t, scale_t)."""

    def __init__(self, flows: IAFStack):
        super().__init__()
        self.flows, self.eps, self.log_dets = flows, [], []

    def draw(self, loc: Tensor, scale: Tensor) -> Tensor:
        """The flowed z_t: (B, Z) x2 -> (B, Z)."""
        eps = loc + scale * torch.randn_like(loc)
        z_t, log_det = self.flows(eps)
        self.zs.append(z_t)
        self.eps.append(eps)
        self.log_dets.append(log_det)
        self.locs.append(loc)
        self.scales.append(scale)
        return z_t

    def path(self, mask: Tensor) -> FlowPath:
        return FlowPath(
            torch.stack(self.zs, 1),
            torch.stack(self.eps, 1),
            torch.stack(self.log_dets, 1),
            torch.stack(self.locs, 1),
            torch.stack(self.scales, 1),
            mask,
            self.flows,
        )


class FlowPath(dist.TorchDistribution):
    """q(z_{1:T}) = prod_t mask_t [N(eps_t | loc_t, scale_t) / |det dz_t/deps_t|], z_t = flows(eps_t).
    Batch shape (B,), event shape (T, Z). Not a GaussianPath: no closed-form KL applies to it."""

    arg_constraints = {}
    support = constraints.independent(constraints.real, 2)
    has_rsample = True

    def __init__(
        self, z: Tensor, eps: Tensor, log_det: Tensor, loc: Tensor, scale: Tensor, mask: Tensor, flows: IAFStack
    ):
        self.z, self.eps, self.log_det = z, eps, log_det  # (B, T, Z) x2, (B, T)
        self.loc, self.scale, self.mask, self.flows = loc, scale, mask, flows  # (B, T, Z) x2, (B, T)
        super().__init__(z.shape[:1], z.shape[1:], validate_args=False)

    expand = GaussianPath.expand

    def rsample(self, sample_shape=torch.Size()) -> Tensor:
        if sample_shape:
            raise NotImplementedError("a FlowPath holds one drawn path; draw more by running the guide again")
        return self.z

    def log_prob(self, value: Tensor) -> Tensor:
        """At the drawn path, from the recorded eps and log-determinants; elsewhere by inverting
        the flows (slow: Z network passes per flow and step)."""
        if value is self.z:
            eps, log_det = self.eps, self.log_det
        else:
            B, T, Z = value.shape
            eps, log_det = self.flows.inverse(value.reshape(B * T, Z))
            eps, log_det = eps.reshape(B, T, Z), log_det.reshape(B, T)
        step = dist.Normal(self.loc, self.scale).log_prob(eps).sum(-1) - log_det  # (B, T)
        return (step * self.mask).sum(-1)  # (B,)
