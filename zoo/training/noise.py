"""A shard's random draws, equal to the draws one process makes for the same rows.

A rank that trains on rows [start, start + rows) of a global minibatch of `total` rows draws
every batch-shaped random tensor (its first dimension the shard's rows, or K copies of them
as Batch.tile lays them out, and at least two dimensions) at the global batch's size, then
keeps its own rows: torch.randn_like, Tensor.normal_ (torch.distributions' rsample),
torch.rand, torch.bernoulli, torch.multinomial, dropout and torch's other random functions.
Every rank thereby consumes the random stream exactly as one process training on the whole
minibatch does: a guide's noise for a sequence is the noise one process gives it, and draws
shared by the whole minibatch (one draw of the weights w ~ q(w)) are the same on every rank. A draw that only looks batch-shaped is still a valid draw of its
distribution; it is then merely not the one a single process would have made.

The minibatch plate's index draw (pyro.plate with subsample_size) is treated the same way:
the global batch's draw, cut to the shard.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager

import torch
from pyro.poutine.messenger import Messenger
from pyro.poutine.subsample_messenger import _Subsample
from torch.overrides import TorchFunctionMode


class ShardRows:
    """Rows [start, start + rows) of a minibatch of `total` rows."""

    def __init__(self, start: int, rows: int, total: int):
        assert 0 <= start and 0 < rows and start + rows <= total, (start, rows, total)
        self.start, self.rows, self.total = start, rows, total

    def copies(self, size: int) -> int:
        """How many copies of the shard's rows a leading dimension of `size` holds; 0 if none."""
        return size // self.rows if size > 0 and size % self.rows == 0 else 0

    def widen(self, t: torch.Tensor, copies: int) -> torch.Tensor:
        """The shard's rows (copies, rows, ...) placed in a global tensor (copies * total, ...);
        the other rows repeat the shard's first row, so they hold valid values."""
        local = t.reshape(copies, self.rows, *t.shape[1:])  # (C, R, ...)
        wide = local[:, :1].expand(copies, self.total, *t.shape[1:]).clone()  # (C, G, ...)
        wide[:, self.start : self.start + self.rows] = local
        return wide.reshape(copies * self.total, *t.shape[1:])

    def narrow(self, t: torch.Tensor, copies: int) -> torch.Tensor:
        """The shard's rows of a global tensor (copies * total, ...) -> (copies * rows, ...)."""
        wide = t.reshape(copies, self.total, *t.shape[1:])
        return wide[:, self.start : self.start + self.rows].reshape(copies * self.rows, *t.shape[1:]).clone()


# torch's functions and tensor methods that draw random numbers, by name
RANDOM = frozenset(
    {
        "rand",
        "randn",
        "randint",
        "rand_like",
        "randn_like",
        "randint_like",
        "normal",
        "bernoulli",
        "multinomial",
        "poisson",
        "binomial",
        "_standard_gamma",
        "normal_",
        "uniform_",
        "bernoulli_",
        "exponential_",
        "random_",
        "geometric_",
        "cauchy_",
        "log_normal_",
        "dropout",
        "alpha_dropout",
        "feature_alpha_dropout",
        "dropout1d",
        "dropout2d",
        "dropout3d",
    }
)
SIZED = frozenset({"rand", "randn"})  # torch.randn(3, 4) as well as torch.randn((3, 4))


class GlobalNoise(TorchFunctionMode):
    """Every batch-shaped random draw made at the global minibatch's size, the shard's rows kept.

    It sees torch's functions and tensor methods as Python calls them (torch.randn_like,
    Tensor.normal_, F.dropout, ...), a few per cent of a step; random ops that torch runs inside
    one C++ call (the dropout between the layers of a stacked nn.LSTM) are a shard's own draws."""

    def __init__(self, shard: ShardRows):
        super().__init__()
        self.shard = shard

    def __torch_function__(self, func, types, args=(), kwargs=None):
        """Run `func`; a random one of batch-shaped arguments at the global batch's size."""
        kwargs = kwargs or {}
        name = getattr(func, "__name__", None)
        if name not in RANDOM:
            return func(*args, **kwargs)
        if name in SIZED and len(args) > 1 and all(isinstance(a, int) for a in args):
            args = (tuple(args),)
        copies = self.batch_copies(args, kwargs)
        if not copies:
            return func(*args, **kwargs)
        wide_args = [self.widen(a, copies) for a in args]
        out = func(*wide_args, **{k: self.widen(v, copies) for k, v in kwargs.items()})
        if name.endswith("_") or kwargs.get("inplace") or ("dropout" in name and args[3:4] == (True,)):
            return args[0].copy_(self.shard.narrow(out, copies))  # in place: the shard's own tensor
        return self.narrow_outputs(out, copies)

    def batch_shaped(self, value) -> int:
        """Copies of the shard's rows in a tensor or a size of at least two dimensions; 0 if none."""
        if isinstance(value, torch.Tensor):
            return self.shard.copies(value.shape[0]) if value.dim() >= 2 else 0
        if isinstance(value, (list, tuple)) and len(value) >= 2 and all(isinstance(v, int) for v in value):
            return self.shard.copies(value[0])
        return 0

    def batch_copies(self, args, kwargs) -> int:
        """The copies of the shard's rows in a call's batch-shaped arguments (0 if none or if they disagree)."""
        found = {self.batch_shaped(v) for v in [*args, *kwargs.values()]} - {0}
        return found.pop() if len(found) == 1 else 0

    def widen(self, value, copies: int):
        """A batch-shaped argument at the global batch's size; any other as it is."""
        if self.batch_shaped(value) != copies:
            return value
        if isinstance(value, torch.Tensor):
            return self.shard.widen(value, copies)
        return type(value)([copies * self.shard.total, *value[1:]])

    def narrow_outputs(self, out, copies: int):
        """The shard's rows of every output of the global batch's size."""
        if isinstance(out, torch.Tensor):
            return (
                self.shard.narrow(out, copies) if out.dim() >= 1 and out.shape[0] == copies * self.shard.total else out
            )
        if isinstance(out, (tuple, list)):
            return type(out)(self.narrow_outputs(o, copies) for o in out)
        return out


class GlobalSubsample(Messenger):
    """The minibatch plate's subsample indices drawn for the global minibatch, cut to the shard."""

    def __init__(self, shard: ShardRows, dataset_size: int):
        super().__init__()
        self.shard, self.dataset_size = shard, dataset_size

    def _pyro_sample(self, msg):
        """A subsample of the data set the shard's minibatch was drawn from: the global one's rows."""
        fn = msg["fn"]
        if (
            isinstance(fn, _Subsample)
            and msg["value"] is None
            and fn.size == self.dataset_size
            and fn.subsample_size == self.shard.rows
        ):
            indices = _Subsample(fn.size, self.shard.total, device=fn.device).sample()
            msg["value"] = indices[self.shard.start : self.shard.start + self.shard.rows]


@contextmanager
def global_noise(shard: ShardRows | None, dataset_size: int):
    """Within: the shard's draws are one process's draws for its rows (nothing changes for None)."""
    if shard is None or shard.rows == shard.total:
        yield
        return
    with ExitStack() as stack:
        stack.enter_context(GlobalSubsample(shard, dataset_size))
        stack.enter_context(GlobalNoise(shard))
        yield
