"""The ELBO plus a term that makes the aggregate posterior of the per-step states match the
prior, for models with a latent z_t per step (the VRNN):

    loss = -ELBO + lambda * N_steps * D( q_agg(z_t), p_agg(z_t) )

q_agg pools the guide's draws z_t over every step of the minibatch; p_agg pools draws from
the prior p(z_t | h_{t-1}) at the same steps (h along the guide's path). D is

    mmd   the squared MMD with a mixture of Gaussian kernels at median-heuristic
          bandwidths (Li et al. 2015; zoo.estimators.mmd), or
    aae   an adversarial critic's non-saturating loss -log D(z_q) (Makhzani et al. 2015):
          a small MLP is trained, one step per call, to tell prior draws from posterior ones.

N_steps = dataset_size x the minibatch's mean length, so the term reads lambda * D per step
once the trainer divides the loss by the training steps, as the ELBO does.
"""

from __future__ import annotations

import pyro.poutine as poutine
import torch
from torch import Tensor

from zoo.data.batch import Batch
from zoo.errors import ZooError
from zoo.estimators.mmd import median_bandwidths, mmd2
from zoo.objectives.base import Objective
from zoo.objectives.critic import Critic, dataset_steps
from zoo.objectives.elbo import ELBO

KINDS = ("mmd", "aae")


class StateRegularisedELBO(Objective):
    """-ELBO (zoo.objectives.ELBO with its options) + weight * N_steps * D(q_agg, p_agg) at `site`."""

    def __init__(
        self,
        state_regulariser: str = "mmd",
        weight: float = 1.0,
        site: str = "z",
        critic_size: int = 64,
        critic_lr: float = 1e-3,
        **elbo_options,
    ):
        if state_regulariser not in KINDS:
            raise ZooError(f"objective.state_regulariser={state_regulariser!r} is not one of {KINDS}")
        if weight < 0:
            raise ZooError(f"objective.weight={weight} must be at least 0")
        self.elbo = ELBO(**elbo_options)
        self.kind, self.weight, self.site = state_regulariser, weight, site
        self.critic = Critic(critic_size, critic_lr)

    def state_dict(self) -> dict:
        return {"critic": self.critic.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.critic.load_state_dict(state.get("critic"))

    def __call__(self, model, guide, batch: Batch, step: int | None = None) -> Tensor:
        traces = {}

        def traced(program, name):
            def run(*args, **kwargs):
                handler = poutine.trace(program)
                out = handler(*args, **kwargs)
                traces[name] = handler.trace
                return out

            return run

        loss = self.elbo(traced(model, "model"), traced(guide, "guide"), batch, step)
        if self.weight == 0:
            return loss
        z_q, z_p = self.state_draws(traces["model"], traces["guide"], batch)
        return loss + self.weight * dataset_steps(batch) * self.divergence(z_q, z_p)

    def state_draws(self, model_trace, guide_trace, batch: Batch) -> tuple[Tensor, Tensor]:
        """z_t ~ q and z_t ~ p(z_t | h_{t-1}) at every unpadded step: (n, Z) each."""
        if self.site not in guide_trace.nodes or not hasattr(model_trace.nodes[self.site]["fn"], "params"):
            raise ZooError(
                f"objective.state_regulariser needs a model whose site {self.site!r} is a path of "
                "per-step states with a prior p(z_t | h_{t-1}) (model=vrnn)"
            )
        z = guide_trace.nodes[self.site]["value"]  # (B, T, Z)
        loc, scale = model_trace.nodes[self.site]["fn"].params(z)  # (B, T, Z) x2
        prior_draw = loc + scale * torch.randn_like(loc)
        mask = batch.mask.bool()
        return z[mask], prior_draw[mask]

    def divergence(self, z_q: Tensor, z_p: Tensor) -> Tensor:
        if self.kind == "mmd":
            return mmd2(z_q, z_p, median_bandwidths(z_q, z_p, (0.5, 1.0, 2.0)))
        self.critic.step(real=z_p, fake=z_q)  # prior draws are "real", posterior ones "fake"
        return self.critic.fooled(z_q)  # -log D(z_q), the encoder's side
