"""Variational weights for any network: every weight becomes a latent variable
(Graves 2011, "Practical variational inference for neural networks"; Blundell et al. 2015;
Fortunato et al. 2017, "Bayesian recurrent neural networks", arXiv 1704.02798).

    w ~ p(w)                     Gaussian N(0, sigma^2 I); adaptive: N(0, sigma_j^2 I) per weight
                                 tensor j with sigma_j fitted by the ELBO (Graves 2011's
                                 optimised prior); or the scale mixture
                                 pi N(0, sigma_1^2) + (1 - pi) N(0, sigma_2^2) per weight
    x ~ p(x | w)                 the wrapped network's own Pyro model, run with w

Each parameter tensor `name` of the network is one flat sample site `w.name`, so a weight
guide (guides.weights) and any guide of the network's own latents meet the model through
site names. One draw of w serves a whole minibatch, as in Graves 2011 and Fortunato 2017;
the network's minibatch plate scales its likelihood by dataset_size / B, so the KL term
counts once per data set.
"""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import torch
from torch import Tensor, nn

from zoo.data.batch import Batch
from zoo.nn.swap import swap_parameters
from zoo.errors import ZooError

PRIORS = ("gaussian", "adaptive", "scale_mixture")


class BayesianWeights(nn.Module):
    """p(w) p(x | w) around a deterministic network `net` whose forward is a Pyro model."""

    def __init__(
        self,
        net: nn.Module,
        prior: str = "gaussian",
        prior_scale: float = 0.1,
        mixture_scales: tuple[float, float] = (1.0, math.exp(-6)),
        mixture_weight: float = 0.5,
    ):
        super().__init__()
        if prior not in PRIORS:
            raise ZooError(f"model.weights.prior={prior!r} is not one of {PRIORS}")
        self.net = net.requires_grad_(False)  # its values are only the guide's initial means
        self.prior = prior
        self.prior_scale = prior_scale
        self.mixture_scales = tuple(mixture_scales)
        self.mixture_weight = mixture_weight
        self.shapes = {f"w.{name}": p.shape for name, p in net.named_parameters()}
        self.index = {site: j for j, site in enumerate(self.shapes)}
        if prior == "adaptive":  # Graves 2011: one sigma_j per weight tensor, fitted by the ELBO
            self.log_prior_scale = nn.Parameter(torch.full((len(self.shapes),), math.log(prior_scale)))

    @property
    def spec(self):
        return self.net.spec

    @property
    def weight_sites(self) -> dict[str, Tensor]:
        """Latent site name -> the network's initial value of that weight, flattened."""
        return {f"w.{name}": p.detach().reshape(-1) for name, p in self.net.named_parameters()}

    def weight_prior(self, site: str) -> dist.Distribution:
        """p(w) for the flat weight tensor of one site (event shape (numel,))."""
        numel, device = self.shapes[site].numel(), self.net.get_parameter(site[2:]).device
        zero = torch.zeros((), device=device)
        if self.prior == "gaussian":
            return dist.Normal(zero, self.prior_scale).expand([numel]).to_event(1)
        if self.prior == "adaptive":
            return dist.Normal(zero, self.log_prior_scale[self.index[site]].exp()).expand([numel]).to_event(1)
        pi = torch.tensor([self.mixture_weight, 1 - self.mixture_weight], device=device)
        components = dist.Normal(zero, torch.tensor(self.mixture_scales, device=device))  # batch (2,)
        mixture = dist.MixtureSameFamily(dist.Categorical(pi), components)  # one weight
        return mixture.expand([numel]).to_event(1)

    def sample_weights(self) -> dict[str, Tensor]:
        """w ~ p(w) at the sites w.name; returns the network's parameter dict."""
        weights = {}
        for name, p in self.net.named_parameters():
            w = pyro.sample(f"w.{name}", self.weight_prior(f"w.{name}"))  # (numel,)
            weights[name] = w.reshape(p.shape)
        return weights

    def forward(self, batch: Batch):
        """The Pyro model: w ~ p(w), then the network's model of x given w."""
        with swap_parameters(self.net, self.sample_weights()):
            return self.net(batch)

    def log_prob(self, batch: Batch, weights: dict[str, Tensor]) -> Tensor:
        """log p(x | w) per sequence, (B,), for weights keyed by site name."""
        with swap_parameters(self.net, self.parameters_from_sites(weights)):
            return self.net.log_prob(batch)

    @torch.no_grad()
    def sample(self, weights: dict[str, Tensor], *args, **kwargs) -> Tensor:
        """New sequences from the network with weights w (keyed by site name)."""
        with swap_parameters(self.net, self.parameters_from_sites(weights)):
            return self.net.sample(*args, **kwargs)

    def parameters_from_sites(self, weights: dict[str, Tensor]) -> dict[str, Tensor]:
        shapes = {name: p.shape for name, p in self.net.named_parameters()}
        return {name: weights[f"w.{name}"].reshape(shape) for name, shape in shapes.items()}
