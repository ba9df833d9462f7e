"""SWA-Gaussian (Maddox et al. 2019, "A simple baseline for Bayesian uncertainty in deep
learning", arXiv 1902.02476): a q(w) read off the path of a network's own optimiser rather than
fitted by the ELBO.

From a chosen point of training (train.swag_from), every c steps the weights theta_i of the
network are collected, i = 1..n, as one flat vector per weight tensor:

    theta_bar   = (1/n) sum_i theta_i                   the SWA mean (Izmailov et al. 2018)
    theta2_bar  = (1/n) sum_i theta_i^2                 elementwise
    Sigma_diag  = diag(theta2_bar - theta_bar^2)
    D_hat       = [theta_i - theta_bar_i]               the last K collections, theta_bar_i the
                                                        running mean after collection i: (P, K)

    q(w) = N(theta_bar, Sigma_diag / 2 + D_hat D_hat^T / (2 (K - 1)))

and a draw is

    w = theta_bar + Sigma_diag^{1/2} z_1 / sqrt(2) + D_hat z_2 / sqrt(2 (K - 1)),
    z_1 ~ N(0, I_P), z_2 ~ N(0, I_K)

with one z_2 for every tensor of the network, as Maddox et al. draw it: the low-rank part
couples all the weights. Before K collections D_hat holds the n made so far (K = n in the
formulas); with fewer than two the draw is theta_bar's alone.

The draws feed what any weight guide's draws feed (zoo.models.bayesian_weights: the
posterior predictive -log (1/S) sum_s p(x | w_s), its calibration); q's density is never
needed and never computed. Weight decay, the usual companion, is the Gaussian prior's L2 term
under which the trajectory is a MAP search.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo.errors import ZooError


class SwagWeights(nn.Module):
    """SWAG's q(w) over the parameters of `network`, at the sites w.<name> of
    BayesianWeights(network), with a rank-`rank` part from the last `rank` deviations."""

    def __init__(self, network: nn.Module, rank: int = 20):
        super().__init__()
        if rank < 2:
            raise ZooError(f"train.swag_rank={rank} must be at least 2: SWAG's D_hat D_hat^T is divided by K - 1")
        self.rank = rank
        self.names = [f"w.{name}" for name, _ in network.named_parameters()]
        for j, (_, p) in enumerate(network.named_parameters()):
            numel = p.numel()
            like = {"device": p.device, "dtype": p.dtype}
            self.register_buffer(f"mean_{j}", torch.zeros(numel, **like))  # theta_bar
            self.register_buffer(f"square_mean_{j}", torch.zeros(numel, **like))  # theta2_bar
            self.register_buffer(f"deviations_{j}", torch.zeros(rank, numel, **like))  # D_hat^T, a ring
        self.register_buffer("count", torch.zeros((), dtype=torch.long))  # n

    @staticmethod
    def rank_of(moments: dict) -> int:
        """K of a state_dict of SwagWeights: the rows of its first D_hat^T."""
        return len(moments["deviations_0"])

    def _moments(self, j: int) -> tuple[Tensor, Tensor, Tensor]:
        return getattr(self, f"mean_{j}"), getattr(self, f"square_mean_{j}"), getattr(self, f"deviations_{j}")

    @torch.no_grad()
    def collect(self, network: nn.Module) -> None:
        """theta_{n+1}: the network's weights now, into the running moments and D_hat."""
        n = int(self.count)
        for j, (_, p) in enumerate(network.named_parameters()):
            mean, square_mean, deviations = self._moments(j)
            theta = p.detach().reshape(-1).to(mean)
            mean.mul_(n / (n + 1)).add_(theta / (n + 1))
            square_mean.mul_(n / (n + 1)).add_(theta.square() / (n + 1))
            deviations[n % self.rank] = theta - mean  # against the mean after this collection
        self.count += 1

    @property
    def collected(self) -> int:
        return int(self.count)

    def posterior_mean(self) -> dict[str, Tensor]:
        """E_q[w] = theta_bar per site: the SWA network."""
        return {name: self._moments(j)[0] for j, name in enumerate(self.names)}

    @torch.no_grad()
    def forward(self, batch=None) -> dict[str, Tensor]:
        """One draw w ~ q(w): {site: (numel,)}; `batch` is unused (q(w) does not look at the data)."""
        if self.collected == 0:
            raise ZooError("SWAG's q(w) has no collected weights to draw from: train past train.swag_from")
        k = min(self.collected, self.rank)
        z_2 = None
        if k >= 2:  # one z_2 for every tensor
            z_2 = torch.randn(k, dtype=self.mean_0.dtype, device=self.mean_0.device) / (2 * (k - 1)) ** 0.5
        draw = {}
        for j, name in enumerate(self.names):
            mean, square_mean, deviations = self._moments(j)
            variance = (square_mean - mean.square()).clamp(min=0)  # Sigma_diag, rounding kept >= 0
            w = mean + (variance / 2).sqrt() * torch.randn_like(mean)
            if z_2 is not None:
                w = w + z_2 @ deviations[:k]
            draw[name] = w
        return draw
