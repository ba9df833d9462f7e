"""A Deep Markov Model (Krishnan, Shalit & Sontag 2017, arXiv 1609.09869) as a zoo model/guide pair.

z_t ~ N(mu(z_{t-1}), sigma(z_{t-1}))        transition, z_0 = 0
x_t ~ p(x_t | z_t)                           the zoo's emitter: Bernoulli notes, softmax, ...
q(z_t | z_{t-1}, x_{t:T}) = N(mu, sigma)(1/2 (tanh(W z_{t-1}) + g_t))   g_t: a backward GRU over x
"""

import pyro
import pyro.distributions as dist
import torch
from torch import nn

from zoo.nn.emissions import make_emitter
from zoo.nn.layers import MLP, GaussianHead, reverse_padded


class DMM(nn.Module):
    """p(x, z) = prod_t N(z_t | mu(z_{t-1}), sigma(z_{t-1})) p(x_t | z_t)."""

    def __init__(self, spec, z_size: int = 16, hidden_size: int = 64):
        super().__init__()
        self.spec, self.z_size = spec, z_size
        self.transition = nn.Sequential(MLP(z_size, hidden_size), GaussianHead(hidden_size, z_size))
        self.emitter = make_emitter(spec, hidden_size)  # p(x_t | h), shared with every zoo model
        self.decoder = MLP(z_size, hidden_size)  # z_t -> h

    def forward(self, batch):
        """The Pyro model: one site z_t per step, masked past each sequence's length."""
        B, T = batch.x.shape[:2]
        z = batch.x.new_zeros(B, self.z_size, dtype=torch.float)
        with pyro.plate("sequences", batch.dataset_size, subsample_size=B):
            for t in pyro.markov(range(T)):
                loc, scale = self.transition(z)
                z = pyro.sample(f"z_{t}", dist.Normal(loc, scale).mask(batch.mask[:, t, None]).to_event(1))
                p_x = self.emitter(self.decoder(z))  # batch (B,)
                pyro.sample(f"x_{t}", p_x.mask(batch.mask[:, t]), obs=batch.x[:, t])

    @torch.no_grad()
    def sample(self, n, length, temperature=1.0, prime=None):
        """n sequences drawn ancestrally: (n, length[, D])."""
        z, xs = torch.zeros(n, self.z_size, device=self.decoder[0].weight.device), []  # z_0 = 0
        for _ in range(length):
            loc, scale = self.transition(z)
            z = loc + scale * torch.randn_like(loc)
            xs.append(self.emitter(self.decoder(z), temperature).sample())
        return torch.stack(xs, 1)


class DMMGuide(nn.Module):
    """q(z | x) = prod_t q(z_t | z_{t-1}, x_{t:T}), the DMM's structured inference network."""

    def __init__(self, model: DMM, hidden_size: int = 64):
        super().__init__()  # keeps the model's sizes, not the model: its parameters stay the model's
        self.spec, self.z_size = model.spec, model.z_size
        self.rnn = nn.GRU(model.spec.dim, hidden_size, batch_first=True)
        self.combine = nn.Linear(model.z_size, hidden_size)
        self.posterior = GaussianHead(hidden_size, model.z_size)

    def forward(self, batch):
        B, T = batch.x.shape[:2]
        x = batch.x if self.spec.kind != "categorical" else nn.functional.one_hot(batch.x, self.spec.dim)
        g, _ = self.rnn(reverse_padded(x.float(), batch.lengths))  # reads x_T ... x_1
        g = reverse_padded(g, batch.lengths)  # g_t summarises x_{t:T}: (B, T, H)
        z = g.new_zeros(B, self.z_size)
        with pyro.plate("sequences", batch.dataset_size, subsample_size=B):
            for t in pyro.markov(range(T)):
                loc, scale = self.posterior(0.5 * (torch.tanh(self.combine(z)) + g[:, t]))
                z = pyro.sample(f"z_{t}", dist.Normal(loc, scale).mask(batch.mask[:, t, None]).to_event(1))
