"""Guides over a model's weight sites `w.*` (zoo.models.bayesian_weights).

The Gaussian guides (mean field, low rank) read the sites and their initial values from
`model.weight_sites` and start with their means at the network's usual initialisation (or, with
`train.init` naming a deterministic network's run, at its trained weights) and a small spread
sigma = softplus(rho):

    rho_i = softplus^-1(s)                       init_scale = s: every sigma_i starts at s
    rho_i ~ U[softplus^-1(a), softplus^-1(b)]    init_scale = [a, b]: sigma_i in [a, b], drawn per weight

The range is Fortunato et al. 2017's initialisation (arXiv 1704.02798; their open-source
Penn Treebank code draws rho uniformly between softplus^-1 of sigma_p / 4 and sigma_p / 2 for
the LSTM's weights and of sigma_p / 2 and sigma_p for the others, sigma_p the prior's standard
deviation, sqrt(pi sigma_1^2 + (1 - pi) sigma_2^2) for the scale mixture).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from torch import Tensor, nn
from torch.nn.functional import softplus

from zoo.errors import ZooError
from zoo.models.bayesian_weights import has_weight_latents


def _inverse_softplus(y: float) -> float:
    """rho with softplus(rho) = y > 0."""
    return float(torch.log(torch.expm1(torch.tensor(y))))


def scale_range(init_scale: float | Sequence[float]) -> tuple[float, float]:
    """(a, b) with 0 < a <= b from a number s (a = b = s) or a range [a, b]; else a ZooError naming
    weight_guide.init_scale."""
    if isinstance(init_scale, (int, float)) and not isinstance(init_scale, bool):
        values = [init_scale, init_scale]
    else:
        values = list(init_scale) if isinstance(init_scale, Sequence) and not isinstance(init_scale, str) else []
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if len(values) != 2 or not numbers or not 0 < values[0] <= values[1] < math.inf:
        raise ZooError(
            f"weight_guide.init_scale={init_scale} must be a positive number or a range [a, b] with 0 < a <= b "
            "(the initial spread sigma of q)"
        )
    return float(values[0]), float(values[1])


def initial_rho(init_scale: float | Sequence[float], like: Tensor) -> Tensor:
    """rho shaped as `like` with softplus(rho) = init_scale, or drawn uniformly between
    softplus^-1(a) and softplus^-1(b) for a range [a, b] (Fortunato et al. 2017)."""
    low, high = scale_range(init_scale)
    if low == high:
        return torch.full_like(like, _inverse_softplus(low))
    return torch.empty_like(like).uniform_(_inverse_softplus(low), _inverse_softplus(high))


class WeightGuide(nn.Module):
    """One site per weight tensor j of a model with weight latents, with means mu_j that start
    at the network's initial values: what every q(w) of the zoo shares."""

    def __init__(self, model: nn.Module):
        super().__init__()
        if not has_weight_latents(model):
            raise ZooError(
                f"{type(self).__name__} is a guide of weight sites w.*, but {type(model).__name__} has none: "
                "set model.bayesian_weights=true (model=bayes_lstm does)"
            )
        sites = model.weight_sites
        self.names = list(sites)
        self.loc = nn.ParameterList([nn.Parameter(w.clone()) for w in sites.values()])

    def distribution(self, j: int, batch_shape: tuple[int, ...] = ()) -> dist.Distribution:
        """q(w_j) of the flat weight tensor j (event shape (numel,)); with batch_shape (K,), K
        independent draws of it."""
        raise NotImplementedError

    def forward(self, batch=None, draws: int = 1) -> dict[str, Tensor]:
        """w ~ q(w): {site: (numel,)}; with draws = K > 1, K independent draws {site: (K, numel)}
        in the plate `draws` weighted 1 / K, as the model's K draws of a training minibatch are
        (zoo.models.bayesian_weights)."""
        if draws == 1:
            return {name: pyro.sample(name, self.distribution(j)) for j, name in enumerate(self.names)}
        with pyro.plate("draws", draws), poutine.scale(scale=1 / draws):
            return {name: pyro.sample(name, self.distribution(j, (draws,))) for j, name in enumerate(self.names)}

    @torch.no_grad()
    def start_means_at(self, weights: dict[str, Tensor]) -> None:
        """mu_j <- the flat weight tensor of each site in `weights` (a trained network's, keyed
        by site): q(w) centred on that network, its spreads unchanged."""
        for name, mu in zip(self.names, self.loc):
            mu.copy_(weights[name])

    def posterior_mean(self) -> dict[str, Tensor]:
        """E_q[w] = mu_j of every site, keyed by site: the weights of the plug-in network (for the
        sharpened guide the mean of q(phi), which is also the mean of theta where no minibatch
        sharpens it, as in held-out figures)."""
        return dict(zip(self.names, self.loc))


class _GaussianWeightGuide(WeightGuide):
    """Means mu_j and spreads sigma_j = softplus(rho_j), starting at `init_scale`."""

    def __init__(self, model: nn.Module, init_scale: float | Sequence[float]):
        scale_range(init_scale)  # refused before anything is built
        super().__init__(model)
        self.rho = nn.ParameterList([nn.Parameter(initial_rho(init_scale, mu.detach())) for mu in self.loc])


class MeanFieldWeights(_GaussianWeightGuide):
    """q(w) = prod_i N(w_i | mu_i, sigma_i^2), sigma_i = softplus(rho_i): Graves 2011's
    "adaptive weight noise", trained by the reparameterisation of Blundell et al. 2015."""

    def __init__(self, model: nn.Module, init_scale: float | Sequence[float] = 1e-3):
        super().__init__(model, init_scale)

    def distribution(self, j: int, batch_shape: tuple[int, ...] = ()) -> dist.Distribution:
        return dist.Normal(self.loc[j], softplus(self.rho[j])).to_event(1).expand(batch_shape)


class LowRankWeights(_GaussianWeightGuide):
    """q(w_j) = N(mu_j, F_j F_j^T + diag(sigma_j^2)) for each weight tensor j, with a
    rank-r factor F_j: correlations within a tensor, independence across tensors."""

    def __init__(self, model: nn.Module, rank: int = 4, init_scale: float | Sequence[float] = 1e-3):
        super().__init__(model, init_scale)
        spread = sum(scale_range(init_scale)) / 2  # the middle of a range
        self.factor = nn.ParameterList(
            [nn.Parameter(spread * torch.randn(len(mu), rank) / rank**0.5) for mu in self.loc]
        )

    def distribution(self, j: int, batch_shape: tuple[int, ...] = ()) -> dist.Distribution:
        q = dist.LowRankMultivariateNormal(self.loc[j], self.factor[j], softplus(self.rho[j]) ** 2)
        return q.expand(batch_shape)
