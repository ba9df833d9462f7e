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

The KL per minibatch (Fortunato et al. 2017, section 3). With N training sequences (each one
of Fortunato's truncated sequences: the zoo models every sequence from a fresh state), B of
them in a minibatch and C = N / B minibatches per epoch, their cost of minibatch b is

    L_b = E_q[-log p(x_b | w)] + KL(q(w) || p(w)) / C

and the zoo's loss of the same minibatch, the plate scaling its likelihood by N / B, is

    L_zoo(b) = (N / B) E_q[-log p(x_b | w)] + KL(q(w) || p(w)) = C L_b

the same objective times the constant C: summed over an epoch's C minibatches, L_b gives the
whole -ELBO, NLL(D) + KL, and L_zoo(b) is an unbiased estimate of it from one minibatch. The
trainer divides L_zoo(b) by the N T training steps (T the mean length), giving L_b / (B T):
Fortunato's cost averaged over the minibatch's B sequences (as their code does) and over its
steps. Adam's steps are unchanged by a constant factor on the loss (up to its epsilon), so no
KL weight or per-epoch C is needed to train as they do; plain SGD would need its step size
divided by C, and `train.clip_norm` applies to the gradient of the loss per step. A last
minibatch of B' < B sequences is scaled by N / B', still an unbiased estimate.

K draws per minibatch (`draws` = K > 1, in training): the minibatch's B sequences are split
into K consecutive groups G_k, each run with its own w_k ~ q(w), and the -ELBO estimate is

    (N / B) sum_k sum_{n in G_k} -log p(x_n | w_k) + (1 / K) sum_k [log q(w_k) - log p(w_k)]

unbiased as the one-draw estimate is, with the likelihood's gradient averaged over K
independent weights instead of one: what makes one draw per minibatch noisy is that all B
sequences share it (Kingma et al. 2015 and Wen et al. 2018 draw per sequence; this is the
middle way that keeps the network's fused recurrence). The draws sit in a plate `draws` of
size K under a scale 1 / K, in the model and in the weight guide; validation and test draw
one w per minibatch as before. The K groups meet in one factor `x` per sequence, the
network's exact log p(x_n | w_k), so K > 1 is refused for a network without one (latents of its
own, or a code), and for posterior sharpening (one theta per minibatch, around one gradient step).

Posterior sharpening (Fortunato et al. 2017, section 4) adds a hierarchical prior: with
`local_scale` = sigma_0 the global weights phi are the sites `w.name` and each minibatch has
weights theta of its own, at the sites `theta.name`, which the network runs with:

    phi ~ p(phi)                 the prior above, at w.name
    theta ~ N(phi, sigma_0^2 I)  p(theta | phi), per minibatch, at theta.name
    x ~ p(x | theta)

theta belongs to the minibatch as its likelihood does, so its sites carry the same scale
N / B: per minibatch, Fortunato et al. count KL(q(theta | ...) || p(theta | phi)) once beside
the minibatch's NLL and KL(q(phi) || p(phi)) / C, the zoo C times that (guides.sharpened).
"""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from torch import Tensor, nn

from zoo.data.batch import Batch
from zoo.errors import ZooError
from zoo.nn.swap import swap_parameters

PRIORS = ("gaussian", "adaptive", "scale_mixture")


def has_weight_latents(model) -> bool:
    """Whether the weights of `model` are latent variables w ~ p(w) (BayesianWeights): the one
    question asked wherever weight latents change what is trained, computed or drawn."""
    return isinstance(model, BayesianWeights)


class BayesianWeights(nn.Module):
    """p(w) p(x | w) around a deterministic network `net` whose forward is a Pyro model."""

    def __init__(
        self,
        net: nn.Module,
        prior: str = "gaussian",
        prior_scale: float = 0.1,
        mixture_scales: tuple[float, float] = (1.0, math.exp(-6)),
        mixture_weight: float = 0.5,
        local_scale: float | None = None,
        draws: int = 1,
    ):
        super().__init__()
        if prior not in PRIORS:
            raise ZooError(f"model.weights.prior={prior!r} is not one of {PRIORS}")
        if not 0 < prior_scale < math.inf:
            raise ZooError(f"model.weights.prior_scale={prior_scale:g} must be a positive number: sigma of p(w)")
        if len(mixture_scales) != 2 or not all(0 < s < math.inf for s in mixture_scales):
            raise ZooError(
                f"model.weights.mixture_scales={list(mixture_scales)} must be two positive numbers "
                "[sigma_1, sigma_2]: the scale mixture's two standard deviations"
            )
        if not 0 < mixture_weight < 1:
            raise ZooError(
                f"model.weights.mixture_weight={mixture_weight:g} must be above 0 and below 1: pi, the "
                "weight of N(0, sigma_1^2) in the scale mixture"
            )
        if local_scale is not None and not 0 < local_scale < math.inf:
            raise ZooError(
                f"model.weights.local_scale={local_scale:g} must be a positive number: it is sigma_0 of "
                "the hierarchical prior p(theta | phi) = N(phi, sigma_0^2 I), which weight_guide=sharpened "
                "takes from weight_guide.local_scale"
            )
        if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
            raise ZooError(
                f"model.weights.draws={draws!r} must be a whole number >= 1: the draws of w per training "
                "minibatch, each serving its share of the sequences"
            )
        if draws > 1 and not hasattr(net, "log_prob"):
            raise ZooError(
                f"model.weights.draws={draws} splits a minibatch among draws of w, which needs the exact "
                f"log p(x | w) of the network (log_prob), which {type(net).__name__} has not: set model.weights.draws=1"
            )
        if draws > 1 and local_scale is not None:
            raise ZooError(
                f"model.weights.draws={draws} with posterior sharpening: its theta is one step from phi along "
                "the whole minibatch's gradient, so it takes one draw per minibatch; set model.weights.draws=1"
            )
        self.net = net.requires_grad_(False)  # its values are only the guide's initial means
        self.prior = prior
        self.prior_scale = prior_scale
        self.mixture_scales = tuple(mixture_scales)
        self.mixture_weight = mixture_weight
        self.local_scale = local_scale  # sigma_0 of p(theta | phi); None: no per-minibatch weights
        self.draws = draws  # K: draws of w per training minibatch
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

    @staticmethod
    def local_site(site: str) -> str:
        """The site of the per-minibatch weights theta beside the global site w.name: theta.name."""
        return "theta." + site[2:]

    def local_prior(self, phi: Tensor) -> dist.Distribution:
        """p(theta | phi) = N(theta | phi, sigma_0^2 I) for one flat weight tensor (event shape (numel,))."""
        return dist.Normal(phi, self.local_scale).to_event(1)

    def sample_weights(self, batch: Batch | None = None) -> dict[str, Tensor]:
        """w ~ p(w) at the sites w.name; with `local_scale` and a batch, then theta ~ p(theta | w)
        at the sites theta.name, scaled as the minibatch's likelihood. Returns the parameter
        dict the network runs with (w, or theta)."""
        weights = {site: pyro.sample(site, self.weight_prior(site)) for site in self.shapes}  # phi, (numel,) each
        if self.local_scale is not None and batch is not None:
            with poutine.scale(scale=batch.dataset_size / batch.batch_size):  # N / B, as log p(x_b | theta)
                weights = {
                    site: pyro.sample(self.local_site(site), self.local_prior(phi)) for site, phi in weights.items()
                }
        return self.parameters_from_sites(weights)

    def draws_for(self, batch: Batch | None) -> int:
        """K, the draws of w that serve `batch`: `draws` in training (at most one per sequence), else 1."""
        return min(self.draws, batch.batch_size) if self.training and batch is not None else 1

    def forward(self, batch: Batch):
        """The Pyro model: w ~ p(w) (and theta ~ p(theta | w) with `local_scale`), then the
        network's model of x given the weights it runs with; with K draws, group k of the
        minibatch given w_k."""
        K = self.draws_for(batch)
        if K == 1:
            with swap_parameters(self.net, self.sample_weights(batch)):
                return self.net(batch)
        with pyro.plate("draws", K), poutine.scale(scale=1 / K):
            weights = {site: pyro.sample(site, self.weight_prior(site)) for site in self.shapes}  # (K, numel) each
        log_p = torch.cat(
            [
                self.log_prob(group, {site: w[k] for site, w in weights.items()})
                for k, group in enumerate(batch.split(K))
            ]
        )  # (B,): log p(x_n | w_k) of each sequence n of group k
        with pyro.plate("sequences", batch.dataset_size, subsample_size=batch.batch_size):  # scaled by N / B
            pyro.factor("x", log_p)

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
        """The parameters the network runs with, keyed by its own names and in its shapes, from
        flat weights keyed by site (w.name, or theta.name's values under w.name)."""
        return {site[2:]: weights[site].reshape(shape) for site, shape in self.shapes.items()}
