"""The evidence lower bound, log p(x) >= E_q[log p(x, z) - log q(z | x)]."""

from __future__ import annotations

from pyro.infer import Trace_ELBO, TraceMeanField_ELBO
from torch import Tensor

from zoo.data.batch import Batch


class ELBO:
    """-ELBO of a model/guide pair on a minibatch, with the model's own scaling (a minibatch
    plate of size dataset_size), so it estimates the -ELBO of the whole data set.

    num_particles  samples of z per step (averaged).
    analytic_kl    use KL(q || p) in closed form where Pyro has it (TraceMeanField_ELBO, for
                   guides whose sites are independent of each other's values); else Monte Carlo.
    """

    def __init__(self, num_particles: int = 1, analytic_kl: bool = False):
        estimator = TraceMeanField_ELBO if analytic_kl else Trace_ELBO
        self.elbo = estimator(num_particles=num_particles)

    def __call__(self, model, guide, batch: Batch) -> Tensor:
        return self.elbo.differentiable_loss(model, guide, batch)
