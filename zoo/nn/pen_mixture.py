"""The mixture density output of Graves 2013 (arXiv 1308.0850), section 4, for pen trajectories.

Each step x_t = (x1, x2, x3) is a pen offset (x1, x2) and an end-of-stroke bit x3. From the
network's output y_hat = (e_hat, pi_hat_{1:M}, mu_hat_{1:M}, sigma_hat_{1:M}, rho_hat_{1:M}):

    e      = sigmoid(e_hat)                         eq. 19 (Graves writes 1 / (1 + exp(e_hat)):
                                                    the same family with the sign of e_hat flipped)
    pi_j   = softmax(pi_hat (1 + b))_j              eq. 20, with the sampling bias b of eq. 62
    mu_j   = mu_hat_j                               eq. 21
    sigma_j = exp(sigma_hat_j - b) + sigma_min      eq. 21, with the bias of eq. 61 and a floor
    rho_j  = tanh(rho_hat_j)                        eq. 22

    p(x_t | y_t) = sum_j pi_j N(x1, x2 | mu_j, sigma_j, rho_j) * (e if x3 = 1 else 1 - e)    eq. 23

N is the bivariate Gaussian of eqs. 24-25. b = 0 in training; b > 0 sharpens samples
(section 5): wider gaps between the mixture weights and narrower Gaussians. The floor
sigma_min (in the data's units) is ours: an axis that does not move for a while (a straight
vertical line) would otherwise let a Gaussian collapse onto it and the density grow without
bound.
"""

from __future__ import annotations

import math

import pyro.distributions as dist
import torch
from torch import Tensor, nn
from torch.distributions import constraints

MAX_RHO = 1 - 1e-5  # |rho| < 1 keeps the Gaussians non-degenerate


