"""The evidence lower bound, log p(x) >= E_q[log p(x, z) - log q(z | x)]."""

from __future__ import annotations

from pyro.infer import Trace_ELBO, TraceMeanField_ELBO
from torch import Tensor

from zoo.data.batch import Batch
from zoo.objectives.anneal import annealed, linear_beta


class ELBO:
    """-ELBO of a model/guide pair on a minibatch, with the model's own scaling (a minibatch
    plate of size dataset_size), so it estimates the -ELBO of the whole data set.

    num_particles  samples of z per step (averaged).
    analytic_kl    use KL(q || p) in closed form where it is registered (TraceMeanField_ELBO;
                   for the VRNN, the per-step Gaussian KLs along the drawn path); else Monte Carlo.
    anneal_steps   KL annealing: the latent terms weighted by min(1, step / anneal_steps).
    """

    def __init__(self, num_particles: int = 1, analytic_kl: bool = False, anneal_steps: int = 0):
        estimator = TraceMeanField_ELBO if analytic_kl else Trace_ELBO
        self.elbo = estimator(num_particles=num_particles)
        self.anneal_steps = anneal_steps

    def __call__(self, model, guide, batch: Batch, step: int | None = None) -> Tensor:
        beta = 1.0 if step is None else linear_beta(step, self.anneal_steps)
        model, guide = annealed(model, guide, beta)
        return self.elbo.differentiable_loss(model, guide, batch)
