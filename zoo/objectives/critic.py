"""What the adversarial objectives share: a critic of codes or states, and the number of
steps a minibatch term is scaled to."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.functional import binary_cross_entropy_with_logits as bce

from zoo.data.batch import Batch


def dataset_steps(batch: Batch) -> Tensor:
    """dataset_size x the minibatch's mean length: a per-step term times this reads per step once
    the trainer divides the loss by the training steps, as the scaled likelihood does."""
    return batch.dataset_size * batch.lengths.float().mean()


class Critic:
    """D: a code or state -> logit of "real", an MLP with its own Adam, made at the first call."""

    def __init__(self, hidden_size: int = 128, lr: float = 1e-3):
        self.hidden_size, self.lr = hidden_size, lr
        self.net, self.optimizer = None, None

    def step(self, real: Tensor, fake: Tensor) -> float:
        """One ascent step of log D(real) + log(1 - D(fake)) on detached inputs; its loss."""
        if self.net is None:
            h = self.hidden_size
            self.net = nn.Sequential(nn.Linear(real.shape[-1], h), nn.LeakyReLU(0.2), nn.Linear(h, h),
                                     nn.LeakyReLU(0.2), nn.Linear(h, 1)).to(real.device)
            self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.lr, betas=(0.5, 0.999))
        d_real, d_fake = self.net(real.detach()), self.net(fake.detach())
        loss = bce(d_real, torch.ones_like(d_real)) + bce(d_fake, torch.zeros_like(d_fake))
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def fooled(self, fake: Tensor) -> Tensor:
        """-log D(fake), the non-saturating loss of whatever made `fake` (the gradients it leaves
        in D are cleared by D's next step)."""
        d_fake = self.net(fake)
        return bce(d_fake, torch.ones_like(d_fake))
