"""SeqGAN (Yu et al. 2016, arXiv 1609.05473): a next-step generator trained against a
recurrent discriminator, the gradient taken around the discrete sampling by policy gradients.

    1. MLE pre-training: `pretrain_steps` steps of the model's own objective (-log p(x), or
       the ELBO of variational weights); D trains in the last `discriminator_pretrain_steps`.
    2. Adversarial steps, one per trainer step:
         Y ~ G_theta, as many sequences as the minibatch, with its sequences' lengths
         Q from N rollouts per step, rewarded by D(Y) = P(real)        (policy_gradient)
         generator loss: REINFORCE with a leave-one-out baseline
                         + mle_weight * the MLE loss on the real minibatch (teacher forcing)
         D: `discriminator_steps` steps of -log D(x) - log(1 - D(Y)) on the minibatch and fresh Y.

The generator is `model=char_lstm` (any emission: the estimator needs only log G and
samples) or `bayes_lstm`: then each step draws one w ~ q(w), reparameterised, and the policy
gradient reaches q(w) through it; keep mle_weight > 0 so the ELBO's KL holds q(w) near the prior.
The validation NLL is still reported each epoch, but in the adversarial phase it does not
select checkpoints, halve the learning rate or stop the run: best.pt is the latest
(`selects_by_likelihood`). D is not part of the checkpoint: a resumed run starts a fresh one.
Rollouts use G itself, not Yu et al.'s delayed copy.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from pyro.infer import Trace_ELBO
from torch import Tensor

from zoo.data.batch import Batch
from zoo.errors import ZooError
from zoo.nn.discriminator import RecurrentDiscriminator
from zoo.nn.swap import swap_parameters
from zoo.objectives.critic import dataset_steps
from zoo.objectives.policy_gradient import reinforce_surrogate, rollout_values


@contextmanager
def policy(model, guide):
    """The generator as a network to sample from and score: the model itself, or for variational
    weights the wrapped network with one w ~ q(w) swapped in (gradients flow to q)."""
    if not hasattr(model, "weight_sites"):
        yield model
        return
    w = guide()  # {site: tensor}, reparameterised
    with swap_parameters(model.net, model.parameters_from_sites(w)):
        yield model.net


class SeqGAN:
    """MLE pre-training, then REINFORCE against a recurrent discriminator."""

    def __init__(self, pretrain_steps: int = 1000, discriminator_pretrain_steps: int = 200, rollouts: int = 16,
                 mle_weight: float = 0.0, discriminator_steps: int = 1, discriminator_hidden: int = 64,
                 discriminator_lr: float = 1e-3, baseline: bool = True, temperature: float = 1.0):
        if rollouts < 1 or discriminator_steps < 1:
            raise ZooError(f"objective.rollouts={rollouts} and objective.discriminator_steps={discriminator_steps} "
                           f"must be at least 1")
        if pretrain_steps < 0 or mle_weight < 0:
            raise ZooError(f"objective.pretrain_steps={pretrain_steps} and objective.mle_weight={mle_weight} "
                           f"must be at least 0")
        self.pretrain_steps, self.rollouts, self.mle_weight = pretrain_steps, rollouts, mle_weight
        self.discriminator_pretrain_steps = min(discriminator_pretrain_steps, pretrain_steps)
        self.discriminator_steps, self.baseline, self.temperature = discriminator_steps, baseline, temperature
        self.discriminator_hidden, self.discriminator_lr = discriminator_hidden, discriminator_lr
        self.mle = Trace_ELBO()
        self.discriminator, self.optimizer = None, None
        self.step = 0
        self.progress = {}  # shown beside the loss in the progress bar

    @property
    def selects_by_likelihood(self) -> bool:
        """Checkpoints are chosen by validation NLL only while pre-training by maximum likelihood."""
        return self.step < self.pretrain_steps

    def __call__(self, model, guide, batch: Batch, step: int | None = None) -> Tensor:
        self.step = step if step is not None else self.step + 1
        spec = model.spec
        net_type = type(getattr(model, "net", model))
        if not hasattr(net_type, "next_step"):
            raise ZooError(f"objective=seqgan trains next-step generators (char_lstm, bayes_lstm), not {net_type.__name__}")
        if self.step < self.pretrain_steps:
            if self.step >= self.pretrain_steps - self.discriminator_pretrain_steps:
                self.discriminator_step(model, guide, batch)
            self.progress = {"phase": "mle"}
            return self.mle.differentiable_loss(model, guide, batch)  # -log p(x) (or -ELBO), scaled
        self.make_discriminator(spec, batch.x.device)
        with policy(model, guide) as net:
            y = self.generate(net, batch)  # (B, T[, D])
            Q = rollout_values(lambda prefix, steps: net.sample(len(prefix), steps, self.temperature, prime=prefix),
                               self.reward, y, batch.lengths, self.rollouts)  # (B, T)
            p_y, _ = net.next_step(y)
            log_prob = p_y.log_prob(y)  # (B, T), differentiable in the generator's parameters
        loss = dataset_steps(batch) * reinforce_surrogate(log_prob, Q, batch.mask, self.baseline)
        d_loss = self.train_discriminator(batch, y)
        reward = Q.gather(1, (batch.lengths - 1)[:, None].to(Q.device)).mean().item()  # mean D(Y)
        self.progress = {"phase": "adv", "reward": f"{reward:.3f}", "d_loss": f"{d_loss:.3f}"}
        if self.mle_weight:
            loss = loss + self.mle_weight * self.mle.differentiable_loss(model, guide, batch)
        return loss

    def make_discriminator(self, spec, device) -> None:
        if self.discriminator is None:
            self.discriminator = RecurrentDiscriminator(spec, self.discriminator_hidden).to(device)
            self.optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=self.discriminator_lr)

    def discriminator_step(self, model, guide, batch: Batch) -> float:
        """Train D alone on the minibatch against as many fresh samples of G; G is left as it is."""
        self.make_discriminator(model.spec, batch.x.device)
        with torch.no_grad(), policy(model, guide) as net:
            fake = self.generate(net, batch)
        return self.train_discriminator(batch, fake)

    def generate(self, net, batch: Batch) -> Tensor:
        """As many sequences as the minibatch, as long as its longest; scored at its lengths."""
        return net.sample(batch.batch_size, batch.x.shape[1], self.temperature)

    def reward(self, x: Tensor, lengths: Tensor) -> Tensor:
        """R(Y) = D(Y), the discriminator's probability that Y is real: (M,)."""
        return self.discriminator.score(x, lengths)

    def train_discriminator(self, batch: Batch, fake: Tensor) -> float:
        """`discriminator_steps` steps of -log D(x) - log(1 - D(Y)); the last loss."""
        self.discriminator.train()
        for _ in range(self.discriminator_steps):
            loss = self.discriminator.loss(batch.x, batch.lengths, fake.detach(), batch.lengths)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        return loss.item()
