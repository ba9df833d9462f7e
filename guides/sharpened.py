"""Posterior sharpening (Fortunato, Blundell and Vinyals 2017, "Bayesian recurrent neural
networks", arXiv 1704.02798, section 4): a hierarchical posterior over the weights that takes
one gradient step on the minibatch (x, y) before drawing the weights the network runs with.

    phi ~ q(phi) = N(phi | mu, sigma^2)                             the mean-field posterior, sigma = softplus(rho)
    g_phi = grad_phi -log p(y | phi, x)                              one forward and backward pass on the minibatch
    theta ~ q(theta | phi, (x, y)) = N(theta | phi - eta * g_phi, sigma_0^2 I)
    p(theta | phi) = N(theta | phi, sigma_0^2 I)                     the model's hierarchical prior
    KL(q(theta | phi, (x, y)) || p(theta | phi)) = sum_i (eta_i g_i)^2 / (2 sigma_0^2)
    NLL_b = E_q(phi) E_q(theta | phi, (x, y))[-log p(y | theta, x)]
    KL_b = E_q(phi)[KL(q(theta | phi, (x, y)) || p(theta | phi))]
    L_b = NLL_b + KL_b + KL(q(phi) || p(phi)) / C                    the cost of minibatch b of an epoch's C

phi sits at the model's sites `w.name` (its prior p(phi) is the model's p(w)), theta at the
sites `theta.name` of the model's per-minibatch weights (zoo.models.bayesian_weights with
`local_scale` = sigma_0), scaled by N / B as the minibatch's likelihood is: the zoo's loss of a
minibatch is C L_b. Any ELBO of the zoo trains it; objective=elbo_analytic_kl computes both
KL terms in closed form (the second is then exactly the sum above, per draw of phi).

eta is one learned step per weight, eta = eta_0 r with r starting at 1 (Adam then moves eta
in proportion to its size). The first-order trade-off of the two terms it enters, the NLL
falling by eta g^2 and the KL rising by (eta g)^2 / (2 sigma_0^2), is best at eta = sigma_0^2
(eta_0 when step_init is None); it ignores the curvature of the NLL summed over a minibatch and
diverges on the LSTMs tried, so the configured eta_0 is far smaller (configs/weight_guide).

g_phi is the gradient of the minibatch's summed NLL, unscaled, at the drawn phi. With
`second_order=false` (the default) it is a constant of the step: the gradients of mu and sigma
omit the path through g_phi (the Hessian term -eta * H dphi/dmu), while eta's gradient and the
bound's value are exact; the step costs one extra forward and backward pass over the minibatch.
`second_order=true` differentiates through g_phi, the exact gradient of the bound, at the cost of
a double backward through the network (cuDNN's LSTM has none, so that pass runs without cuDNN).

Without a batch there are no targets to sharpen with, and the guide draws theta ~ p(theta | phi)
with phi ~ q(phi): the weights the model gives a new minibatch. Held-out figures (posterior
predictive with S draws, -ELBO) are computed so, never sharpened on the targets they score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import nullcontext

import pyro
import pyro.distributions as dist
import pyro.poutine as poutine
import torch
from torch import Tensor, nn

from guides.weights import MeanFieldWeights
from zoo.data.batch import Batch
from zoo.errors import ZooError


class SharpenedWeights(MeanFieldWeights):
    """q(phi) q(theta | phi, (x, y)): the mean-field guide of phi at w.*, then theta at theta.*
    around one learned gradient step on the minibatch. Returns the weights the network runs
    with, theta, keyed by the sites w.* as `model.parameters_from_sites` reads them."""

    def __init__(
        self,
        model: nn.Module,
        init_scale: float | Sequence[float] = 1e-3,
        local_scale: float | None = None,
        step_init: float | None = None,
        second_order: bool = False,
    ):
        super().__init__(model, init_scale)
        if not hasattr(model.net, "log_prob"):
            raise ZooError(
                f"weight_guide=sharpened steps along the gradient of log p(x | w), which "
                f"{type(model.net).__name__} has no exact form of (it has latents of its own): "
                "use weight_guide=mean_field"
            )
        if local_scale is not None and not 0 < local_scale < math.inf:
            raise ZooError(
                f"weight_guide.local_scale={local_scale:g} must be a positive number (sigma_0 of "
                "q(theta | phi, (x, y)) and of p(theta | phi))"
            )
        if model.local_scale is None:
            raise ZooError(
                "weight_guide=sharpened needs a model with per-minibatch weights theta ~ N(phi, sigma_0^2 I): "
                "build it with BayesianWeights(local_scale=sigma_0), as model.weights.local_scale does"
            )
        if local_scale is not None and local_scale != model.local_scale:
            raise ZooError(
                f"weight_guide.local_scale={local_scale:g} and model.weights.local_scale="
                f"{model.local_scale:g} differ; q(theta | phi, (x, y)) and p(theta | phi) share sigma_0: "
                "set weight_guide.local_scale alone"
            )
        self.local_scale = model.local_scale  # sigma_0
        if step_init is not None and not 0 < step_init < math.inf:
            raise ZooError(
                f"weight_guide.step_init={step_init:g} must be a positive number (the initial eta of "
                "every weight; null: sigma_0^2)"
            )
        if (
            torch.distributed.is_available()
            and torch.distributed.is_initialized()
            and torch.distributed.get_world_size() > 1
        ):
            raise ZooError(
                "weight_guide=sharpened steps along the gradient of the whole minibatch, which ranks "
                "holding parts of it cannot compute: train it in one process"
            )
        self.step_init = self.local_scale**2 if step_init is None else float(step_init)  # eta_0
        self.step = nn.ParameterList([nn.Parameter(torch.ones_like(mu)) for mu in self.loc])  # r: eta = eta_0 r
        self.second_order = second_order
        object.__setattr__(self, "model", model)  # shared, not owned: its parameters are not the guide's

    def eta(self, j: int) -> Tensor:
        """eta of weight tensor j: (numel,)."""
        return self.step_init * self.step[j]

    def likelihood_gradient(self, batch: Batch, phi: list[Tensor]) -> list[Tensor]:
        """g_phi = grad_phi -log p(y | phi, x) of the minibatch's summed NLL, one (numel,) per site;
        a constant of the step unless `second_order`."""
        through = self.second_order and all(p.requires_grad for p in phi)
        at = phi if through else [p.detach().requires_grad_() for p in phi]
        cudnn = torch.backends.cudnn.flags(enabled=False) if through else nullcontext()
        with torch.enable_grad(), cudnn:
            nll = -self.model.log_prob(batch, dict(zip(self.names, at))).sum()  # scalar: sum over the minibatch
            grads = torch.autograd.grad(nll, at, create_graph=through, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for p, g in zip(at, grads)]

    def sharpened(self, j: int, phi: Tensor, grad: Tensor) -> dist.Distribution:
        """q(theta_j | phi_j, (x, y)) = N(phi_j - eta_j * g_j, sigma_0^2 I), event shape (numel,)."""
        return dist.Normal(phi - self.eta(j) * grad, self.local_scale).to_event(1)

    def forward(self, batch: Batch | None = None) -> dict[str, Tensor]:
        """phi ~ q(phi) at w.*, then theta ~ q(theta | phi, (x, y)) at theta.* for a minibatch, or
        theta ~ p(theta | phi) at no site without one; returns theta keyed by w.*."""
        phi = [pyro.sample(name, self.distribution(j)) for j, name in enumerate(self.names)]  # q(phi), (numel,) each
        if batch is None:  # no targets: theta ~ p(theta | phi)
            return {name: p + self.local_scale * torch.randn_like(p) for name, p in zip(self.names, phi)}
        grads = self.likelihood_gradient(batch, phi)
        theta = {}
        with poutine.scale(scale=batch.dataset_size / batch.batch_size):  # N / B, as the model's theta sites
            for j, name in enumerate(self.names):
                theta[name] = pyro.sample(self.model.local_site(name), self.sharpened(j, phi[j], grads[j]))
        return theta
