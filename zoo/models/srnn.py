"""The stochastic recurrent neural network (Fraccaro, Sønderby, Paquet & Winther 2016,
"Sequential neural models with stochastic layers", NeurIPS 2016, arXiv 1605.07571): a
deterministic RNN over the past frames, and a state-space layer on top of it.

    u_t   = phi_x(x_{t-1}),  u_1 = 0                              the previous frame's features
    d_t   = f_d(d_{t-1}, u_t)                                     deterministic layer, a GRU, d_0 = 0
    (mu_p, sigma_p) = NN_p(z_{t-1}, d_t)                          state-space layer, z_0 = 0
    z_t   ~ N(mu_p, diag sigma_p^2)                               p(z_t | z_{t-1}, d_t)
    x_t   ~ p(x_t | NN_x(z_t, d_t))                               emission p(x_t | z_t, d_t)

d_{1:T} depends on x alone, so it is one GRU call over the shifted sequence, and d_t's share
W_d d_t of NN_p's hidden layer is one product for all t, which the guide hands over with d;
only the chain z_{1:T} is a loop. The whole path is one sample site "z" (`SRNNPrior`), and given
a path the prior's parameters of every step are one batched pass. The paper's ELBO takes the KL
of each step in closed form along q's path (`objective=elbo_analytic_kl`).

On a CPU the GRU (zoo.nn.ragged_gru), the step-by-step layers phi_x, W_d and NN_x's first layer,
and NN_p along a given path (`on_real_steps`) run on the real steps of a ragged batch only: about
half of a batch of whole JSB chorales is padding.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from torch import Tensor, nn
from torch.nn.functional import pad

from zoo.data.batch import Batch
from zoo.data.dataset import DataSpec
from zoo.nn.emissions import draw_sample, make_emitter
from zoo.nn.gaussian_path import PathPrior, PathSteps
from zoo.nn.layers import MLP, MarkovGaussian, on_real_steps
from zoo.nn.ragged_gru import RaggedGRU


class SRNN(nn.Module):
    """p(x_{1:T}, z_{1:T} | z_0, d_0) = prod_t p(x_t | z_t, d_t) p(z_t | z_{t-1}, d_t), d_t = f_d(d_{t-1}, x_{t-1}).

    Guides read z_size, hidden_size (units of d_t) and feature_size (width of phi_x and of the
    MLPs), and use recurrence, transition and initial_z."""

    def __init__(
        self,
        spec: DataSpec,
        hidden_size: int = 300,
        z_size: int = 100,
        feature_size: int | None = None,
        emission: str = "auto",
        embedding_size: int | None = None,
        components: int | None = None,
    ):
        super().__init__()
        features = feature_size or hidden_size
        self.spec, self.z_size, self.hidden_size, self.feature_size = spec, z_size, hidden_size, features
        self.emitter = make_emitter(spec, features, emission, embedding_size, components)
        self.phi_x = MLP(self.emitter.feature_size, features, layers=2)  # frame features, as the authors' code
        self.rnn = RaggedGRU(features, hidden_size)  # f_d
        self.transition = MarkovGaussian(z_size, hidden_size, features)  # NN_p
        self.phi_emit = MLP(z_size + hidden_size, features)  # NN_x, before the emitter
        self._reads_x = [
            name.rpartition(".")
            for name, _ in self.named_parameters()
            if name.startswith(("emitter.", "phi_x.", "rnn.", "transition.from_context."))
        ]
        self._memo = _Memo()  # (key, (phi_x, d, W_d d)) left by a guide

    # -- the factors -------------------------------------------------------------------------

    def features(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """phi_x(x_t) for every t: (B, T[, D]) -> (B, T, F); with lengths (B,), for the real steps
        only (zero past each end)."""
        if lengths is None:
            return self.phi_x(self.emitter.features(x))
        return on_real_steps(self.phi_x, self.emitter.features(x), lengths=lengths)

    def deterministic(self, phi_x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """d_t = f_d(d_{t-1}, phi_x(x_{t-1})) for every t, d_0 = 0 and u_1 = 0: one GRU call over
        the shifted features of each sequence's steps (lengths (B,); None: all T), (B, T, F) ->
        (B, T, H), zero past a sequence's end. d_t reads x_{<t} only, so padding after a
        sequence's end changes none of its real steps."""
        B, T, _ = phi_x.shape
        u = pad(phi_x[:, :-1], (0, 0, 1, 0))  # u_t = phi_x(x_{t-1}): (B, T, F)
        d, _ = self.rnn(u, lengths=torch.full((B,), T) if lengths is None else lengths)
        return d

    def recurrence(self, x: Tensor, lengths: Tensor, remember: bool = False) -> tuple[Tensor, Tensor, Tensor]:
        """(phi_x(x_t), d_t, W_d d_t) for every t, W_d d_t being d_t's share of the prior's hidden
        layer (`MarkovGaussian.project`): (B, T[, D]), (B,) -> (B, T, F), (B, T, H), (B, T, F). A
        guide computes them with remember=True; the model, run next on this very x with the very
        same weights (the same tensors, unchanged since, in the same grad mode), takes them over
        instead of running the GRU a second time."""
        memo, self._memo.value = self._memo.value, None
        key = (x, lengths, torch.is_grad_enabled(), [(w, w._version) for w in self._weights_now()])
        if memo is not None and _same(memo[0], key):
            return memo[1]
        phi_x = self.features(x, lengths)  # (B, T, F)
        d = self.deterministic(phi_x, lengths)  # (B, T, H)
        triple = (phi_x, d, on_real_steps(self.transition.project, d, lengths=lengths))  # W_d d_t: (B, T, F)
        if remember:
            self._memo.value = (key, triple)
        return triple

    def _weights_now(self) -> list[Tensor]:
        """The tensors in place of the parameters of phi_x, f_d, the emitter and W_d now (a draw
        of variational weights while one is swapped in)."""
        return [getattr(self.get_submodule(owner), attr) for owner, _, attr in self._reads_x]

    def emission(
        self,
        z: Tensor,
        d: Tensor,
        temperature: float = 1.0,
        lengths: Tensor | None = None,
    ) -> dist.Distribution:
        """p(x_t | z_t, d_t): (..., Z), (..., H) -> batch shape (...); with lengths (B,) of
        (B, T, .) steps, NN_x's first layer runs on the real steps only (padding's
        distribution then reads zeros)."""
        zd = torch.cat([z, d], -1)  # (..., Z + H)
        h = self.phi_emit(zd) if lengths is None else on_real_steps(self.phi_emit, zd, lengths=lengths)  # (..., F)
        return self.emitter(h, temperature)

    def initial_z(self, rows: int, like: Tensor) -> Tensor:
        return like.new_zeros(rows, self.z_size)  # z_0

    # -- the Pyro model ------------------------------------------------------------------------

    def forward(self, batch: Batch) -> None:
        x, mask = batch.x, batch.mask
        _, d, prior_in = self.recurrence(x, batch.lengths)  # (B, T, H), W_d d_t: (B, T, F)
        with pyro.plate("sequences", batch.dataset_size, subsample_size=batch.batch_size):
            p_z = SRNNPrior(self, d, mask, prior_in)
            z = pyro.sample("z", p_z)  # (B, T, Z)
            p_z.params(z)  # with the weights in place now (variational weights are swapped out after)
            p_x = self.emission(z, d, lengths=batch.lengths)  # batch (B, T)
            pyro.sample("x", p_x.mask(mask).to_event(1), obs=x)

    # -- sequential Monte Carlo (zoo.estimators.smc) -------------------------------------------

    def smc_init(self, batch: Batch) -> tuple[tuple[Tensor, ...], tuple[Tensor]]:
        """context = (d_{1:T} (B, T, H), phi_x(x_{1:T}) (B, T, F), x (B, T[, D]), W_d d_{1:T} (B, T, F));
        state = (z_0,)."""
        phi_x, d, prior_in = self.recurrence(batch.x, batch.lengths)
        return (d, phi_x, batch.x, prior_in), (self.initial_z(batch.batch_size, d),)

    def smc_step(self, context_t, state, z_t: Tensor) -> tuple[Tensor, Tensor, tuple[Tensor]]:
        """(log p(z_t | z_{t-1}, d_t), log p(x_t | z_t, d_t), (z_t,)) from context_t = (d_t, phi_x(x_t),
        x_t, W_d d_t), each (R,)."""
        d_t, _, x_t, prior_in_t = context_t
        (z_prev,) = state
        loc, scale = self.transition.step(z_prev, prior_in_t)
        log_p_z = dist.Normal(loc, scale).log_prob(z_t).sum(-1)
        log_p_x = self.emission(z_t, d_t).log_prob(x_t)
        return log_p_z, log_p_x, (z_t,)

    # -- new sequences -------------------------------------------------------------------------

    @torch.no_grad()
    def sample(self, n: int, length: int, temperature: float = 1.0, prime: Tensor | None = None) -> Tensor:
        """Ancestral sampling for `length` steps after reading a prime (its z_t drawn from the
        prior given the primed x). Returns (n, P + length[, D])."""
        device = self.rnn.weight_hh_l0.device
        h = torch.zeros(1, n, self.hidden_size, device=device)  # the GRU's d_{t-1}
        u = torch.zeros(n, 1, self.feature_size, device=device)  # u_1 = 0
        z = torch.zeros(n, self.z_size, device=device)  # z_0
        pieces = []
        if prime is not None and len(prime) > 0:
            prime = prime.to(device).expand(n, *prime.shape)  # (n, P[, D])
            phi_x = self.features(prime)  # (n, P, F)
            d, h = self.rnn(torch.cat([u, phi_x[:, :-1]], 1), h)  # (n, P, H)
            for t in range(prime.shape[1]):
                loc, scale = self.transition(z, d[:, t])
                z = loc + scale * torch.randn_like(loc)
            u = phi_x[:, -1:]
            pieces.append(prime)
        for _ in range(length):
            d, h = self.rnn(u, h)  # d_t: (n, 1, H)
            loc, scale = self.transition(z, d[:, 0])
            z = loc + scale * torch.randn_like(loc)  # (n, Z)
            x_t = draw_sample(self.emission(z, d[:, 0], temperature))  # (n[, D])
            pieces.append(x_t[:, None])
            u = self.features(x_t[:, None])  # (n, 1, F)
        return torch.cat(pieces, 1)


