"""The sequence autoencoder (Dai & Le 2015, "Semi-supervised sequence learning", arXiv 1511.01432).

    c = h_T = LSTM_enc(x_{1:T})                         the code: the encoder's final state
    s_0 = (tanh(W_h c + b_h), W_c c + b_c)
    x_t ~ p(x_t | s_t),  s_t = LSTM_dec(x_{t-1}, s_{t-1})

The code is a deterministic function of x, so the Pyro model has no latent site (guide `none`)
and its one observed site scores log p(x | c(x)): a reconstruction figure, not a likelihood
of x. Training maximises it.

To generate, codes come from `code_source` and are decoded:
    gaussian    c ~ N(m, diag v), a Gaussian fitted to the training codes (running moments)
    generator   c = G(u), u ~ N(0, I): a network trained to imitate the training codes by
                objective=gan_latent or mmd_latent (zoo.objectives.latent_code)
    prior       c ~ N(0, I), the prior objective=aae pushes the codes towards
"""

from __future__ import annotations

import pyro
import torch
from torch import Tensor, nn

from zoo.data.batch import Batch
from zoo.data.dataset import DataSpec
from zoo.errors import ZooError
from zoo.nn.layers import MLP
from zoo.nn.sequence_decoder import RecurrentDecoder
from zoo.nn.sequence_encoder import SequenceEncoder

CODE_SOURCES = ("gaussian", "generator", "prior")


class SeqAE(nn.Module):
    """p(x | c(x)) with c(x) the final state of an encoder LSTM over x."""

    def __init__(
        self,
        spec: DataSpec,
        hidden_size: int = 256,
        num_layers: int = 1,
        bidirectional: bool = False,
        feed_code: bool = False,
        word_dropout: float = 0.0,
        emission: str = "auto",
        embedding_size: int | None = None,
        components: int | None = None,
        code_momentum: float = 0.01,
        code_source: str = "gaussian",
        noise_size: int = 32,
    ):
        super().__init__()
        self.spec, self.hidden_size, self.code_momentum = spec, hidden_size, code_momentum
        code_size = hidden_size * (2 if bidirectional else 1)
        self.decoder = RecurrentDecoder(
            spec, code_size, hidden_size, num_layers, feed_code, word_dropout, emission, embedding_size, components
        )
        # the encoder reads x through the decoder's input features (one embedding for both)
        self.encoder = SequenceEncoder(self.decoder.emitter.feature_size, hidden_size, num_layers, bidirectional)
        self.register_buffer("code_mean", torch.zeros(code_size))  # m, running mean of training codes
        self.register_buffer("code_var", torch.ones(code_size))  # v, running variance of training codes
        if code_source not in CODE_SOURCES:
            raise ZooError(f"model.net.code_source={code_source!r} is not one of {CODE_SOURCES}")
        self.code_source, self.noise_size = code_source, noise_size
        if code_source == "generator":  # G: u -> c
            self.code_generator = nn.Sequential(
                MLP(noise_size, hidden_size, layers=2), nn.Linear(hidden_size, code_size)
            )

    def code(self, batch: Batch) -> Tensor:
        """c(x) = h_T of the encoder: (B, C)."""
        return self.encoder(self.decoder.emitter.features(batch.x), batch.lengths)

    def _track(self, code: Tensor) -> None:
        """m <- (1 - a) m + a mean_b c_b,  v <- (1 - a) v + a var_b c_b  (a = code_momentum)."""
        code = code.detach()
        a = self.code_momentum
        self.code_mean.mul_(1 - a).add_(a * code.mean(0))
        if code.shape[0] > 1:
            self.code_var.mul_(1 - a).add_(a * code.var(0))

    def forward(self, batch: Batch) -> None:
        """The Pyro model: observe every sequence given its own code, masked past its length."""
        code = self.code(batch)  # (B, C)
        if self.training:
            self._track(code)
        p_x = self.decoder(batch.x, code)  # batch shape (B, T)
        with pyro.plate("sequences", batch.dataset_size, subsample_size=batch.batch_size):
            pyro.sample("x", p_x.mask(batch.mask).to_event(1), obs=batch.x)

    def reconstruction_log_prob(self, batch: Batch) -> Tensor:
        """log p(x | c(x)) per sequence, (B,), in nats: how well x is rebuilt from its own code."""
        p_x = self.decoder(batch.x, self.code(batch))
        return (p_x.log_prob(batch.x) * batch.mask).sum(-1)

    def decode(self, code: Tensor, length: int, temperature: float = 1.0, greedy: bool = True) -> Tensor:
        """Sequences of `length` steps from given codes: (n, C) -> (n, length[, D])."""
        return self.decoder.generate(code, length, temperature, greedy)

    def new_codes(self, n: int) -> Tensor:
        """n codes from `code_source`: (n, C)."""
        device = self.code_mean.device
        if self.code_source == "generator":
            return self.code_generator(torch.randn(n, self.noise_size, device=device))
        noise = torch.randn(n, self.code_mean.shape[0], device=device)
        return noise if self.code_source == "prior" else self.code_mean + self.code_var.sqrt() * noise

    @torch.no_grad()
    def sample(self, n: int, length: int, temperature: float = 1.0, prime: Tensor | None = None) -> Tensor:
        """n sequences decoded from new codes, optionally continuing `prime`. Returns (n, P + length[, D])."""
        return self.decoder.generate(self.new_codes(n), length, temperature, prime=prime)
