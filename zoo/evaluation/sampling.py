"""Drawing sequences from a trained model/guide pair: the options of a draw, a text prime, the
sampling bias of a mixture density output (Graves 2013, eqs. 61-62), and many sequences drawn a
batch at a time. What is drawn is judged here (sample statistics, the two-sample test, NLL-oracle)
and written by zoo.reports."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from zoo.data.dataset import DataSpec
from zoo.errors import ZooError
from zoo.models.bayesian_weights import has_weight_latents
from zoo.nn.pen_mixture import MixtureDensityEmitter
from zoo.options import check_at_least, check_fields


@dataclass
class SampleOptions:
    """How to draw samples: `sample.<field>` of zoo.run, `<field>=` of zoo.sample."""

    prefix: ClassVar[str] = "sample."  # how the command line spells the options
    n: int = 4  # sequences drawn
    length: int = 400  # new steps each
    temperature: float = 1.0  # < 1 sharpens the output distribution
    prime: str | None = None  # a text prefix to continue
    bias: float = 0.0  # pen strokes (emission mdn): Graves's sampling bias b >= 0; larger = neater

    def __post_init__(self):
        p = self.prefix
        check_fields(self, p)
        check_at_least(self, {"n": 1, "length": 1}, p)
        if not 0 < self.temperature < float("inf"):
            raise ZooError(f"{p}temperature={self.temperature:g} must be a positive number")
        if not 0 <= self.bias < float("inf"):
            raise ZooError(f"{p}bias={self.bias:g} must be >= 0 (0 = the trained model; larger = neater)")


def draw(model, guide, n: int, length: int, temperature: float = 1.0, prime: torch.Tensor | None = None):
    """n sequences of `length` new steps. A model with weight latents uses one draw
    w ~ q(w) for all n (a single network from the posterior)."""
    model.eval()
    if has_weight_latents(model):
        with torch.no_grad():
            weights = guide()
        return model.sample(weights, n, length, temperature, prime)
    return model.sample(n, length, temperature, prime)


def draw_in_batches(model, guide, n: int, length: int, batch_size: int = 250, temperature: float = 1.0) -> Tensor:
    """n sequences of `length` steps on the CPU, (n, length[, D]), drawn `batch_size` at a time
    at `temperature`; a model with weight latents takes a fresh w ~ q(w) for each batch, so many
    batches come from its posterior predictive rather than one network."""
    with torch.no_grad():
        pieces = [
            draw(model, guide, min(batch_size, n - i), length, temperature).cpu() for i in range(0, n, batch_size)
        ]
    return torch.cat(pieces)


def encode_prime(spec: DataSpec, prime: str | None) -> torch.Tensor | None:
    """A text prefix as token ids; piano-roll models are primed from data, not from the CLI."""
    if not prime:
        return None
    if spec.vocab is None:
        raise ZooError("sample.prime is a text prefix, but this data set is not text")
    return spec.vocab.encode(prime)


def biased_emitters(model, b: float) -> list[MixtureDensityEmitter]:
    """The mixture density outputs a sampling bias b applies to; an error when b is
    negative, or positive for a model that has none."""
    if b < 0:
        raise ZooError(f"sample.bias={b} must be >= 0 (0 = the trained model; larger = neater)")
    emitters = [m for m in model.modules() if isinstance(m, MixtureDensityEmitter)]
    if not emitters and b != 0:
        raise ZooError("sample.bias applies to the mixture density output only (model.net.emission=mdn)")
    return emitters


@contextmanager
def sampling_bias(model, b: float):
    """Within the block, every mixture density output of `model` samples with bias b (eqs. 61-62)."""
    emitters = biased_emitters(model, b)
    before = [e.bias for e in emitters]
    for e in emitters:
        e.bias = b
    try:
        yield
    finally:
        for e, old in zip(emitters, before):
            e.bias = old
