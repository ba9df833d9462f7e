"""The Deep Markov Model (Krishnan, Shalit & Sontag 2017, "Structured inference networks for
nonlinear state space models", arXiv 1609.09869), with the paper's gated transition function
(section 5) and the zoo's emitters, after Pyro's examples/dmm.py.

    g_t   = sigmoid(W_g2 ReLU(W_g1 z_{t-1} + b_g1) + b_g2)              gate
    h_t   = W_h2 ReLU(W_h1 z_{t-1} + b_h1) + b_h2                        proposed mean
    mu_t  = (1 - g_t) * (W_mu z_{t-1} + b_mu) + g_t * h_t                transition mean (W_mu starts as I)
    sig_t = softplus(W_sig ReLU(h_t) + b_sig)                            transition scale
    z_t   ~ N(mu_t, diag sig_t^2),  z_0 learned                          p(z_t | z_{t-1})
    x_t   ~ p(x_t | MLP(z_t))                                            p(x_t | z_t): any zoo emitter

There is no deterministic recurrence: all memory lives in z_t. The path z_{1:T} is one sample
site "z" (a DMMPrior), and its KL against a Gaussian path guide is registered in closed form.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from torch import Tensor, nn
from torch.nn.functional import softplus

from zoo.data.batch import Batch
from zoo.data.dataset import DataSpec
from zoo.nn.emissions import make_emitter
from zoo.nn.gaussian_path import PathPrior
from zoo.nn.layers import MLP


class GatedTransition(nn.Module):
    """p(z_t | z_{t-1}) = N(mu_t, sig_t): the gated transition function of Krishnan et al. 2017."""

    def __init__(self, z_size: int, transition_size: int, min_scale: float = 1e-4):
        super().__init__()
        self.gate = nn.Sequential(MLP(z_size, transition_size), nn.Linear(transition_size, z_size), nn.Sigmoid())
        self.proposed_mean = nn.Sequential(MLP(z_size, transition_size), nn.Linear(transition_size, z_size))
        self.z_to_loc = nn.Linear(z_size, z_size)
        nn.init.eye_(self.z_to_loc.weight)  # starts as the identity, as in Pyro's example
        nn.init.zeros_(self.z_to_loc.bias)
        self.z_to_scale = nn.Linear(z_size, z_size)
        self.min_scale = min_scale

    def forward(self, z_prev: Tensor) -> tuple[Tensor, Tensor]:
        """(mu_t, sig_t): (..., Z) -> (..., Z) x2."""
        g = self.gate(z_prev)
        h = self.proposed_mean(z_prev)
        loc = (1 - g) * self.z_to_loc(z_prev) + g * h
        scale = softplus(self.z_to_scale(torch.relu(h))) + self.min_scale
        return loc, scale


class DMM(nn.Module):
    """p(x_{1:T}, z_{1:T}) = prod_t p(z_t | z_{t-1}) p(x_t | z_t)."""

    def __init__(
        self,
        spec: DataSpec,
        z_size: int = 100,
        transition_size: int = 200,
        hidden_size: int = 100,
        emission: str = "auto",
        embedding_size: int | None = None,
        components: int | None = None,
    ):
        super().__init__()
        self.spec, self.z_size, self.hidden_size = spec, z_size, hidden_size
        self.transition = GatedTransition(z_size, transition_size)
        self.z_to_emission = MLP(z_size, hidden_size, layers=2)  # Pyro's Emitter: two ReLU layers
        self.emitter = make_emitter(spec, hidden_size, emission, embedding_size, components)
        self.z_0 = nn.Parameter(torch.zeros(z_size))  # z_0, learned: p(z_1) = p(z_1 | z_0)

    @property
    def feature_size(self) -> int:
        """The width of features(x), which a guide reads."""
        return self.emitter.feature_size

    # -- the factors -------------------------------------------------------------------------

    def features(self, x: Tensor) -> Tensor:
        """What x_t says to a guide or an SMC step: the emitter's features, (B, T[, D]) -> (B, T, F)."""
        return self.emitter.features(x)

    def emission(self, z: Tensor, temperature: float = 1.0) -> dist.Distribution:
        """p(x_t | z_t): (..., Z) -> batch shape (...)."""
        return self.emitter(self.z_to_emission(z), temperature)

    def initial_state(self, batch_size: int) -> Tensor:
        return self.z_0.expand(batch_size, self.z_size)  # z_0: (B, Z)

    def previous(self, z: Tensor) -> Tensor:
        """z_{t-1} for every t of a path: (B, T, Z) -> (B, T, Z), z_0 first."""
        return torch.cat([self.initial_state(z.shape[0])[:, None], z[:, :-1]], 1)

    # -- the Pyro model ------------------------------------------------------------------------

    def forward(self, batch: Batch) -> None:
        x, mask = batch.x, batch.mask
        with pyro.plate("sequences", batch.dataset_size, subsample_size=batch.batch_size):
            p_z = DMMPrior(self, mask)
            z = pyro.sample("z", p_z)  # (B, T, Z)
            p_z.params(z)  # now, with the weights in place (variational weights are swapped out later)
            p_x = self.emission(z)  # batch shape (B, T)
            pyro.sample("x", p_x.mask(mask).to_event(1), obs=x)

    # -- one step at a time, for SMC (zoo.estimators.smc) ---------------------------------------

    def smc_init(self, batch: Batch) -> tuple[tuple[Tensor, Tensor], tuple[Tensor]]:
        """Context (x, the emitter's features of x), (B, T, ...), and state (z_0,) of every sequence."""
        return (batch.x, self.features(batch.x)), (self.initial_state(batch.batch_size),)

    def smc_step(self, context_t, state, z_t: Tensor) -> tuple[Tensor, Tensor, tuple[Tensor]]:
        """(log p(z_t | z_{t-1}), log p(x_t | z_t), (z_t,)) from context_t = (x_t, its features): (R,) each."""
        (x_t, _), (z_prev,) = context_t, state
        loc, scale = self.transition(z_prev)
        log_p_z = dist.Normal(loc, scale).log_prob(z_t).sum(-1)
        return log_p_z, self.emission(z_t).log_prob(x_t), (z_t,)

    # -- new sequences -------------------------------------------------------------------------

    @torch.no_grad()
    def sample(
        self, n: int, length: int, temperature: float = 1.0, prime: Tensor | None = None, prime_particles: int = 256
    ) -> Tensor:
        """Ancestral sampling for `length` steps: (n, P + length[, D]). A prime x_{1:P} is read by
        a bootstrap particle filter (proposal p(z_t | z_{t-1}), weight p(x_t | z_t), resampling
        every step), and each sample continues from one of its particles, z_P ~ p(z_P | x_{1:P})."""
        z = self.initial_state(n)  # (n, Z)
        pieces = []
        if prime is not None and len(prime) > 0:
            prime = prime.to(z.device)
            z = self.initial_state(prime_particles)  # (K, Z)
            log_w = z.new_zeros(prime_particles)
            for t in range(len(prime)):
                z = z[torch.multinomial(torch.softmax(log_w, 0), prime_particles, replacement=True)]
                loc, scale = self.transition(z)
                z = loc + scale * torch.randn_like(loc)
                log_w = self.emission(z).log_prob(prime[t].expand(prime_particles, *prime.shape[1:]))  # (K,)
            z = z[torch.multinomial(torch.softmax(log_w, 0), n, replacement=True)]  # (n, Z)
            pieces.append(prime.expand(n, *prime.shape))
        for _ in range(length):
            loc, scale = self.transition(z)
            z = loc + scale * torch.randn_like(loc)  # (n, Z)
            pieces.append(self.emission(z, temperature).sample()[:, None])  # (n, 1[, D])
        return torch.cat(pieces, 1)


