"""The guide of the sequence VAE (zoo.models.seq_vae): one Gaussian code per sequence."""

from __future__ import annotations

from typing import Protocol

import pyro
import pyro.distributions as dist
from torch import Tensor, nn

from guides.contract import model_for
from zoo.data.batch import Batch
from zoo.nn.layers import GaussianHead
from zoo.nn.sequence_encoder import SequenceEncoder


class SeqVAELike(Protocol):
    """What the sequence encoder reads of its model (zoo.models.seq_vae.SeqVAE declares it)."""

    z_size: int
    hidden_size: int
    feature_size: int  # width of features(x)

    def features(self, x: Tensor) -> Tensor: ...

    def decode(self, z: Tensor, length: int, temperature: float = 1.0, greedy: bool = True) -> Tensor: ...


class SeqEncoder(nn.Module):
    """q(z | x) = N(mu(e), diag sigma(e)^2), e = the final states of a bidirectional LSTM over x;
    with bidirectional=False, the one-way encoder of Fabius & van Amersfoort 2014 and Bowman et
    al. 2015, whose final state sees the start of a line only through every later step. Both
    directions by default: on Shakespeare lines, at equal steps, they lower the validation -ELBO
    from 1.460 to 1.419 nats per character and raise I(x; z) from 1.3 to 3.4 nats, for the same
    IWAE-500 bound (bench.seq_vae). It reads x through the model's input features (shared, not
    owned)."""

    def __init__(
        self, model: nn.Module, hidden_size: int | None = None, num_layers: int = 1, bidirectional: bool = True
    ):
        super().__init__()
        object.__setattr__(self, "vae", model_for("seq_encoder", "seq_vae", model, SeqVAELike))  # shared, not owned
        self.encoder = SequenceEncoder(model.feature_size, hidden_size or model.hidden_size, num_layers, bidirectional)
        self.head = GaussianHead(self.encoder.output_size, model.z_size)

    def posterior(self, batch: Batch) -> dist.Distribution:
        """q(z | x): batch (B,), event (Z,)."""
        e = self.encoder(self.vae.features(batch.x), batch.lengths)  # (B, directions * H)
        loc, scale = self.head(e)  # (B, Z) x2
        return dist.Normal(loc, scale).to_event(1)

    def forward(self, batch: Batch):
        q = self.posterior(batch)
        with pyro.plate("sequences", batch.dataset_size, subsample_size=batch.batch_size):
            return pyro.sample("z", q)  # (B, Z)
