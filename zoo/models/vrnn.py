"""The variational recurrent neural network (Chung et al. 2015, "A recurrent latent variable
model for sequential data", arXiv 1506.02216, equations 5-7).

    (mu_0t, sigma_0t) = phi_prior(h_{t-1})                     prior, eq. 5
    z_t   ~ N(mu_0t, diag sigma_0t^2)                           (VRNN-I: N(0, I))
    x_t   ~ p(x_t | phi_dec(phi_z(z_t), h_{t-1}))               decoder, eq. 6
    h_t   = f(phi_x(x_t), phi_z(z_t), h_{t-1})                  recurrence, eq. 7 (a GRU cell)

The whole path z_{1:T} of a sequence is one sample site "z", so a guide meets the model
through one name and Pyro's cost does not grow with T. Eq. 7 is run over a path in one place,
`unroll`, whatever draws z_t (the path given, the prior, a filtering guide) and whatever gives
x_t (the data, or the decoder while sampling). A filtering guide that runs it on its own draws
hands the states h_{t-1} over (`remember`), and the model reuses them instead of running the
recurrence a second time. Guides read the sizes the model declares: z_size, hidden_size and
feature_size (the width of phi_x and phi_z).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import pyro
import pyro.distributions as dist
import torch
from torch import Tensor, nn

from zoo.data.batch import Batch
from zoo.data.dataset import DataSpec
from zoo.errors import ZooError
from zoo.nn.emissions import make_emitter
from zoo.nn.gaussian_path import PathPrior
from zoo.nn.layers import MLP, GaussianHead
from zoo.options import check_dropout

PRIORS = ("learned", "standard")


class VRNN(nn.Module):
    """p(x_{1:T}, z_{1:T}) = prod_t p(x_t | z_t, h_{t-1}) p(z_t | h_{t-1})."""

    def __init__(
        self,
        spec: DataSpec,
        hidden_size: int = 128,
        z_size: int = 16,
        feature_size: int | None = None,
        prior: str = "learned",
        emission: str = "auto",
        embedding_size: int | None = None,
        components: int | None = None,
        dropout: float = 0.0,
    ):
        super().__init__()
        if prior not in PRIORS:
            raise ZooError(f"model.net.prior={prior!r} is not one of {PRIORS}")
        check_dropout("model.net.dropout", dropout)
        features = feature_size or hidden_size
        self.spec, self.prior_kind, self.z_size, self.hidden_size = spec, prior, z_size, hidden_size
        self.feature_size = features
        self.emitter = make_emitter(spec, hidden_size, emission, embedding_size, components)
        self.phi_x = MLP(self.emitter.feature_size, features)  # feature extractor of x_t
        self.phi_z = MLP(z_size, features)  # feature extractor of z_t
        self.phi_prior = GaussianHead(hidden_size, z_size)  # eq. 5
        self.phi_dec = MLP(features + hidden_size, hidden_size)  # eq. 6, before the emitter
        self.rnn = nn.GRUCell(2 * features, hidden_size)  # f of eq. 7
        self.dropout = nn.Dropout(dropout)  # on the decoder's features, in training only
        self._memo = None  # (weakref x, weakref z, h_prev) left by a guide

    # -- the factors -------------------------------------------------------------------------

    def features(self, x: Tensor) -> Tensor:
        """phi_x(x_t) for every t: (B, T[, D]) -> (B, T, F)."""
        return self.phi_x(self.emitter.features(x))

    def prior(self, h_prev: Tensor) -> tuple[Tensor, Tensor]:
        """(mu_0t, sigma_0t) of p(z_t | h_{t-1}), eq. 5; VRNN-I's N(0, I) when prior=standard."""
        if self.prior_kind == "standard":
            zeros = h_prev.new_zeros(*h_prev.shape[:-1], self.z_size)
            return zeros, torch.ones_like(zeros)
        return self.phi_prior(h_prev)

    def decoder(self, z: Tensor, h_prev: Tensor, temperature: float = 1.0) -> dist.Distribution:
        """p(x_t | z_t, h_{t-1}), eq. 6."""
        return self.emitter(self.dropout(self.phi_dec(torch.cat([self.phi_z(z), h_prev], -1))), temperature)

    def step(self, phi_x_t: Tensor, z_t: Tensor, h: Tensor) -> Tensor:
        """h_t = f(phi_x(x_t), phi_z(z_t), h_{t-1}), eq. 7: (B, F), (B, Z), (B, H) -> (B, H)."""
        return self.rnn(torch.cat([phi_x_t, self.phi_z(z_t)], -1), h)

    def initial_state(self, batch_size: int, like: Tensor) -> Tensor:
        return like.new_zeros(batch_size, self.hidden_size)  # h_0

    def draw_prior(self, h_prev: Tensor) -> Tensor:
        """z_t ~ p(z_t | h_{t-1}) by reparameterisation: (B, H) -> (B, Z)."""
        loc, scale = self.prior(h_prev)
        return loc + scale * torch.randn_like(loc)

    def unroll(
        self,
        h: Tensor,
        steps: int,
        draw_z: Callable[[int, Tensor], Tensor],
        read_x: Callable[[int, Tensor, Tensor], Tensor],
    ) -> tuple[list[Tensor], list[Tensor], Tensor]:
        """Eq. 7 for `steps` steps from the state h: at step t, z_t = draw_z(t, h_{t-1}), then
        phi_x(x_t) = read_x(t, z_t, h_{t-1}) and h_t = f(phi_x(x_t), phi_z(z_t), h_{t-1}).
        Returns ([z_t], [h_{t-1}], h_T): lists of (B, Z) and (B, H), and the last state (B, H)."""
        zs, h_prev = [], []
        for t in range(steps):
            z_t = draw_z(t, h)
            h_prev.append(h)
            h = self.step(read_x(t, z_t, h), z_t, h)
            zs.append(z_t)
        return zs, h_prev, h

    # -- the recurrence over a whole path ------------------------------------------------------

    def remember(self, x: Tensor, z: Tensor, h_prev: Tensor) -> None:
        """A guide that ran eq. 7 on its own draws z leaves h_{0:T-1} here for the model."""
        self._memo = (weakref.ref(x), weakref.ref(z), h_prev)

    def states(self, x: Tensor, phi_x: Tensor, z: Tensor) -> Tensor:
        """h_{t-1} for every t given x and a path z: (B, T, H). Reuses a guide's states for
        this very (x, z), else runs eq. 7."""
        memo, self._memo = self._memo, None
        if memo is not None and memo[0]() is x and memo[1]() is z:
            return memo[2]
        # unbind once: [:, t] in the loop costs a (B, T, .) zero fill per step in backward
        phi_x_t, z_t = phi_x.unbind(1), z.unbind(1)
        _, h_prev, _ = self.unroll(
            self.initial_state(z.shape[0], phi_x), len(z_t), lambda t, h: z_t[t], lambda t, z, h: phi_x_t[t]
        )
        return torch.stack(h_prev, 1)

    # -- one step at a time, for SMC (zoo.estimators.smc) ---------------------------------------

    def smc_init(self, batch: Batch) -> tuple[tuple[Tensor, Tensor], tuple[Tensor]]:
        """Context (x, phi_x(x)), (B, T, ...), and state (h_0,) of every sequence of the batch."""
        phi_x = self.features(batch.x)  # (B, T, F)
        return (batch.x, phi_x), (self.initial_state(batch.batch_size, phi_x),)

    def smc_step(self, context_t, state, z_t: Tensor) -> tuple[Tensor, Tensor, tuple[Tensor]]:
        """(log p(z_t | h_{t-1}), log p(x_t | z_t, h_{t-1}), (h_t,)): eqs. 5-7 at one step, (R,) each,
        from context_t = (x_t, phi_x(x_t))."""
        (x_t, phi_x_t), (h,) = context_t, state
        loc, scale = self.prior(h)
        log_p_z = dist.Normal(loc, scale).log_prob(z_t).sum(-1)  # eq. 5
        log_p_x = self.decoder(z_t, h).log_prob(x_t)  # eq. 6
        return log_p_z, log_p_x, (self.step(phi_x_t, z_t, h),)  # eq. 7

    # -- the Pyro model ------------------------------------------------------------------------

    def forward(self, batch: Batch) -> None:
        x, mask = batch.x, batch.mask
        phi_x = self.features(x)  # (B, T, F)
        with pyro.plate("sequences", batch.dataset_size, subsample_size=batch.batch_size):
            p_z = VRNNPrior(self, x, phi_x, mask)
            z = pyro.sample("z", p_z)  # (B, T, Z)
            p_x = self.decoder(z, p_z.states(z))  # batch shape (B, T)
            pyro.sample("x", p_x.mask(mask).to_event(1), obs=x)

    @torch.no_grad()
    def sample(self, n: int, length: int, temperature: float = 1.0, prime: Tensor | None = None) -> Tensor:
        """Ancestral sampling from the prior for `length` steps, after reading a prime (its z_t
        drawn from the prior given the primed x). Returns (n, P + length[, D])."""
        device = self.rnn.weight_hh.device
        h = torch.zeros(n, self.hidden_size, device=device)
        pieces = []
        if prime is not None and len(prime) > 0:
            prime = prime.to(device).expand(n, *prime.shape)  # (n, P[, D])
            phi_x = self.features(prime).unbind(1)
            _, _, h = self.unroll(h, len(phi_x), lambda t, h: self.draw_prior(h), lambda t, z, h: phi_x[t])
            pieces.append(prime)

        def emit(t: int, z_t: Tensor, h: Tensor) -> Tensor:
            x_t = self.decoder(z_t, h, temperature).sample()  # (n[, D])
            pieces.append(x_t[:, None])
            return self.features(x_t[:, None])[:, 0]

        self.unroll(h, length, lambda t, h: self.draw_prior(h), emit)
        return torch.cat(pieces, 1)


