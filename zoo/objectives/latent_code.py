"""Generators of the code in the middle of a sequence autoencoder (zoo.models.seq_ae).

Each objective is the autoencoder's reconstruction loss -log p(x | c(x)) plus a term on its
codes c(x), scaled like the likelihood (dataset_size x the minibatch's mean length, so that
after the trainer's division by the training steps it reads per step):

    mmd_latent  lambda * MMD^2(G(u), c(x)): a generator G of codes (model.net.code_source=
                generator) trained on the MMD with a mixture of Gaussian kernels at several
                bandwidths (Li et al. 2015, generative moment matching networks).
    gan_latent  lambda * -log D(G(u)): G trained against a critic D that tells generated
                codes from encoded ones (Goodfellow et al. 2014), one critic step per step.
    aae         lambda * -log D(c(x)): the encoder itself is pushed to make its aggregate
                codes match the prior N(0, I), D telling prior draws from codes (Makhzani et
                al. 2015); new sequences decode c ~ N(0, I) (model.net.code_source=prior).

For mmd_latent and gan_latent the codes are targets (detached): G learns the autoencoder's
code distribution as the autoencoder trains, and its loss leaves the autoencoder alone. The
critics are part of the checkpoint (`state_dict`): a resumed run continues them.
"""

from __future__ import annotations

import math

import torch
from pyro.infer import Trace_ELBO
from torch import Tensor

from zoo.data.batch import Batch
from zoo.errors import ZooError
from zoo.estimators.mmd import mmd2
from zoo.objectives.base import Objective
from zoo.objectives.critic import Critic, dataset_steps


class _CodeObjective(Objective):
    needs_source = "generator"
    critic: Critic | None = None  # D of the adversarial ones

    def __init__(self, weight: float = 1.0):
        if weight < 0:
            raise ZooError(f"objective.weight={weight} must be at least 0")
        self.weight = weight
        self.reconstruction = Trace_ELBO()
        self.progress = {}  # shown beside the loss in the progress bar

    def state_dict(self) -> dict:
        return {} if self.critic is None else {"critic": self.critic.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if self.critic is not None:
            self.critic.load_state_dict(state.get("critic"))

    def _check(self, model) -> None:
        if getattr(model, "code_source", None) != self.needs_source:
            raise ZooError(f"{type(self).__name__} needs model=seq_ae with model.net.code_source={self.needs_source}")

    def __call__(self, model, guide, batch: Batch, step: int | None = None) -> Tensor:
        self._check(model)
        loss = self.reconstruction.differentiable_loss(model, guide, batch)  # -log p(x | c(x)), scaled
        return loss + self.weight * dataset_steps(batch) * self.code_term(model, model.code(batch))

    def code_term(self, model, code: Tensor) -> Tensor:
        raise NotImplementedError


class MMDLatent(_CodeObjective):
    """Reconstruction + lambda * MMD^2(G(u), c(x)), kernels at `bandwidths` times sqrt(code size)."""

    def __init__(self, weight: float = 1.0, bandwidths=(0.25, 0.5, 1.0, 2.0, 4.0)):
        super().__init__(weight)
        self.bandwidths = tuple(bandwidths)

    def code_term(self, model, code: Tensor) -> Tensor:
        generated = model.new_codes(len(code))
        scale = math.sqrt(code.shape[-1])
        value = mmd2(generated, code.detach(), [b * scale for b in self.bandwidths])
        self.progress = {"mmd2": f"{value.item():.4f}"}
        return value


class GANLatent(_CodeObjective):
    """Reconstruction + lambda * -log D(G(u)), with D trained on encoded against generated codes."""

    def __init__(self, weight: float = 1.0, critic_size: int = 128, critic_lr: float = 1e-3):
        super().__init__(weight)
        self.critic = Critic(critic_size, critic_lr)

    def code_term(self, model, code: Tensor) -> Tensor:
        generated = model.new_codes(len(code))
        d_loss = self.critic.step(real=code, fake=generated)
        g_loss = self.critic.fooled(generated)
        self.progress = {"d": f"{d_loss:.3f}", "g": f"{g_loss.item():.3f}"}
        return g_loss


class AAE(_CodeObjective):
    """Reconstruction + lambda * -log D(c(x)), with D trained on prior draws against codes."""

    needs_source = "prior"

    def __init__(self, weight: float = 1.0, critic_size: int = 128, critic_lr: float = 1e-3):
        super().__init__(weight)
        self.critic = Critic(critic_size, critic_lr)

    def code_term(self, model, code: Tensor) -> Tensor:
        d_loss = self.critic.step(real=torch.randn_like(code), fake=code)
        g_loss = self.critic.fooled(code)  # gradients into the encoder
        self.progress = {"d": f"{d_loss:.3f}", "g": f"{g_loss.item():.3f}"}
        return g_loss
