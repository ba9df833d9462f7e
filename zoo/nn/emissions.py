"""Emitters: p(x_t | h_t) for each kind of value, and the features x_t feeds back:
softmax for tokens, Bernoulli for binary frames, diagonal Gaussian or a Gaussian mixture
for real frames, Graves's mixture density output for pen strokes, and RNN-NADE's output for
binary frames whose notes depend on each other
(`model.net.emission=auto|softmax|bernoulli|nade|gaussian|gmm|mdn`; mdn is in zoo.nn.pen_mixture,
nade in zoo.nn.nade).

An emitter does two things for a recurrent generator:
  features(x)   what the network reads at the next step, (B, T, ...) -> (B, T, F)
  forward(h)    the distribution of x_t given the state, (B, T, H) -> batch shape (B, T)
"""

from __future__ import annotations

import pyro.distributions as dist
import torch
from torch import Tensor, nn
from torch.nn.functional import softplus

from zoo.data.dataset import DataSpec
from zoo.errors import ZooError
from zoo.nn.nade import NADEEmitter
from zoo.nn.pen_mixture import MixtureDensityEmitter


class CategoricalEmitter(nn.Module):
    """p(x_t | h_t) = Categorical(softmax(W_y h_t + b_y)): the softmax output of Graves 2013, eq. 17."""

    def __init__(self, vocab_size: int, hidden_size: int, embedding_size: int | None = None):
        super().__init__()
        self.vocab_size = vocab_size
        # An embedding is the one-hot input of Graves 2013 times its first weight matrix.
        self.embed = nn.Embedding(vocab_size, embedding_size or vocab_size)
        self.output = nn.Linear(hidden_size, vocab_size)

    @property
    def feature_size(self) -> int:
        return self.embed.embedding_dim

    def features(self, x: Tensor) -> Tensor:
        return self.embed(x)  # (B, T) -> (B, T, E)

    def forward(self, h: Tensor, temperature: float = 1.0) -> dist.Distribution:
        return dist.Categorical(logits=self.output(h) / temperature)  # batch (B, T)


class _FrameEmitter(nn.Module):
    """Emitters of D-dimensional frames read the frame itself back as the next input."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    @property
    def feature_size(self) -> int:
        return self.dim

    def features(self, x: Tensor) -> Tensor:
        return x  # (B, T, D)


class BernoulliEmitter(_FrameEmitter):
    """p(x_t | h_t) = prod_d Bernoulli(x_td | sigmoid(W_y h_t + b_y)_d): independent notes
    of a piano roll given the state (Graves 2013 section 3's binary output; Boulanger-Lewandowski 2012)."""

    def __init__(self, dim: int, hidden_size: int):
        super().__init__(dim)
        self.output = nn.Linear(hidden_size, dim)

    def forward(self, h: Tensor, temperature: float = 1.0) -> dist.Distribution:
        return dist.Bernoulli(logits=self.output(h) / temperature).to_event(1)  # batch (B, T)


class GaussianEmitter(_FrameEmitter):
    """p(x_t | h_t) = N(mu(h_t), diag sigma(h_t)^2) over real frames; sigma = softplus(.) + a floor."""

    def __init__(self, dim: int, hidden_size: int, min_scale: float = 1e-3):
        super().__init__(dim)
        self.min_scale = min_scale
        self.loc = nn.Linear(hidden_size, dim)
        self.scale = nn.Linear(hidden_size, dim)

    def forward(self, h: Tensor, temperature: float = 1.0) -> dist.Distribution:
        scale = (softplus(self.scale(h)) + self.min_scale) * temperature
        return dist.Normal(self.loc(h), scale).to_event(1)  # batch (B, T)


class GaussianMixtureEmitter(_FrameEmitter):
    """p(x_t | h_t) = sum_m pi_m(h_t) N(x_t | mu_m(h_t), diag sigma_m(h_t)^2): a mixture density
    output (Bishop 1994; Graves 2013 section 4 without the pen bit). Temperature divides the
    mixture logits and scales the sigmas."""

    def __init__(self, dim: int, hidden_size: int, components: int = 5, min_scale: float = 1e-3):
        super().__init__(dim)
        self.components, self.min_scale = components, min_scale
        self.logits = nn.Linear(hidden_size, components)
        self.loc = nn.Linear(hidden_size, components * dim)
        self.scale = nn.Linear(hidden_size, components * dim)

    def forward(self, h: Tensor, temperature: float = 1.0) -> dist.Distribution:
        shape = (*h.shape[:-1], self.components, self.dim)
        loc = self.loc(h).reshape(shape)  # (B, T, M, D)
        scale = (softplus(self.scale(h)).reshape(shape) + self.min_scale) * temperature
        mixture = dist.Categorical(logits=self.logits(h) / temperature)  # batch (B, T)
        return dist.MixtureSameFamily(mixture, dist.Normal(loc, scale).to_event(1))  # batch (B, T), event (D,)


def draw_sample(p: dist.Distribution) -> Tensor:
    """One draw of an emitter's distribution. Tokens are drawn by the Gumbel-max trick,
    argmax_v (logit_v + G_v) with G_v ~ Gumbel(0, 1): an exact draw of the softmax, and on a CPU
    many times faster than torch.multinomial over a large vocabulary (SeqGAN's rollouts)."""
    if isinstance(p, dist.Categorical):
        u = torch.rand_like(p.logits).clamp_(min=torch.finfo(p.logits.dtype).tiny)
        return (p.logits - torch.log(-torch.log(u))).argmax(-1)
    return p.sample()


EMISSIONS = {
    "softmax": "categorical",
    "bernoulli": "bernoulli",
    "nade": "bernoulli",
    "gaussian": "real",
    "gmm": "real",
    "mdn": "strokes",
}
AUTO = {"categorical": "softmax", "bernoulli": "bernoulli", "real": "gaussian", "strokes": "mdn"}


def make_emitter(
    spec: DataSpec,
    hidden_size: int,
    emission: str = "auto",
    embedding_size: int | None = None,
    components: int | None = None,
):
    """The emitter for a data set: `auto` takes softmax for tokens, bernoulli for binary
    frames, gaussian for real frames and mdn for pen strokes. `components`, the size of the
    emission's inner layer: mixture components (None: 5 for gmm, Graves's 20 for mdn), or
    NADE's hidden units (None: 100)."""
    if emission == "auto":
        emission = AUTO[spec.kind]
    if emission not in EMISSIONS:
        raise ZooError(f"model.net.emission={emission!r} is not one of auto, {', '.join(EMISSIONS)}")
    if EMISSIONS[emission] != spec.kind:
        raise ZooError(f"model.net.emission={emission!r} cannot model {spec.kind} data; use model.net.emission=auto")
    if emission == "softmax":
        return CategoricalEmitter(spec.dim, hidden_size, embedding_size)
    if emission == "bernoulli":
        return BernoulliEmitter(spec.dim, hidden_size)
    if emission == "nade":
        return NADEEmitter(spec.dim, hidden_size, components or 100)
    if emission == "gaussian":
        return GaussianEmitter(spec.dim, hidden_size)
    if emission == "mdn":
        return MixtureDensityEmitter(hidden_size, components or 20)
    return GaussianMixtureEmitter(spec.dim, hidden_size, components or 5)