class VRNNPrior(PathPrior):
    """p(z_{1:T} | x) = prod_t N(z_t | mu_0t, sigma_0t), with h_{t-1} from eq. 7 along the
    path itself; steps past a sequence's length are masked out. Batch (B,), event (T, Z)."""

    def __init__(self, vrnn: VRNN, x: Tensor, phi_x: Tensor, mask: Tensor):
        self.vrnn, self.x, self.phi_x = vrnn, x, phi_x
        self._path = None  # (z, h_prev, (mu_0, sigma_0)) of the last path scored or drawn
        super().__init__(mask, vrnn.z_size)

    def states(self, z: Tensor) -> Tensor:
        """h_{t-1} along the path z: (B, T, H). The prior's parameters are computed with them,
        at once, so both come from the weights in place now: a KL or log-density evaluated
        later (after variational weights have been swapped out) still uses these."""
        if self._path is None or self._path[0] is not z:
            h_prev = self.vrnn.states(self.x, self.phi_x, z)
            self._path = (z, h_prev, self.vrnn.prior(h_prev))
        return self._path[1]

    def params(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """(mu_0t, sigma_0t) for every t along the path z: (B, T, Z) x2."""
        self.states(z)
        return self._path[2]

    def rsample(self, sample_shape=torch.Size()) -> Tensor:
        if sample_shape:
            raise NotImplementedError("draw one path per call")
        B, T = self.mask.shape
        phi_x = self.phi_x.unbind(1)
        zs, h_prev, _ = self.vrnn.unroll(
            self.vrnn.initial_state(B, self.phi_x), T, lambda t, h: self.vrnn.draw_prior(h), lambda t, z, h: phi_x[t]
        )
        z = torch.stack(zs, 1)
        h_prev = torch.stack(h_prev, 1)
        self._path = (z, h_prev, self.vrnn.prior(h_prev))
        return z
