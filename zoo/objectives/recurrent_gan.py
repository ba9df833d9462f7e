"""A recurrent GAN on whole sequences of real frames, in the manner of C-RNN-GAN (Mogren 2016,
arXiv 1611.09904): the generator's frames are drawn by reparameterisation, so the
discriminator's gradient reaches the generator through its own samples, no policy gradient.

    x~ = G(eps)                        char_lstm with a Gaussian output, x~_t = mu_t + sigma_t eps_t
    D: -log D(x) - log(1 - D(x~))      a recurrent discriminator of whole sequences
    G: -log D(x~)                      the non-saturating generator loss (Goodfellow et al. 2014)
       + mle_weight * -log p(x)        optionally keeping the teacher-forced likelihood

After `pretrain_steps` of maximum likelihood. Tokens, piano rolls and pen strokes have no
reparameterised samples: train those with objective=seqgan. In the adversarial phase the
validation NLL does not select checkpoints (`selects_by_likelihood`); D and its optimiser are part
of the checkpoint (`state_dict`).
"""

from __future__ import annotations

import torch
from pyro.infer import Trace_ELBO
from torch import Tensor
from torch.nn.functional import binary_cross_entropy_with_logits as bce

from zoo.data.batch import Batch
from zoo.errors import ZooError
from zoo.nn.discriminator import RecurrentDiscriminator
from zoo.objectives.base import Objective, build_lazy_module, lazy_module_state
from zoo.objectives.critic import adam, dataset_steps


class RecurrentGAN(Objective):
    """MLE pre-training, then generator and discriminator steps on reparameterised sequences."""

    def __init__(
        self,
        pretrain_steps: int = 500,
        mle_weight: float = 0.0,
        discriminator_hidden: int = 64,
        discriminator_lr: float = 1e-3,
        bidirectional: bool = True,
    ):
        if pretrain_steps < 0 or mle_weight < 0:
            raise ZooError(
                f"objective.pretrain_steps={pretrain_steps} and objective.mle_weight={mle_weight} must be at least 0"
            )
        self.pretrain_steps, self.mle_weight = pretrain_steps, mle_weight
        self.discriminator_hidden, self.discriminator_lr, self.bidirectional = (
            discriminator_hidden,
            discriminator_lr,
            bidirectional,
        )
        self.mle = Trace_ELBO()
        self.discriminator, self.optimizer = None, None
        self.pending: dict | None = None  # a checkpoint's D and optimiser, loaded once D is built
        self.step = 0
        self.progress = {}

    def state_dict(self) -> dict:
        """D and its optimiser (None before D is built) and the step."""
        return {"discriminator": lazy_module_state(self.discriminator, self.optimizer), "step": self.step}

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.pending, self.step = state["discriminator"], state["step"]

    @property
    def selects_by_likelihood(self) -> bool:
        return self.step < self.pretrain_steps

    def __call__(self, model, guide, batch: Batch, step: int | None = None) -> Tensor:
        self.step = step if step is not None else self.step + 1
        if not hasattr(model, "rsample"):
            raise ZooError(
                f"objective=recurrent_gan needs a generator with reparameterised samples "
                f"(model=char_lstm model.net.emission=gaussian), not {type(model).__name__}"
            )
        if self.step < self.pretrain_steps:
            self.progress = {"phase": "mle"}
            return self.mle.differentiable_loss(model, guide, batch)
        if self.discriminator is None:

            def build():
                d = RecurrentDiscriminator(model.spec, self.discriminator_hidden, bidirectional=self.bidirectional)
                d = d.to(batch.x.device)
                return d, adam(d.parameters(), self.discriminator_lr, betas=(0.5, 0.999))

            self.discriminator, self.optimizer = build_lazy_module(build, self.pending)
            self.pending = None
        fake = model.rsample(batch.batch_size, batch.x.shape[1])  # (B, T, D), differentiable
        d_loss = self.discriminator.loss(batch.x, batch.lengths, fake.detach(), batch.lengths)
        self.optimizer.zero_grad()
        d_loss.backward()
        self.optimizer.step()
        d_fake = self.discriminator(fake, batch.lengths)  # D's gradients from here are cleared next step
        g_loss = dataset_steps(batch) * bce(d_fake, torch.ones_like(d_fake))
        self.progress = {
            "phase": "adv",
            "d_loss": f"{d_loss.item():.3f}",
            "d_fake": f"{torch.sigmoid(d_fake).mean().item():.3f}",
        }
        if self.mle_weight:
            g_loss = g_loss + self.mle_weight * self.mle.differentiable_loss(model, guide, batch)
        return g_loss