class PenOffsetMixture(dist.TorchDistribution):
    """M bivariate Gaussians over the pen offset times a Bernoulli over the end of stroke.

    logits (..., M) mixture logits log pi (up to a constant); loc (..., M, 2); log_scale
    (..., M, 2) log sigma; rho (..., M) in (-1, 1); pen_logits (...) the logit of e.
    Batch shape (...), event shape (3,): (x1, x2, x3) with x3 in {0, 1}.
    """

    arg_constraints = {
        "logits": constraints.real_vector,
        "loc": constraints.real,
        "log_scale": constraints.real,
        "rho": constraints.interval(-1.0, 1.0),
        "pen_logits": constraints.real,
    }
    support = constraints.real_vector
    has_rsample = False

    def __init__(
        self, logits: Tensor, loc: Tensor, log_scale: Tensor, rho: Tensor, pen_logits: Tensor, validate_args=None
    ):
        self.logits, self.loc, self.log_scale, self.rho, self.pen_logits = logits, loc, log_scale, rho, pen_logits
        super().__init__(pen_logits.shape, torch.Size([3]), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(PenOffsetMixture, _instance)
        batch_shape = torch.Size(batch_shape)
        M = self.logits.shape[-1]
        new.logits = self.logits.expand(batch_shape + (M,))
        new.loc = self.loc.expand(batch_shape + (M, 2))
        new.log_scale = self.log_scale.expand(batch_shape + (M, 2))
        new.rho = self.rho.expand(batch_shape + (M,))
        new.pen_logits = self.pen_logits.expand(batch_shape)
        super(PenOffsetMixture, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def offset_log_prob(self, offset: Tensor) -> Tensor:
        """log sum_j pi_j N(offset | mu_j, sigma_j, rho_j), eqs. 23-25: (..., 2) -> (...)."""
        d = (offset[..., None, :] - self.loc) * torch.exp(-self.log_scale)  # standardised, (..., M, 2)
        one_minus_rho2 = 1 - self.rho**2  # (..., M)
        Z = d[..., 0] ** 2 + d[..., 1] ** 2 - 2 * self.rho * d[..., 0] * d[..., 1]  # eq. 25
        log_n = (
            -math.log(2 * math.pi) - self.log_scale.sum(-1) - 0.5 * torch.log(one_minus_rho2) - Z / (2 * one_minus_rho2)
        )  # eq. 24, (..., M)
        return torch.logsumexp(torch.log_softmax(self.logits, -1) + log_n, -1)

    def pen_log_prob(self, pen: Tensor) -> Tensor:
        """log e if the stroke ends here (x3 = 1), else log (1 - e): (...) -> (...)."""
        return -nn.functional.binary_cross_entropy_with_logits(self.pen_logits, pen, reduction="none")

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return self.offset_log_prob(value[..., :2]) + self.pen_log_prob(value[..., 2])

    def sample(self, sample_shape=torch.Size()) -> Tensor:
        """Pick a component j ~ pi, draw (x1, x2) from its Gaussian and x3 ~ Bernoulli(e)."""
        shape = torch.Size(sample_shape) + self.batch_shape
        with torch.no_grad():
            j = dist.Categorical(logits=self.logits).sample(sample_shape)  # (*shape,)
            pick = nn.functional.one_hot(j, self.logits.shape[-1]).to(self.loc.dtype)  # (*shape, M)
            mu = (pick[..., None] * self.loc).sum(-2)  # (*shape, 2)
            sigma = (pick[..., None] * self.log_scale).sum(-2).exp()  # (*shape, 2)
            rho = (pick * self.rho).sum(-1)  # (*shape,)
            eps = torch.randn(shape + (2,), dtype=mu.dtype, device=mu.device)
            x1 = mu[..., 0] + sigma[..., 0] * eps[..., 0]
            x2 = mu[..., 1] + sigma[..., 1] * (rho * eps[..., 0] + torch.sqrt(1 - rho**2) * eps[..., 1])
            x3 = torch.bernoulli(torch.sigmoid(self.pen_logits.expand(shape)))
            return torch.stack([x1, x2, x3], -1)

    @property
    def mean(self) -> Tensor:
        """(sum_j pi_j mu_j, e): (..., 3)."""
        pi = torch.softmax(self.logits, -1)[..., None]  # (..., M, 1)
        return torch.cat([(pi * self.loc).sum(-2), torch.sigmoid(self.pen_logits)[..., None]], -1)


class MixtureDensityEmitter(nn.Module):
    """p(x_t | h_t) = PenOffsetMixture(y_t), y_t = W_y h_t + b_y (Graves 2013, eqs. 17-23).

    `bias` is the sampling bias b of section 5 (0 = the trained model); `temperature` scales
    the sigmas and divides the mixture and pen logits, as for the other emitters.
    """

    def __init__(self, hidden_size: int, components: int = 20, min_scale: float = 1e-2):
        super().__init__()
        self.dim, self.components, self.bias = 3, components, 0.0
        self.log_min_scale = math.log(min_scale)
        self.output = nn.Linear(hidden_size, 1 + 6 * components)  # e_hat, pi_hat, mu_hat, sigma_hat, rho_hat

    @property
    def feature_size(self) -> int:
        return 3

    def features(self, x: Tensor) -> Tensor:
        return x  # the network reads (x1, x2, x3) back: (B, T, 3)

    def forward(self, h: Tensor, temperature: float = 1.0) -> PenOffsetMixture:
        M, b = self.components, self.bias
        y = self.output(h)  # (B, T, 1 + 6M)
        e_hat, pi_hat, mu_hat, sigma_hat, rho_hat = y.split([1, M, 2 * M, 2 * M, M], -1)
        pair = (*h.shape[:-1], M, 2)
        return PenOffsetMixture(
            logits=pi_hat * (1 + b) / temperature,  # eqs. 20, 62
            loc=mu_hat.reshape(pair),  # eq. 21
            log_scale=torch.logaddexp(sigma_hat.reshape(pair) - b, sigma_hat.new_tensor(self.log_min_scale))
            + math.log(temperature),  # eqs. 21, 61
            rho=torch.tanh(rho_hat) * MAX_RHO,  # eq. 22
            pen_logits=e_hat[..., 0] / temperature,  # eq. 19
        )
