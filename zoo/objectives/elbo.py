"""The evidence lower bound, log p(x) >= E_q[log p(x, z) - log q(z | x)]."""

from __future__ import annotations

from pyro.infer import Trace_ELBO, TraceMeanField_ELBO
from torch import Tensor

from zoo.data.batch import Batch
from zoo.errors import ZooError
from zoo.objectives.anneal import annealed, kl_weight
from zoo.objectives.base import Objective
from zoo.objectives.free_bits import free_bits_loss


class ELBO(Objective):
    """-ELBO of a model/guide pair on a minibatch, with the model's own scaling (a minibatch
    plate of size dataset_size), so it estimates the -ELBO of the whole data set.

    num_particles  samples of z per step (averaged).
    analytic_kl    use KL(q || p) in closed form where it is registered (TraceMeanField_ELBO;
                   for the VRNN, the per-step Gaussian KLs along the drawn path); else Monte Carlo.
    anneal_steps   KL annealing: the latent terms weighted by beta(step), rising to 1 at anneal_steps.
    anneal_shape   linear: beta = step / anneal_steps; sigmoid: a logistic rise (Bowman et al. 2015).
    kl_scale       c: the latent terms' weight once annealed, 1 for the ELBO. With c < 1 the loss is
                   c (E_q[-log p(x | z)] / c + KL(q || p)), so q fits the tempered posterior
                   p(z) p(x | z)^(1 / c) (the KL weight of Zhang et al. 2018; the cold posteriors of
                   Wenzel et al. 2020). Validation and evaluation weigh the KL by 1: their figures
                   stay bounds on log p(x).
    free_bits      lambda > 0: each latent dimension's KL (closed form, averaged over the minibatch)
                   counts as at least lambda nats (Kingma et al. 2016); needs analytic_kl and
                   Normal latent sites.
    """

    def __init__(
        self,
        num_particles: int = 1,
        analytic_kl: bool = False,
        anneal_steps: int = 0,
        anneal_shape: str = "linear",
        free_bits: float = 0.0,
        kl_scale: float = 1.0,
    ):
        kl_weight(0, anneal_steps, anneal_shape)  # refuses an unknown shape, naming the field
        if not 0 < kl_scale <= 1:
            raise ZooError(
                f"objective.kl_scale={kl_scale} must be in (0, 1]: the weight of the KL term "
                "(1 is the ELBO, below 1 a tempered posterior)"
            )
        if free_bits < 0:
            raise ZooError(f"objective.free_bits={free_bits} must be at least 0 (nats per latent dimension)")
        if free_bits > 0 and not analytic_kl:
            raise ZooError(
                "objective.free_bits clamps the closed-form KL of each latent dimension: set "
                "objective.analytic_kl=true (or use objective=elbo_free_bits)"
            )
        estimator = TraceMeanField_ELBO if analytic_kl else Trace_ELBO
        self.elbo = estimator(num_particles=num_particles)
        self.num_particles = num_particles
        self.anneal_steps, self.anneal_shape, self.free_bits = anneal_steps, anneal_shape, free_bits
        self.kl_scale = kl_scale

    def beta(self, step: int | None) -> float:
        """The weight of the KL term at a training step; 1 outside training (step None)."""
        return 1.0 if step is None else self.kl_scale * kl_weight(step, self.anneal_steps, self.anneal_shape)

    def __call__(self, model, guide, batch: Batch, step: int | None = None) -> Tensor:
        beta = self.beta(step)
        if self.free_bits > 0:
            return free_bits_loss(model, guide, batch, self.free_bits, beta, self.num_particles)
        model, guide = annealed(model, guide, beta)
        return self.elbo.differentiable_loss(model, guide, batch)
