"""Losses over (model, guide, batch[, step]), each a differentiable scalar for a torch optimiser."""

from zoo.objectives.elbo import ELBO
from zoo.objectives.iwae import IWAE

__all__ = ["ELBO", "IWAE"]
