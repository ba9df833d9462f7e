"""The guide of a model with no latent variables."""

from torch import nn


class NoLatents(nn.Module):
    """q = nothing: every random variable of the model is observed, so the ELBO is the
    exact log-likelihood."""

    def __init__(self, model: nn.Module | None = None):
        super().__init__()

    def forward(self, batch=None) -> dict:
        return {}
