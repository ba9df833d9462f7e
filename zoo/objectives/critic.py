"""What the adversarial objectives share: a critic of codes or states, the discriminators of
whole sequences (`objective.discriminator=rnn|cnn`), a pool of real sequences for them, and
the number of steps a minibatch term is scaled to."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.functional import binary_cross_entropy_with_logits as bce

from zoo.data.batch import Batch
from zoo.data.dataset import DataSpec
from zoo.errors import ZooError
from zoo.nn.cnn_discriminator import ConvolutionalDiscriminator
from zoo.nn.discriminator import RecurrentDiscriminator, SequenceDiscriminator
from zoo.objectives.base import build_lazy_module, lazy_module_state

DISCRIMINATORS = ("rnn", "cnn")


def adam(params, lr: float, betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.Adam:
    """Adam for a discriminator or critic, as one fused kernel over all its tensors: SeqGAN's CNN
    has 7 million weights, and the per-tensor update took a third of its step on a CPU thread."""
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)


def dataset_steps(batch: Batch) -> Tensor:
    """dataset_size x the minibatch's mean length: a per-step term times this reads per step once
    the trainer divides the loss by the training steps, as the scaled likelihood does."""
    return batch.dataset_size * batch.lengths.float().mean()


class Critic:
    """D: a code or state -> logit of "real", an MLP with its own Adam, made at the first call."""

    def __init__(self, hidden_size: int = 128, lr: float = 1e-3):
        self.hidden_size, self.lr = hidden_size, lr
        self.net, self.optimizer = None, None
        self.pending: dict | None = None  # a checkpoint's state, loaded once the net is built

    def state_dict(self) -> dict | None:
        """The MLP's and its Adam's state; None before the first step built them."""
        return lazy_module_state(self.net, self.optimizer)

    def load_state_dict(self, state: dict | None) -> None:
        """state_dict's value, loaded into the MLP when its first step builds it (its width is the codes')."""
        self.pending = state

    def build(self, width: int, device) -> tuple[nn.Module, torch.optim.Optimizer]:
        """The MLP of codes `width` wide, and its Adam."""
        h = self.hidden_size
        net = nn.Sequential(
            nn.Linear(width, h), nn.LeakyReLU(0.2), nn.Linear(h, h), nn.LeakyReLU(0.2), nn.Linear(h, 1)
        ).to(device)
        return net, adam(net.parameters(), self.lr, betas=(0.5, 0.999))

    def step(self, real: Tensor, fake: Tensor) -> float:
        """One ascent step of log D(real) + log(1 - D(fake)) on detached inputs; its loss."""
        if self.net is None:
            self.net, self.optimizer = build_lazy_module(lambda: self.build(real.shape[-1], real.device), self.pending)
            self.pending = None
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


def make_discriminator(
    kind: str, spec: DataSpec, hidden_size: int = 64, embedding_size: int = 64, bidirectional: bool = False
) -> SequenceDiscriminator:
    """D of whole sequences: `rnn`, an LSTM of `hidden_size` units (zoo.nn.discriminator), or
    `cnn`, SeqGAN's convolutional one with its sizes (zoo.nn.cnn_discriminator)."""
    if kind == "rnn":
        return RecurrentDiscriminator(spec, hidden_size, embedding_size, bidirectional=bidirectional)
    if kind == "cnn":
        return ConvolutionalDiscriminator(spec, embedding_size)
    raise ZooError(f"objective.discriminator={kind!r} is not one of {', '.join(DISCRIMINATORS)}")


class RealPool:
    """The latest `capacity` real sequences of the minibatches seen, padded to the longest:
    the positive examples D retrains on (SeqGAN's positive file is the whole training set;
    a pass over the training data fills the pool with as much of it as it holds)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.x: Tensor | None = None  # (capacity, T[, D])
        self.lengths: Tensor | None = None  # (capacity,)
        self.size, self.next = 0, 0

    def __len__(self) -> int:
        return self.size

    def add(self, x: Tensor, lengths: Tensor) -> None:
        """Keep the sequences of a minibatch, (B, T[, D]) and (B,), in place of the oldest."""
        x, lengths = x.detach()[-self.capacity :], lengths.detach()[-self.capacity :].to(x.device)
        if self.x is None:
            self.x = x.new_zeros((self.capacity, *x.shape[1:]))
            self.lengths = lengths.new_zeros(self.capacity)
        elif self.x.device != x.device:  # restored from a checkpoint read onto the CPU
            self.x, self.lengths = self.x.to(x.device), self.lengths.to(x.device)
        if x.shape[1] > self.x.shape[1]:
            self.x = widen(self.x, x.shape[1])
        rows = (self.next + torch.arange(len(x), device=x.device)) % self.capacity
        self.x[rows] = widen(x, self.x.shape[1])
        self.lengths[rows] = lengths
        self.next = int(rows[-1] + 1) % self.capacity
        self.size = min(self.size + len(x), self.capacity)

    def state_dict(self) -> dict:
        """The kept sequences and where the next minibatch goes."""
        return {"x": self.x, "lengths": self.lengths, "size": self.size, "next": self.next}

    def load_state_dict(self, state: dict) -> None:
        self.x, self.lengths, self.size, self.next = state["x"], state["lengths"], state["size"], state["next"]

    def sequences(self) -> tuple[Tensor, Tensor]:
        """Every kept sequence and its length: (N, T[, D]), (N,)."""
        return self.x[: self.size], self.lengths[: self.size]

    def sample(self, n: int) -> tuple[Tensor, Tensor]:
        """n kept sequences drawn uniformly with replacement, trimmed to the longest of them."""
        rows = torch.randint(self.size, (n,), device=self.x.device)
        lengths = self.lengths[rows]
        return self.x[rows, : int(lengths.max())], lengths


def widen(x: Tensor, steps: int) -> Tensor:
    """x (N, T[, D]) padded with zero steps to (N, steps[, D])."""
    if x.shape[1] == steps:
        return x
    return torch.cat([x, x.new_zeros((x.shape[0], steps - x.shape[1], *x.shape[2:]))], 1)
