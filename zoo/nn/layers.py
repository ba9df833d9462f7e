"""Small layers the recurrent latent-variable models share."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.functional import relu, softplus


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


class MarkovGaussian(nn.Module):
    """(mu, sigma) of N(z_t | .) from an MLP of [z_{t-1}, c_t]:
    (mu, sigma) = GaussianHead(ReLU(W_z z_{t-1} + W_c c_t + b)).
    The context's share W_c c_t can be computed for every t at once (`project`), so a loop
    over t does only the z_{t-1} half."""

    def __init__(self, z_size: int, context_size: int, hidden_size: int):
        super().__init__()
        self.from_z = nn.Linear(z_size, hidden_size)
        self.from_context = nn.Linear(context_size, hidden_size, bias=False)
        self.head = GaussianHead(hidden_size, z_size)

    def project(self, c: Tensor) -> Tensor:
        """W_c c_t: (..., C) -> (..., F)."""
        return self.from_context(c)

    def step(self, z_prev: Tensor, projected: Tensor) -> tuple[Tensor, Tensor]:
        """(mu, sigma) given z_{t-1} (..., Z) and W_c c_t (..., F): (..., Z) x2."""
        return self.head(relu(self.from_z(z_prev) + projected))

    def mean(self, z_prev: Tensor, projected: Tensor) -> Tensor:
        """mu alone, as `step` computes it: (..., Z)."""
        return self.head.loc(relu(self.from_z(z_prev) + projected))

    def forward(self, z_prev: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        return self.step(z_prev, self.project(c))


def skips_padding(x: Tensor) -> bool:
    """Whether work on a ragged batch x picks out its real steps: on a CPU, where a padded step
    costs what a real one does; not on an accelerator, where a padded batch is one kernel and
    picking rows costs a synchronisation."""
    return x.device.type == "cpu"


def on_real_steps(f, *xs: Tensor, lengths: Tensor, fill: float | tuple[float, ...] = 0.0):
    """f applied step by step to a ragged batch: f(x_t, ...) at each sequence's real steps, for
    tensors xs (B, T, ...) and lengths (B,); returns (B, T, O), or a tuple of them as f returns,
    holding `fill` (one value, or one per output) past each sequence's end. Where
    `skips_padding`, f sees the real steps only, so it costs them and not the padding;
    elsewhere f sees every step and the padding is filled after."""
    B, T = xs[0].shape[:2]
    real = torch.arange(T, device=xs[0].device) < lengths.to(xs[0].device)[:, None]  # (B, T)
    if skips_padding(xs[0]):
        index = real.reshape(-1).nonzero().squeeze(1)  # the real steps: (N,)
        out = f(*(x.reshape(B * T, *x.shape[2:])[index] for x in xs))  # (N, O)

        def place(y: Tensor, value: float) -> Tensor:  # (N, O) -> (B, T, O)
            return y.new_full((B * T, *y.shape[1:]), value).index_copy(0, index, y).view(B, T, *y.shape[1:])
    else:
        out = f(*xs)  # (B, T, O)

        def place(y: Tensor, value: float) -> Tensor:
            return y.masked_fill(~real.view(B, T, *[1] * (y.dim() - 2)), value)

    if isinstance(out, tuple):
        return tuple(place(y, v) for y, v in zip(out, fill if isinstance(fill, tuple) else (fill,) * len(out)))
    return place(out, fill)


def reverse_padded(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence of x (B, T, ...) within its own length; padding stays at the end."""
    T = x.shape[1]
    t = torch.arange(T, device=x.device)[None, :]  # (1, T)
    index = torch.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)  # (B, T)
    return x.gather(1, index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x))
