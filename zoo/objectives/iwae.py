"""The importance-weighted bound as a training objective (Burda et al. 2015), per sequence."""

from __future__ import annotations

from torch import Tensor

from zoo.data.batch import Batch
from zoo.errors import ZooError
from zoo.estimators.importance import iwae_bound, log_weights
from zoo.models.bayesian_weights import has_weight_latents
from zoo.objectives.base import Objective


class IWAE(Objective):
    """-sum_b log (1/K) sum_k w_k(x_b), scaled by dataset_size / B: each sequence's own
    K-particle bound, not one bound over the minibatch (compare Pyro's RenyiELBO(alpha=0)).
    Reparameterised gradients; for models whose latents are all per sequence."""

    def __init__(self, num_particles: int = 5):
        if num_particles < 1:
            raise ZooError(f"objective.num_particles={num_particles} must be at least 1")
        self.num_particles = num_particles
        self.validation_particles = num_particles  # select models by the bound this objective trains

    def __call__(self, model, guide, batch: Batch, step: int | None = None) -> Tensor:
        if has_weight_latents(model):
            raise ZooError(
                "objective=iwae bounds each sequence with its own particles; a model with "
                "weight latents shares them across sequences: use objective=elbo"
            )
        bounds = iwae_bound(log_weights(model, guide, batch, self.num_particles))  # (B,)
        return -bounds.sum() * batch.dataset_size / batch.batch_size
