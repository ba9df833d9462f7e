"""Losses over (model, guide, batch), each a differentiable scalar for a torch optimiser."""

from zoo.objectives.elbo import ELBO

__all__ = ["ELBO"]
