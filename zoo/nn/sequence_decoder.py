"""A recurrent language model started from a code: the decoder of sequence autoencoders.

    s_0 = (tanh(W_h c + b_h), W_c c + b_c)                  the code sets the LSTM's initial state
    s_t = LSTM([x_{t-1}; c], s_{t-1})                       x_0 = 0; c fed at every step only with feed_code
    x_t ~ p(x_t | s_t)                                      an emitter (softmax, Bernoulli, ...)

Word dropout (Bowman et al. 2015): during training, each input x_{t-1} (t > 1) is
replaced by a learned "unknown" input with probability `word_dropout`, so the decoder must
take what it cannot read from its inputs from the code.
"""

from __future__ import annotations

import pyro.distributions as dist
import torch
from torch import Tensor, nn
from torch.distributions import Bernoulli, Categorical, Independent

from zoo.data.dataset import DataSpec
from zoo.errors import ZooError
from zoo.nn.emissions import make_emitter
from zoo.nn.nade import NADE


def most_likely(p: dist.Distribution) -> Tensor:
    """The greedy choice at one step: the most probable token, each note on iff p > 1/2, or the
    mean of a real frame."""
    if isinstance(p, NADE):
        return p.mode
    base = p.base_dist if isinstance(p, Independent) else p
    if isinstance(base, Categorical):
        return base.logits.argmax(-1)
    if isinstance(base, Bernoulli):
        return (base.logits > 0).to(base.logits.dtype)
    return p.mean


class RecurrentDecoder(nn.Module):
    """p(x_{1:T} | c) = prod_t p(x_t | x_{<t}, c), an LSTM whose initial state is a function of c."""

    def __init__(
        self,
        spec: DataSpec,
        code_size: int,
        hidden_size: int = 256,
        num_layers: int = 1,
        feed_code: bool = False,
        word_dropout: float = 0.0,
        emission: str = "auto",
        embedding_size: int | None = None,
        components: int | None = None,
    ):
        super().__init__()
        if not 0.0 <= word_dropout <= 1.0:
            raise ZooError(f"model.net.word_dropout={word_dropout} must be a rate in [0, 1]")
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.feed_code, self.word_dropout = feed_code, word_dropout
        self.emitter = make_emitter(spec, hidden_size, emission, embedding_size, components)
        features = self.emitter.feature_size
        self.initial = nn.Linear(code_size, 2 * num_layers * hidden_size)  # c -> s_0
        self.unknown = nn.Parameter(torch.zeros(features))  # the input that replaces a dropped x_{t-1}
        self.lstm = nn.LSTM(features + (code_size if feed_code else 0), hidden_size, num_layers, batch_first=True)

    def initial_state(self, code: Tensor) -> tuple[Tensor, Tensor]:
        """s_0 = (h_0, c_0) from the code: (B, C) -> two (layers, B, H)."""
        B = code.shape[0]
        h, c = self.initial(code).view(B, 2, self.num_layers, self.hidden_size).permute(1, 2, 0, 3)
        return torch.tanh(h).contiguous(), c.contiguous()

    def inputs(self, x: Tensor, code: Tensor, drop_words: bool | None = None) -> Tensor:
        """What the LSTM reads at each step: x_{t-1} (zeros at t = 1), dropped to the unknown input
        at rate word_dropout (by default in training mode only), and c with feed_code.
        (B, T[, D]) -> (B, T, F[+C])."""
        features = self.emitter.features(x)  # (B, T, F)
        start = features.new_zeros(features.shape[0], 1, features.shape[2])  # (B, 1, F)
        previous = torch.cat([start, features[:, :-1]], dim=1)  # x_{t-1}: (B, T, F)
        if (self.training if drop_words is None else drop_words) and self.word_dropout > 0:
            drop = torch.rand(previous.shape[:2], device=previous.device) < self.word_dropout  # (B, T)
            drop[:, 0] = False  # the start vector is no word
            previous = torch.where(drop[..., None], self.unknown.expand_as(previous), previous)
        if self.feed_code:
            previous = torch.cat([previous, code[:, None].expand(-1, previous.shape[1], -1)], dim=-1)
        return previous

    def forward(self, x: Tensor, code: Tensor, temperature: float = 1.0) -> dist.Distribution:
        """p(x_t | x_{<t}, c) for every t, teacher forced: batch shape (B, T)."""
        h, _ = self.lstm(self.inputs(x, code), self.initial_state(code))  # (B, T, H)
        return self.emitter(h, temperature)

    @torch.no_grad()
    def generate(
        self, code: Tensor, length: int, temperature: float = 1.0, greedy: bool = False, prime: Tensor | None = None
    ) -> Tensor:
        """`length` new steps from each code, drawn (or, greedy, the most likely step each time),
        optionally continuing `prime` ((P,) ids or (P, D) frames). (n, C) -> (n, P + length[, D])."""
        n = code.shape[0]
        state = self.initial_state(code)
        pieces = []
        inputs = code.new_zeros(n, 1, self.emitter.feature_size)  # the start vector
        if prime is not None and len(prime) > 0:
            prime = prime.to(code.device).expand(n, *prime.shape)  # (n, P[, D])
            _, state = self.lstm(self.inputs(prime, code, drop_words=False), state)  # reads x_0 .. x_{P-1}
            pieces.append(prime)
            inputs = self.emitter.features(prime[:, -1:])  # x_P is read next
        for _ in range(length):
            step = torch.cat([inputs, code[:, None]], -1) if self.feed_code else inputs
            h, state = self.lstm(step, state)  # (n, 1, H)
            p_x = self.emitter(h, temperature)
            x_t = most_likely(p_x) if greedy else p_x.sample()  # (n, 1[, D])
            pieces.append(x_t)
            inputs = self.emitter.features(x_t)
        return torch.cat(pieces, dim=1)
