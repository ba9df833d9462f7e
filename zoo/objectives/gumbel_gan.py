"""Adversarial training of a token generator through the Gumbel-softmax relaxation of its samples,
as RelGAN does (Nie et al. 2019, arXiv 1812.00364, section 2.3 and its released code): no
rollouts, no REINFORCE; D's gradient reaches the generator through relaxed one-hot tokens.

    g_t ~ Gumbel(0, 1)^V,  o_t = the generator's logits at step t
    x_t = argmax (o_t + g_t)                       the token, read at the next step (RelGAN's choice)
    y_t = softmax(beta_n (o_t + g_t))              a soft one-hot, fed to D (phi(y_t) = y_t^T E)
    beta_n = beta_max^(n / N)                      the inverse temperature, rising over adversarial
                                                   step n (`temperature_schedule`, `inverse_temperature`)

    RSGAN (`loss=rsgan`, RelGAN's):   D: -log sigmoid(D(x) - D(y))    G: -log sigmoid(D(y) - D(x))
    standard (`loss=standard`):        D: -log D(x) - log(1 - D(y))    G: -log D(y)  (non-saturating)

with D(.) the logit of "real" of `discriminator=rnn|cnn` and real x and generated y paired
row by row. After `pretrain_steps` of maximum likelihood, each trainer step makes
`discriminator_steps` D steps (real sequences drawn from a pool of the minibatches seen, fresh
relaxed samples) and then returns G's loss (+ mle_weight x the teacher-forced NLL).

RelGAN's released oracle run: MLE 150 epochs (Adam 1e-2), then 3,000 adversarial steps of one
G step and 5 D steps, Adam 1e-4 for both, batch 64, RSGAN, beta_max in {2, 5, 10, 100} (1,000
on real text), `adapt=exp` with N = 5,000 fixed in its get_fixed_temperature (so beta reaches
beta_max^(3000/5000) there). For char_lstm or bayes_lstm on token data; bayes_lstm draws one
w ~ q(w) per step by reparameterisation, and the relaxed gradient reaches q(w) through it.
"""

from __future__ import annotations

import math

import torch
from pyro.infer import Trace_ELBO
from torch import Tensor
from torch.nn.functional import binary_cross_entropy_with_logits as bce

from zoo.data.batch import Batch
from zoo.errors import ZooError
from zoo.nn.emissions import CategoricalEmitter
from zoo.objectives.base import Objective, build_lazy_module, lazy_module_state
from zoo.objectives.critic import DISCRIMINATORS, RealPool, adam, dataset_steps, make_discriminator
from zoo.objectives.seqgan import policy

SCHEDULES = ("no", "lin", "exp", "log", "sigmoid", "quad", "sqrt")
LOSSES = ("rsgan", "standard")


def inverse_temperature(n: int, beta_max: float, anneal_steps: int, schedule: str = "exp") -> float:
    """beta_n = 1 / tau_n at adversarial step n, from 1 at n = 0 to beta_max at n = N = anneal_steps
    and held there (RelGAN's get_fixed_temperature, with u = n / N throughout):

        no       beta_max                          lin    1 + (beta_max - 1) u
        exp      beta_max^u                        quad   1 + (beta_max - 1) u^2
        log      1 + (beta_max - 1) log(1 + n) / log(1 + N)
        sigmoid  1 + (beta_max - 1) / (1 + exp(10 - 20 u))
        sqrt     1 + (beta_max - 1) sqrt(u)
    """
    if schedule not in SCHEDULES:
        raise ZooError(f"objective.temperature_schedule={schedule!r} is not one of {', '.join(SCHEDULES)}")
    if schedule == "no" or anneal_steps <= 0 or n >= anneal_steps:
        return beta_max
    u, rise = n / anneal_steps, beta_max - 1
    if schedule == "exp":
        return beta_max**u
    if schedule == "log":
        return 1 + rise * math.log1p(n) / math.log1p(anneal_steps)
    if schedule == "sigmoid":
        return 1 + rise / (1 + math.exp(10 - 20 * u))
    return 1 + rise * {"lin": u, "quad": u * u, "sqrt": math.sqrt(u)}[schedule]


def adversarial_losses(d_real: Tensor, d_fake: Tensor, loss: str) -> tuple[Tensor, Tensor]:
    """(D's loss, G's loss) from D's logits on paired real and generated sequences, (B,) each."""
    ones = torch.ones_like(d_real)
    if loss == "rsgan":  # relativistic standard GAN (Jolicoeur-Martineau 2019), RelGAN's choice
        return bce(d_real - d_fake, ones), bce(d_fake - d_real, ones)
    return bce(d_real, ones) + bce(d_fake, torch.zeros_like(d_fake)), bce(d_fake, ones)


def check_generator(model) -> None:
    """Refuse a generator without a softmax output over tokens, in one line."""
    net = getattr(model, "net", model)
    if not hasattr(net, "relaxed_sample") or not isinstance(getattr(net, "emitter", None), CategoricalEmitter):
        kind = getattr(getattr(model, "spec", None), "kind", "?")
        raise ZooError(
            f"objective=gumbel_gan needs a next-step generator with a softmax output over tokens "
            f"(model=char_lstm or bayes_lstm on token data), not {type(net).__name__} "
            f"with {type(getattr(net, 'emitter', None)).__name__} on {kind} data"
        )


