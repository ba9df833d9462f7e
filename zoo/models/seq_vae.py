"""The sequence variational autoencoder (Fabius & van Amersfoort 2014, "Variational recurrent
auto-encoders", arXiv 1412.6581; Bowman et al. 2015, "Generating sentences from a continuous
space", arXiv 1511.06349).

    z ~ N(0, I)                                             one code per sequence
    s_0 = (tanh(W_h z + b_h), W_c z + b_c)                  z sets the decoder's initial state
    s_t = LSTM([x_{t-1}; z], s_{t-1})                       z fed at every step only with feed_latent
    x_t ~ p(x_t | s_t)

The guide (guides.seq_encoder) encodes x into q(z | x) = N(mu(x), diag sigma(x)^2). Word dropout
on the decoder's inputs is a model option; KL annealing and free bits are options of the ELBO
objective: the cures for posterior collapse of Bowman et al. 2015 and Kingma et al. 2016.
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from torch import Tensor, nn

from zoo.data.batch import Batch
from zoo.data.dataset import DataSpec
from zoo.nn.sequence_decoder import RecurrentDecoder


class SeqVAE(nn.Module):
    """p(x, z) = N(z | 0, I) prod_t p(x_t | x_{<t}, z)."""

    def __init__(
        self,
        spec: DataSpec,
        hidden_size: int = 256,
        z_size: int = 32,
        num_layers: int = 1,
        feed_latent: bool = False,
        word_dropout: float = 0.0,
        emission: str = "auto",
        embedding_size: int | None = None,
        components: int | None = None,
    ):
        super().__init__()
        self.spec, self.hidden_size, self.z_size = spec, hidden_size, z_size
        self.decoder = RecurrentDecoder(
            spec, z_size, hidden_size, num_layers, feed_latent, word_dropout, emission, embedding_size, components
        )

    @property
    def feature_size(self) -> int:
        return self.decoder.emitter.feature_size

    def features(self, x: Tensor) -> Tensor:
        """What x looks like to a network: (B, T[, D]) -> (B, T, F); a guide reads x through it."""
        return self.decoder.emitter.features(x)

    def prior(self, batch_size: int) -> dist.Distribution:
        """p(z) = N(0, I): batch (B,), event (Z,)."""
        zeros = self.decoder.initial.weight.new_zeros(batch_size, self.z_size)
        return dist.Normal(zeros, torch.ones_like(zeros)).to_event(1)

    def forward(self, batch: Batch) -> None:
        """The Pyro model: z per sequence from the prior, then every sequence given its z."""
        with pyro.plate("sequences", batch.dataset_size, subsample_size=batch.batch_size):
            z = pyro.sample("z", self.prior(batch.batch_size))  # (B, Z)
            p_x = self.decoder(batch.x, z)  # batch shape (B, T)
            pyro.sample("x", p_x.mask(batch.mask).to_event(1), obs=batch.x)

    def decode(self, z: Tensor, length: int, temperature: float = 1.0, greedy: bool = True) -> Tensor:
        """Sequences of `length` steps from given codes: (n, Z) -> (n, length[, D])."""
        return self.decoder.generate(z, length, temperature, greedy)

    @torch.no_grad()
    def sample(self, n: int, length: int, temperature: float = 1.0, prime: Tensor | None = None) -> Tensor:
        """n sequences from z ~ N(0, I), optionally continuing `prime`. Returns (n, P + length[, D])."""
        z = self.prior(n).sample()  # (n, Z)
        return self.decoder.generate(z, length, temperature, prime=prime)