class _Memo:
    """What a guide leaves for the model to take over; a copy of the model starts without it."""

    def __init__(self):
        self.value = None

    def __deepcopy__(self, memo):
        return _Memo()

    def __getstate__(self):
        return {"value": None}


def _same(a: tuple, b: tuple) -> bool:
    """Whether two recurrence keys name the same x, lengths, grad mode and weight tensors at the
    same versions."""
    (x, lengths, grad, weights), (y, lengths_b, grad_b, weights_b) = a, b
    return (
        x is y
        and lengths is lengths_b
        and grad == grad_b
        and len(weights) == len(weights_b)
        and all(w is v and n == m for (w, n), (v, m) in zip(weights, weights_b))
    )


class SRNNPrior(PathPrior):
    """p(z_{1:T} | d_{1:T}) = prod_t N(z_t | mu_p(z_{t-1}, d_t), sigma_p(z_{t-1}, d_t)), z_0 = 0;
    steps past a sequence's length are masked out. Batch (B,), event (T, Z). `projected`, W_d d_t
    for every t, when the caller has it already."""

    def __init__(self, srnn: SRNN, d: Tensor, mask: Tensor, projected: Tensor | None = None):
        self.srnn = srnn
        self.projected = srnn.transition.project(d) if projected is None else projected  # W_d d_t: (B, T, F)
        self._path = None  # (z, (mu_p, sigma_p)) of the last path scored or drawn
        super().__init__(mask, srnn.z_size)

    def params(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """(mu_p, sigma_p) of every real step along the path z, in one pass: (B, T, Z) x2, N(0, 1)
        past each sequence's end (which the mask drops). Kept for this z, so a density or KL
        evaluated later uses the weights in place when it was made."""
        if self._path is None or self._path[0] is not z:
            z_prev = torch.cat([self.srnn.initial_z(z.shape[0], z)[:, None], z[:, :-1]], 1)  # (B, T, Z)
            params = on_real_steps(
                self.srnn.transition.step, z_prev, self.projected, lengths=self.mask.sum(-1), fill=(0.0, 1.0)
            )
            self._path = (z, params)
        return self._path[1]

    def rsample(self, sample_shape=torch.Size()) -> Tensor:
        if sample_shape:
            raise NotImplementedError("draw one path per call")
        steps = PathSteps()
        z_t = self.srnn.initial_z(self.mask.shape[0], self.projected)
        for projected_t in self.projected.unbind(1):
            z_t = steps.draw(*self.srnn.transition.step(z_t, projected_t))  # (B, Z)
        path = steps.path(self.mask)
        self._path = (path.z, (path.loc, path.scale))
        return path.z
