"""The filtering variational objective (FIVO; Maddison et al. 2017, arXiv 1705.09279; Le et al.
2018, arXiv 1705.10306; Naesseth et al. 2018, arXiv 1705.11140), per sequence.

    FIVO-K(x) = E[log p_hat(x)],  p_hat(x) = prod over resampling epochs of (1/K) sum_k w_k

with K particles proposed by a filtering guide and resampled when their effective sample size
falls below a threshold (zoo.estimators.smc). Like IWAE-K it is a lower bound on log p(x);
unlike it, resampling keeps the particles where x_{1:t} is likely, so the bound stays tight on
long sequences. Gradients flow through the reparameterised proposals and the weights, not
through the choice of ancestors (the biased but low-variance gradient of all three papers).
"""

from __future__ import annotations

from torch import Tensor

from zoo.data.batch import Batch
from zoo.errors import ZooError
from zoo.estimators.smc import RESAMPLING, check_smc, smc_log_marginal
from zoo.models.bayesian_weights import has_weight_latents
from zoo.objectives.base import Objective


class FIVO(Objective):
    """-sum_b log p_hat(x_b), scaled by dataset_size / B."""

    def __init__(self, num_particles: int = 4, resampling: str = "multinomial", ess_threshold: float = 0.5):
        if num_particles < 1:
            raise ZooError(f"objective.num_particles={num_particles} must be at least 1")
        if resampling not in RESAMPLING:
            raise ZooError(f"objective.resampling={resampling!r} is not one of {', '.join(RESAMPLING)}")
        if not 0 <= ess_threshold <= 1:
            raise ZooError(
                f"objective.ess_threshold={ess_threshold} must be between 0 (never resample) and 1 "
                "(resample at every step)"
            )
        self.num_particles, self.resampling, self.ess_threshold = num_particles, resampling, ess_threshold
        self.validation_particles = num_particles  # select models by the bound this objective trains
        self.validation_bound = "-FIVO"

    def __call__(self, model, guide, batch: Batch, step: int | None = None) -> Tensor:
        if has_weight_latents(model):
            raise ZooError(
                "objective=fivo bounds each sequence with its own particles; a model with "
                "weight latents shares them across sequences: use objective=elbo"
            )
        check_smc(model, guide)
        log_p_hat = smc_log_marginal(
            model, guide, batch, self.num_particles, self.resampling, self.ess_threshold
        )  # (B,)
        return -log_p_hat.sum() * batch.dataset_size / batch.batch_size
