"""SeqGAN (Yu et al. 2016, arXiv 1609.05473): a next-step generator trained against a
discriminator of whole sequences, the gradient taken around the discrete sampling by policy
gradients.

    1. MLE pre-training: `pretrain_steps` steps of the model's own objective (-log p(x), or
       the ELBO of variational weights); D trains in the last `discriminator_pretrain_steps`.
       Then `discriminator_warmup_steps` steps of D alone (`discriminator_steps` updates on
       each minibatch against as many fresh sequences of G), G left as it is: D's pre-training
       for a generator that arrives trained (`pretrain_steps=0` with `train.init`).
    2. Adversarial steps, one per trainer step:
         Y ~ G_theta, as many sequences as the minibatch, with its sequences' lengths
         Q from N rollouts per step, rewarded by D(Y) = P(real)        (policy_gradient)
         generator loss: REINFORCE with a leave-one-out baseline (`baseline`; ours), or with
                         none, as the paper's eq. 6 and its code: every reward D(Y) in (0, 1)
                         + mle_weight * the MLE loss on the real minibatch (teacher forcing)
         D: `discriminator_steps` steps of -log D(x) - log(1 - D(Y)) on the minibatch and these Y,
            or SeqGAN's own schedule (`discriminator_rounds` > 0): before each generator step,
            `discriminator_rounds` times, `discriminator_negatives` fresh Y against the pool of
            real sequences, `discriminator_epochs` passes over both in shuffled minibatches of
            `discriminator_batch_size`; and `discriminator_pretrain_rounds` such rounds before the
            first generator step.

SeqGAN's released sequence_gan.py: 120 epochs of MLE; D pre-trained 50 times on 10,000 fresh
negatives against the 10,000 real sequences, 3 epochs each; then 200 adversarial epochs, each
one generator step (64 sequences, 16 rollouts) followed by 5 rounds of 10,000 fresh negatives,
3 epochs each (rounds=5, epochs=3, negatives=10000, pretrain_rounds=50; `experiment=seqgan`).

D is `discriminator=rnn` (zoo.nn.discriminator) or SeqGAN's `cnn` (zoo.nn.cnn_discriminator).
The generator is `model=char_lstm` (any emission: the estimator needs only log G and samples)
or `bayes_lstm`: then each step draws one w ~ q(w), reparameterised, and the policy gradient
reaches q(w) through it; keep mle_weight > 0 so the ELBO's KL holds q(w) near the prior.
The validation NLL is still reported each epoch, but in the adversarial phase it does not
select checkpoints, halve the learning rate or stop the run: best.pt is the latest
(`selects_by_likelihood`). D, its optimiser, the pool of real sequences and the step counters
are part of the checkpoint (`state_dict`), so a run resumed mid-adversarial phase continues exactly.
Rollouts use G itself, as the paper's Algorithm 1 (beta <- theta) and its released code do:
rollout.py's update_params looks like a delayed copy, beta <- 0.8 beta + 0.2 theta, but the
rollout graph is built once from reads of G's live variables, so the update never reaches it.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from pyro.infer import Trace_ELBO
from torch import Tensor
from torch.nn.functional import binary_cross_entropy_with_logits as bce

from zoo.data.batch import Batch
from zoo.errors import ZooError
from zoo.models.bayesian_weights import has_weight_latents
from zoo.nn.swap import swap_parameters
from zoo.objectives.base import Objective, build_lazy_module, lazy_module_state
from zoo.objectives.critic import DISCRIMINATORS, RealPool, adam, dataset_steps, make_discriminator, widen
from zoo.objectives.policy_gradient import reinforce_surrogate, rollout_values


@contextmanager
def policy(model, guide):
    """The generator as a network to sample from and score: the model itself, or for variational
    weights the wrapped network with one w ~ q(w) swapped in (gradients flow to q)."""
    if not has_weight_latents(model):
        yield model
        return
    w = guide()  # {site: tensor}, reparameterised
    with swap_parameters(model.net, model.parameters_from_sites(w)):
        yield model.net


def generator_left_alone(batch: Batch) -> Tensor:
    """A zero loss joined to none of G's parameters: the trainer's step leaves them, and their
    Adam moments, as they are (a parameter without a gradient is skipped)."""
    return torch.zeros((), device=batch.x.device, requires_grad=True)


class SeqGAN(Objective):
    """MLE pre-training, then REINFORCE against a discriminator of whole sequences."""

    def __init__(
        self,
        pretrain_steps: int = 1000,
        discriminator_pretrain_steps: int = 200,
        rollouts: int = 16,
        mle_weight: float = 0.0,
        discriminator_steps: int = 1,
        discriminator: str = "rnn",
        discriminator_hidden: int = 64,
        discriminator_embedding: int = 64,
        discriminator_lr: float = 1e-3,
        discriminator_rounds: int = 0,
        discriminator_pretrain_rounds: int = 0,
        discriminator_epochs: int = 3,
        discriminator_negatives: int = 10000,
        discriminator_batch_size: int = 64,
        baseline: bool = True,
        temperature: float = 1.0,
        discriminator_warmup_steps: int = 0,
    ):
        if (
            min(rollouts, discriminator_steps, discriminator_epochs, discriminator_negatives, discriminator_batch_size)
            < 1
        ):
            raise ZooError(
                f"objective.rollouts={rollouts}, objective.discriminator_steps={discriminator_steps}, "
                f"objective.discriminator_epochs={discriminator_epochs}, objective.discriminator_negatives="
                f"{discriminator_negatives} and objective.discriminator_batch_size="
                f"{discriminator_batch_size} must be at least 1"
            )
        if (
            min(
                pretrain_steps,
                mle_weight,
                discriminator_rounds,
                discriminator_pretrain_rounds,
                discriminator_warmup_steps,
            )
            < 0
        ):
            raise ZooError(
                f"objective.pretrain_steps={pretrain_steps}, objective.mle_weight={mle_weight}, "
                f"objective.discriminator_rounds={discriminator_rounds}, "
                f"objective.discriminator_pretrain_rounds={discriminator_pretrain_rounds} and "
                f"objective.discriminator_warmup_steps={discriminator_warmup_steps} must be at least 0"
            )
        if discriminator not in DISCRIMINATORS:
            raise ZooError(f"objective.discriminator={discriminator!r} is not one of {', '.join(DISCRIMINATORS)}")
        self.pretrain_steps, self.rollouts, self.mle_weight = pretrain_steps, rollouts, mle_weight
        self.discriminator_pretrain_steps = min(discriminator_pretrain_steps, pretrain_steps)
        self.warmup_steps = discriminator_warmup_steps
        self.discriminator_steps, self.baseline, self.temperature = discriminator_steps, baseline, temperature
        self.kind, self.discriminator_hidden, self.discriminator_embedding, self.discriminator_lr = (
            discriminator,
            discriminator_hidden,
            discriminator_embedding,
            discriminator_lr,
        )
        self.rounds, self.pretrain_rounds = discriminator_rounds, discriminator_pretrain_rounds
        self.epochs = discriminator_epochs
        self.negatives, self.discriminator_batch_size = discriminator_negatives, discriminator_batch_size
        self.pool = RealPool(discriminator_negatives) if discriminator_rounds or discriminator_pretrain_rounds else None
        self.mle = Trace_ELBO()
        self.discriminator, self.optimizer = None, None
        self.pending: dict | None = None  # a checkpoint's D and optimiser, loaded once D is built
        self.step, self.adversarial_steps, self.discriminator_updates = 0, 0, 0
        self.progress = {}  # shown beside the loss in the progress bar

    def state_dict(self) -> dict:
        """D and its optimiser (None before D is built), the pool of real sequences and the counters."""
        return {
            "discriminator": lazy_module_state(self.discriminator, self.optimizer),
            "pool": self.pool.state_dict() if self.pool is not None else None,
            "step": self.step,
            "adversarial_steps": self.adversarial_steps,
            "discriminator_updates": self.discriminator_updates,
        }

    def load_state_dict(self, state: dict) -> None:
        if not state:
            return
        self.pending = state["discriminator"]
        if self.pool is not None and state["pool"] is not None:
            self.pool.load_state_dict(state["pool"])
        self.step, self.adversarial_steps = state["step"], state["adversarial_steps"]
        self.discriminator_updates = state["discriminator_updates"]

    @property
    def selects_by_likelihood(self) -> bool:
        """Checkpoints are chosen by validation NLL only while pre-training by maximum likelihood."""
        return self.step < self.pretrain_steps

    def __call__(self, model, guide, batch: Batch, step: int | None = None) -> Tensor:
        self.step = step if step is not None else self.step + 1
        net_type = type(getattr(model, "net", model))
        if not hasattr(net_type, "next_step"):
            raise ZooError(
                f"objective=seqgan trains next-step generators (char_lstm, bayes_lstm), not {net_type.__name__}"
            )
        if self.pool is not None:
            self.pool.add(batch.x, batch.lengths)
        if self.step < self.pretrain_steps:
            if self.step >= self.pretrain_steps - self.discriminator_pretrain_steps:
                self.discriminator_step(model, guide, batch)
            self.progress = {"phase": "mle"}
            return self.mle.differentiable_loss(model, guide, batch)  # -log p(x) (or -ELBO), scaled
        self.make_discriminator(model.spec, batch.x.device)
        if self.step < self.pretrain_steps + self.warmup_steps:
            d_loss = self.discriminator_step(model, guide, batch)
            self.progress = {"phase": "d warm-up", "d_loss": f"{d_loss:.3f}"}
            return generator_left_alone(batch)
        rounds = self.pretrain_rounds if self.adversarial_steps == 0 else self.rounds
        d_loss = self.train_rounds(model, guide, rounds) if rounds else None
        self.adversarial_steps += 1
        with policy(model, guide) as net:
            y = self.generate(net, batch)  # (B, T[, D])
            Q = rollout_values(
                lambda prefix, steps: net.sample(len(prefix), steps, self.temperature, prime=prefix),
                self.reward,
                y,
                batch.lengths,
                self.rollouts,
            )  # (B, T)
            p_y = net.next_step(y)
            log_prob = p_y.log_prob(y)  # (B, T), differentiable in the generator's parameters
        loss = dataset_steps(batch) * reinforce_surrogate(log_prob, Q, batch.mask, self.baseline)
        if not self.rounds:
            d_loss = self.train_discriminator(batch, y)
        reward = Q.gather(1, (batch.lengths - 1)[:, None].to(Q.device)).mean().item()  # mean D(Y)
        self.progress = {"phase": "adv", "reward": f"{reward:.3f}"}
        if d_loss is not None:
            self.progress["d_loss"] = f"{d_loss:.3f}"
        if self.mle_weight:
            loss = loss + self.mle_weight * self.mle.differentiable_loss(model, guide, batch)
        return loss

    def make_discriminator(self, spec, device) -> None:
        if self.discriminator is None:

            def build():
                d = make_discriminator(self.kind, spec, self.discriminator_hidden, self.discriminator_embedding)
                return d.to(device), adam(d.parameters(), self.discriminator_lr)

            self.discriminator, self.optimizer = build_lazy_module(build, self.pending)
            self.pending = None

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

    def update(self, loss: Tensor) -> float:
        """One Adam step of D on `loss`; the loss."""
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.discriminator_updates += 1
        return loss.item()

    def train_discriminator(self, batch: Batch, fake: Tensor) -> float:
        """`discriminator_steps` steps of -log D(x) - log(1 - D(Y)); the last loss."""
        self.discriminator.train()
        for _ in range(self.discriminator_steps):
            loss = self.update(self.discriminator.loss(batch.x, batch.lengths, fake.detach(), batch.lengths))
        return loss

    def train_rounds(self, model, guide, rounds: int) -> float:
        """SeqGAN's schedule: `rounds` times, `negatives` fresh samples of G against the pool of
        real sequences, `epochs` passes over both in shuffled minibatches (the remainder
        dropped, as SeqGAN's loader does) of cross-entropy with labels real 1, generated 0,
        + D's penalty. The mean loss of the last pass."""
        real, real_lengths = self.pool.sequences()  # (P, T[, D]), (P,)
        self.discriminator.train()
        losses = []
        for _ in range(rounds):
            fake, fake_lengths = self.negative_examples(model, guide, real_lengths)
            steps = max(real.shape[1], fake.shape[1])
            x = torch.cat([widen(real, steps), widen(fake, steps)])  # (P + N, T[, D])
            lengths = torch.cat([real_lengths, fake_lengths])
            labels = torch.cat([torch.ones(len(real)), torch.zeros(len(fake))]).to(x.device)
            b = self.discriminator_batch_size
            for _ in range(self.epochs):
                order = torch.randperm(len(x), device=x.device)
                losses = []
                for i in range(max(len(x) // b, 1)):
                    rows = order[i * b : (i + 1) * b]
                    logits = self.discriminator(x[rows], lengths[rows])
                    losses.append(self.update(bce(logits, labels[rows]) + self.discriminator.penalty()))
        return sum(losses) / len(losses)

    @torch.no_grad()
    def negative_examples(self, model, guide, real_lengths: Tensor, chunk: int = 1000) -> tuple[Tensor, Tensor]:
        """`negatives` sequences of G, drawn `chunk` at a time with lengths drawn from the real
        ones: (N, T[, D]), (N,)."""
        lengths = real_lengths[torch.randint(len(real_lengths), (self.negatives,), device=real_lengths.device)]
        steps = int(lengths.max())
        with policy(model, guide) as net:
            fake = torch.cat(
                [
                    net.sample(min(chunk, self.negatives - i), steps, self.temperature)
                    for i in range(0, self.negatives, chunk)
                ]
            )
        return fake, lengths
