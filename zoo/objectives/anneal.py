"""KL annealing: the latent terms of the bound weighted by beta, rising from 0 to 1
(Bowman et al. 2015; Sønderby et al. 2016), linearly or along a logistic curve."""

from __future__ import annotations

import math

from pyro.poutine.messenger import Messenger

from zoo.errors import ZooError
from zoo.estimators.sites import is_latent

SHAPES = ("linear", "sigmoid")


class ScaleLatents(Messenger):
    """Multiply the log-density of every latent site (zoo.estimators.sites.is_latent) by beta, in model and guide
    alike, so log p(z) - log q(z) (the KL term) is weighted by beta and log p(x | z) is not."""

    def __init__(self, beta: float):
        super().__init__()
        self.beta = beta

    def _process_message(self, msg):
        if is_latent(msg):
            msg["scale"] = msg["scale"] * self.beta


def linear_beta(step: int, anneal_steps: int) -> float:
    """beta = min(1, step / anneal_steps); 1 when anneal_steps is 0."""
    return 1.0 if anneal_steps <= 0 else min(1.0, step / anneal_steps)


def sigmoid_beta(step: int, anneal_steps: int, sharpness: float = 10.0) -> float:
    """A logistic rise (Bowman et al. 2015 anneal with a logistic function of the step):
    s(u) = 1 / (1 + exp(-sharpness (u - 1/2))) at u = step / anneal_steps, rescaled so that
    beta = 0 at step 0, 1/2 at anneal_steps / 2 and 1 from anneal_steps on; 1 when anneal_steps is 0."""
    if anneal_steps <= 0 or step >= anneal_steps:
        return 1.0

    def s(u: float) -> float:
        return 1.0 / (1.0 + math.exp(-sharpness * (u - 0.5)))

    return max(0.0, (s(step / anneal_steps) - s(0.0)) / (s(1.0) - s(0.0)))


def kl_weight(step: int, anneal_steps: int, shape: str = "linear") -> float:
    """beta at a training step for `objective.anneal_shape` linear or sigmoid."""
    if shape not in SHAPES:
        raise ZooError(f"objective.anneal_shape={shape!r} is not one of {', '.join(SHAPES)}")
    return linear_beta(step, anneal_steps) if shape == "linear" else sigmoid_beta(step, anneal_steps)


def annealed(model, guide, beta: float):
    """(model, guide) with their latent sites scaled by beta; unchanged when beta == 1."""
    if beta == 1.0:
        return model, guide
    return ScaleLatents(beta)(model), ScaleLatents(beta)(guide)
