"""Maximum mean discrepancy (Gretton et al. 2012) with a mixture of Gaussian kernels, as the
generative moment matching networks of Li et al. 2015 use it.

    k(a, b)   = sum_j exp(-|a - b|^2 / (2 s_j^2))          bandwidths s_1..s_J
    MMD^2     = E k(x, x') + E k(y, y') - 2 E k(x, y)       x, x' ~ P;  y, y' ~ Q

`mmd2` is the unbiased estimator (the diagonal terms k(x_i, x_i) left out), differentiable,
so it serves both as a sample statistic and as a training loss. It can dip below zero
when P = Q; its square root is reported (`feature_mmd`) only after clamping at zero.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from zoo.errors import ZooError


def kernel(a: Tensor, b: Tensor, bandwidths: Tensor) -> Tensor:
    """sum_j exp(-|a_i - b_k|^2 / (2 s_j^2)): (N, D), (M, D), (J,) -> (N, M)."""
    squared = torch.cdist(a, b).pow(2)  # (N, M)
    return torch.exp(-squared[..., None] / (2 * bandwidths**2)).sum(-1)


def mmd2(x: Tensor, y: Tensor, bandwidths) -> Tensor:
    """Unbiased MMD^2 between samples x (N, D) of P and y (M, D) of Q, N, M >= 2."""
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ZooError(f"MMD needs two (N, D) sample matrices of one width, got {tuple(x.shape)} and {tuple(y.shape)}")
    if len(x) < 2 or len(y) < 2:
        raise ZooError("MMD needs at least two samples on each side")
    s = torch.as_tensor(bandwidths, dtype=x.dtype, device=x.device).reshape(-1)
    n, m = len(x), len(y)
    k_xx, k_yy, k_xy = kernel(x, x, s), kernel(y, y, s), kernel(x, y, s)
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (n * (n - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return within_x + within_y - 2 * k_xy.mean()


def median_bandwidths(x: Tensor, y: Tensor, factors=(0.5, 1.0, 2.0, 4.0)) -> Tensor:
    """Bandwidths at multiples of the median distance between all pooled points (the median
    heuristic), so a statistic needs no hand-set scale. Falls back to 1 when all points coincide."""
    pooled = torch.cat([x, y]).detach()
    distances = torch.pdist(pooled)
    median = distances.median() if len(distances) else pooled.new_tensor(1.0)
    median = median if median > 0 else pooled.new_tensor(1.0)
    return median * torch.tensor(factors, dtype=pooled.dtype, device=pooled.device)


def feature_mmd(x: torch.Tensor, y: torch.Tensor) -> float:
    """sqrt(max(MMD^2, 0)) between feature rows of samples x (N, D) and held-out data y (M, D)."""
    if len(x) < 2 or len(y) < 2:
        return math.nan
    x, y = x.double(), y.double()
    return math.sqrt(max(mmd2(x, y, median_bandwidths(x, y)).item(), 0.0))
