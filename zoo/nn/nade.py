"""The NADE output of RNN-NADE (Boulanger-Lewandowski, Bengio & Vincent 2012, arXiv 1206.6392,
section 4; NADE: Larochelle & Murray 2011): the notes of a frame are modelled one after another
given the state, so a chord's notes depend on each other instead of being independent coins.

    a_d = c(h) + W_{:, <d} x_{<d}                          NADE's hidden pre-activation for note d
    p(x_d = 1 | x_{<d}, h) = sigmoid(b_d(h) + V_d . sigmoid(a_d))
    p(x | h) = prod_d p(x_d | x_{<d}, h)

b(h) and c(h) are linear in the recurrent state; W (H' x D) and V (D x H') are shared by all
steps. Sampling goes note by note, carrying a_d; so does log_prob on a CPU (on a GPU, all notes
at once).
"""

from __future__ import annotations

import pyro.distributions as dist
import torch
from torch import Tensor, nn
from torch.distributions import constraints
from torch.nn.functional import binary_cross_entropy_with_logits

GPU_AT_ONCE = 2**25  # elements of the (..., D, H') pre-activations computed at once on a GPU (128 MB)


class NADE(dist.TorchDistribution):
    """p(x | b, c) of binary frames x in {0, 1}^D. b (..., D), c (..., H'), W (H', D), V (D, H').
    Batch shape (...), event shape (D,). `temperature` divides each note's logit when sampling."""

    arg_constraints = {}
    support = constraints.independent(constraints.boolean, 1)
    has_rsample = False

    def __init__(self, b: Tensor, c: Tensor, W: Tensor, V: Tensor, temperature: float = 1.0, validate_args=None):
        self.b, self.c, self.W, self.V, self.temperature = b, c, W, V, temperature
        super().__init__(b.shape[:-1], b.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(NADE, _instance)
        batch_shape = torch.Size(batch_shape)
        new.b, new.c = self.b.expand(batch_shape + self.b.shape[-1:]), self.c.expand(batch_shape + self.c.shape[-1:])
        new.W, new.V, new.temperature = self.W, self.V, self.temperature
        super(NADE, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def logits(self, x: Tensor) -> Tensor:
        """The logit of p(x_d = 1 | x_{<d}) for every note d: (..., D). On a CPU note by note:
        each note touches (..., H') tensors only, and one (..., D, H') tensor of every a_d is
        slower there for any batch above a few dozen rows (it leaves the cache). On a GPU all
        notes at once (`logits_at_once`) while that tensor fits in GPU_AT_ONCE elements: one
        kernel per operation instead of D."""
        shape = torch.broadcast_shapes(x.shape[:-1], self.c.shape[:-1])
        if x.device.type != "cpu" and shape.numel() * self.W.numel() <= GPU_AT_ONCE:
            return self.logits_at_once(x)
        a = self.c.expand(shape + self.c.shape[-1:])  # a_0 = c: (..., H')
        logits = []
        for d in range(self.b.shape[-1]):
            logits.append(torch.sigmoid(a) @ self.V[d])  # V_d . sigmoid(a_d): (...,)
            a = torch.addcmul(a, x[..., d, None], self.W[:, d])  # a_{d+1} = a_d + x_d W_{:, d}
        return self.b + torch.stack(logits, -1)

    def logits_at_once(self, x: Tensor) -> Tensor:
        """`logits` from every a_d at once, an exclusive cumulative sum over the notes: (..., D)."""
        contribution = x[..., :, None] * self.W.T  # x_d W_{:, d} for each d: (..., D, H')
        a = self.c[..., None, :] + torch.cumsum(contribution, -2) - contribution  # sum over j < d
        return self.b + (torch.sigmoid(a) * self.V).sum(-1)

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        logits = self.logits(value)
        return -binary_cross_entropy_with_logits(logits, value.expand_as(logits), reduction="none").sum(-1)

    def sample(self, sample_shape=torch.Size()) -> Tensor:
        return self.note_by_note(torch.Size(sample_shape) + self.batch_shape, greedy=False)

    @property
    def mode(self) -> Tensor:
        """The greedy frame: each note on iff p(x_d = 1 | the notes chosen before it) > 1/2."""
        return self.note_by_note(self.batch_shape, greedy=True)

    def note_by_note(self, shape: torch.Size, greedy: bool) -> Tensor:
        with torch.no_grad():
            a = self.c.expand(shape + self.c.shape[-1:]).clone()  # (..., H')
            b = self.b.expand(shape + self.b.shape[-1:])
            notes = []
            for d in range(self.b.shape[-1]):
                logit = b[..., d] + torch.sigmoid(a) @ self.V[d]  # (...,)
                x_d = (logit > 0).to(a.dtype) if greedy else torch.bernoulli(torch.sigmoid(logit / self.temperature))
                a = a + x_d[..., None] * self.W[:, d]
                notes.append(x_d)
            return torch.stack(notes, -1)


class NADEEmitter(nn.Module):
    """p(x_t | h_t) = NADE(b(h_t), c(h_t)) over D notes, with H' hidden units; reads frames back."""

    def __init__(self, dim: int, hidden_size: int, nade_hidden: int = 100):
        super().__init__()
        self.dim = dim
        self.b = nn.Linear(hidden_size, dim)  # the notes' biases, from the state
        self.c = nn.Linear(hidden_size, nade_hidden)  # NADE's hidden biases, from the state
        self.W = nn.Parameter(0.01 * torch.randn(nade_hidden, dim))
        self.V = nn.Parameter(0.01 * torch.randn(dim, nade_hidden))

    @property
    def feature_size(self) -> int:
        return self.dim

    def features(self, x: Tensor) -> Tensor:
        return x  # (B, T, D)

    def forward(self, h: Tensor, temperature: float = 1.0) -> NADE:
        return NADE(self.b(h), self.c(h), self.W, self.V, temperature)  # batch (B, T), event (D,)