class DMMPrior(PathPrior):
    """p(z_{1:T}) = prod_t N(z_t | mu_t(z_{t-1}), sig_t(z_{t-1})); steps past a sequence's length
    are masked out. Batch (B,), event (T, Z)."""

    def __init__(self, dmm: DMM, mask: Tensor):
        self.dmm = dmm
        self._path = None  # (z, (mu, sig)) of the last path scored or drawn
        super().__init__(mask, dmm.z_size)

    def params(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """(mu_t, sig_t) for every t along the path z, all steps at once: (B, T, Z) x2. Kept for
        this z, so a KL or log-density evaluated after the model ran uses the weights it ran with."""
        if self._path is None or self._path[0] is not z:
            self._path = (z, self.dmm.transition(self.dmm.previous(z)))
        return self._path[1]

    def rsample(self, sample_shape=torch.Size()) -> Tensor:
        if sample_shape:
            raise NotImplementedError("draw one path per call")
        z_t = self.dmm.initial_state(self.mask.shape[0])
        zs = []
        for _ in range(self.mask.shape[1]):
            loc, scale = self.dmm.transition(z_t)
            z_t = loc + scale * torch.randn_like(loc)
            zs.append(z_t)
        z = torch.stack(zs, 1)  # (B, T, Z)
        self.params(z)
        return z