class GumbelGAN(Objective):
    """MLE pre-training, then G and D steps through Gumbel-softmax tokens at a rising inverse temperature."""

    def __init__(
        self,
        pretrain_steps: int = 1000,
        loss: str = "rsgan",
        inverse_temperature: float = 1000.0,
        temperature_schedule: str = "exp",
        anneal_steps: int = 5000,
        discriminator: str = "rnn",
        discriminator_steps: int = 5,
        discriminator_hidden: int = 64,
        discriminator_embedding: int = 64,
        discriminator_lr: float = 1e-4,
        soft_inputs: bool = False,
        mle_weight: float = 0.0,
        pool_size: int = 10000,
    ):
        if loss not in LOSSES:
            raise ZooError(f"objective.loss={loss!r} is not one of {', '.join(LOSSES)}")
        if temperature_schedule not in SCHEDULES:
            raise ZooError(
                f"objective.temperature_schedule={temperature_schedule!r} is not one of {', '.join(SCHEDULES)}"
            )
        if discriminator not in DISCRIMINATORS:
            raise ZooError(f"objective.discriminator={discriminator!r} is not one of {', '.join(DISCRIMINATORS)}")
        if inverse_temperature < 1:
            raise ZooError(
                f"objective.inverse_temperature={inverse_temperature} (beta_max = 1 / tau_min) must be at least 1"
            )
        if min(discriminator_steps, pool_size) < 1 or min(pretrain_steps, anneal_steps, mle_weight) < 0:
            raise ZooError(
                f"objective.discriminator_steps={discriminator_steps} and objective.pool_size={pool_size} "
                f"must be at least 1, objective.pretrain_steps={pretrain_steps}, objective.anneal_steps="
                f"{anneal_steps} and objective.mle_weight={mle_weight} at least 0"
            )
        self.pretrain_steps, self.loss, self.mle_weight = pretrain_steps, loss, mle_weight
        self.soft_inputs = soft_inputs
        self.beta_max, self.schedule, self.anneal_steps = inverse_temperature, temperature_schedule, anneal_steps
        self.kind, self.discriminator_steps, self.discriminator_hidden, self.discriminator_embedding = (
            discriminator,
            discriminator_steps,
            discriminator_hidden,
            discriminator_embedding,
        )
        self.discriminator_lr = discriminator_lr
        self.pool = RealPool(pool_size)
        self.mle = Trace_ELBO()
        self.discriminator, self.optimizer = None, None
        self.pending: dict | None = None  # a checkpoint's D and optimiser, loaded once D is built
        self.step = 0
        self.progress = {}  # shown beside the loss in the progress bar

    def state_dict(self) -> dict:
        """D and its optimiser (None before D is built), the pool of real sequences and the step."""
        return {
            "discriminator": lazy_module_state(self.discriminator, self.optimizer),
            "pool": self.pool.state_dict(),
            "step": self.step,
        }

    def load_state_dict(self, state: dict) -> None:
        if not state:
            return
        self.pending, self.step = state["discriminator"], state["step"]
        self.pool.load_state_dict(state["pool"])

    @property
    def selects_by_likelihood(self) -> bool:
        """Checkpoints are chosen by validation NLL only while pre-training by maximum likelihood."""
        return self.step < self.pretrain_steps

    @property
    def beta(self) -> float:
        """The inverse temperature of this step's relaxation."""
        return inverse_temperature(
            max(self.step - self.pretrain_steps, 0), self.beta_max, self.anneal_steps, self.schedule
        )

    def __call__(self, model, guide, batch: Batch, step: int | None = None) -> Tensor:
        self.step = step if step is not None else self.step + 1
        check_generator(model)
        self.pool.add(batch.x, batch.lengths)
        if self.step < self.pretrain_steps:
            self.progress = {"phase": "mle"}
            return self.mle.differentiable_loss(model, guide, batch)  # -log p(x) (or -ELBO), scaled
        if self.discriminator is None:

            def build():
                d = make_discriminator(self.kind, model.spec, self.discriminator_hidden, self.discriminator_embedding)
                return d.to(batch.x.device), adam(d.parameters(), self.discriminator_lr)

            self.discriminator, self.optimizer = build_lazy_module(build, self.pending)
            self.pending = None
        beta, steps = self.beta, batch.x.shape[1]
        d_loss = self.train_discriminator(model, guide, batch.batch_size, steps, beta)
        with policy(model, guide) as net:
            _, y = net.relaxed_sample(batch.batch_size, steps, beta, self.soft_inputs)  # (B, T, V), differentiable
        d_real, d_fake = self.discriminator(batch.x, batch.lengths), self.discriminator(y, batch.lengths)
        _, g_loss = adversarial_losses(d_real, d_fake, self.loss)  # D's gradients from here are cleared next step
        self.progress = {
            "phase": "adv",
            "beta": f"{beta:.3g}",
            "d_loss": f"{d_loss:.3f}",
            "g_loss": f"{g_loss.item():.3f}",
        }
        loss = dataset_steps(batch) * g_loss
        if self.mle_weight:
            loss = loss + self.mle_weight * self.mle.differentiable_loss(model, guide, batch)
        return loss

    def train_discriminator(self, model, guide, n: int, steps: int, beta: float) -> float:
        """`discriminator_steps` steps of D's loss, each on n real sequences from the pool and n
        fresh relaxed samples of G (as long as the minibatch, read at the real ones' lengths); the last loss."""
        self.discriminator.train()
        for _ in range(self.discriminator_steps):
            real, lengths = self.pool.sample(n)  # (n, T_r), (n,)
            with torch.no_grad(), policy(model, guide) as net:
                _, y = net.relaxed_sample(n, max(steps, real.shape[1]), beta, self.soft_inputs)  # (n, T, V)
            d_loss, _ = adversarial_losses(self.discriminator(real, lengths), self.discriminator(y, lengths), self.loss)
            loss = d_loss + self.discriminator.penalty()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        return loss.item()
