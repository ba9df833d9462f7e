"""Guides over a model's weight sites `w.*` (zoo.models.bayesian_weights).

Both read the sites and their initial values from `model.weight_sites` and start with
their means at the network's usual initialisation and a small spread.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from torch import Tensor, nn
from torch.nn.functional import softplus
from zoo.errors import ZooError


def _inverse_softplus(y: float) -> float:
    return float(torch.log(torch.expm1(torch.tensor(y))))


class _WeightGuide(nn.Module):
    """One site per weight tensor j, with means mu_j and spreads sigma_j = softplus(rho_j)."""

    def __init__(self, model: nn.Module, init_scale: float):
        super().__init__()
        if not hasattr(model, "weight_sites"):
            raise ZooError(
                f"{type(self).__name__} is a guide of weight sites w.*, but {type(model).__name__} has none: "
                "set model.bayesian_weights=true (model=bayes_lstm does)"
            )
        sites = model.weight_sites
        self.names = list(sites)
        self.loc = nn.ParameterList([nn.Parameter(w.clone()) for w in sites.values()])
        rho = _inverse_softplus(init_scale)
        self.rho = nn.ParameterList([nn.Parameter(torch.full_like(w, rho)) for w in sites.values()])

    def distribution(self, j: int) -> dist.Distribution:
        raise NotImplementedError

    def forward(self, batch=None) -> dict[str, Tensor]:
        return {name: pyro.sample(name, self.distribution(j)) for j, name in enumerate(self.names)}


class MeanFieldWeights(_WeightGuide):
    """q(w) = prod_i N(w_i | mu_i, sigma_i^2), sigma_i = softplus(rho_i): Graves 2011's
    "adaptive weight noise", trained by the reparameterisation of Blundell et al. 2015."""

    def __init__(self, model: nn.Module, init_scale: float = 1e-3):
        super().__init__(model, init_scale)

    def distribution(self, j: int) -> dist.Distribution:
        return dist.Normal(self.loc[j], softplus(self.rho[j])).to_event(1)


class LowRankWeights(_WeightGuide):
    """q(w_j) = N(mu_j, F_j F_j^T + diag(sigma_j^2)) for each weight tensor j, with a
    rank-r factor F_j: correlations within a tensor, independence across tensors."""

    def __init__(self, model: nn.Module, rank: int = 4, init_scale: float = 1e-3):
        super().__init__(model, init_scale)
        self.factor = nn.ParameterList(
            [nn.Parameter(init_scale * torch.randn(len(mu), rank) / rank**0.5) for mu in self.loc]
        )

    def distribution(self, j: int) -> dist.Distribution:
        return dist.LowRankMultivariateNormal(self.loc[j], self.factor[j], softplus(self.rho[j]) ** 2)
