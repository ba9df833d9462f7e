"""Small layers the recurrent latent-variable models share."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.functional import softplus


class MLP(nn.Sequential):
    """x -> ReLU(W_1 x + b_1) -> ... : the feature extractors phi(.) of Chung et al. 2015."""

    def __init__(self, in_size: int, out_size: int, layers: int = 1):
        blocks = []
        for i in range(layers):
            blocks += [nn.Linear(in_size if i == 0 else out_size, out_size), nn.ReLU()]
        super().__init__(*blocks)


class GaussianHead(nn.Module):
    """h -> (mu, sigma) of a diagonal Gaussian, sigma = softplus(W_s h + b_s) + a small floor."""

    def __init__(self, in_size: int, out_size: int, min_scale: float = 1e-4):
        super().__init__()
        self.loc = nn.Linear(in_size, out_size)
        self.scale = nn.Linear(in_size, out_size)
        self.min_scale = min_scale

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor]:
        return self.loc(h), softplus(self.scale(h)) + self.min_scale


def reverse_padded(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence of x (B, T, ...) within its own length; padding stays at the end."""
    T = x.shape[1]
    t = torch.arange(T, device=x.device)[None, :]  # (1, T)
    index = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # (B, T)
    return x.gather(1, index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x))
