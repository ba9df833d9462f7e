"""A synthetic benchmark whose true likelihood is known: the oracle LSTM of SeqGAN (Yu et al.
2016, "SeqGAN: sequence generative adversarial nets with policy gradient", arXiv 1609.05473,
section 5, "synthetic data experiments").

A randomly initialised LSTM plays the real world. Its generative story, every parameter drawn
once from N(0, 1) by a torch.Generator seeded with `seed`:

    E in R^{V x E}, W in R^{4H x E}, U in R^{4H x H}, b in R^{4H},
    W_o in R^{V x H}, b_o in R^V                          ~ N(0, 1), entry by entry
    x_0 = START = 0                                        a fixed start input (SeqGAN's start_token)
    h_0 = c_0 = 0
    (i_t, f_t, g_t, o_t) = W E[x_{t-1}] + U h_{t-1} + b   the four gates, (4H,) cut in four
    c_t = sigmoid(f_t) * c_{t-1} + sigmoid(i_t) * tanh(g_t)
    h_t = sigmoid(o_t) * tanh(c_t)
    x_t ~ Categorical(softmax(W_o h_t + b_o))              t = 1..T

with V = 5000 tokens, E = H = 32 and T = 20 in the paper. The start token 0 is also an
ordinary token that x_t may take, as in SeqGAN's target LSTM.

`load` draws `num_train` training sequences (10,000 in the paper) and held-out valid and test
sequences, each split from its own seeded stream, so the held-out sets do not change with
`num_train`. Because log p_oracle(x) is exact, a generator q is scored two ways
(zoo.evaluation.oracle_metrics):

    NLL-oracle = -E_{x ~ q} log p_oracle(x) / T     do q's samples look real to the oracle?
    NLL-test   = -E_{x ~ p_oracle} log q(x) / T     the model's own held-out figure on test

and the oracle's NLL of its own test split (its entropy rate, estimated) is the floor of
NLL-test. The oracle in SeqGAN's repository is one fixed draw stored as a pickle: `oracle="seqgan"`
(`data.oracle=seqgan`) reads it (zoo.data.seqgan_oracle), so figures are on the paper's own
oracle; the default `oracle="random"` is another draw of the same architecture, which needs no
file and takes any sizes, so its figures compare with the paper's in scale only. Both share
`Oracle`'s likelihood and sampler, and the splits' seeded streams.
"""

from __future__ import annotations

import os
import tempfile

import torch
from torch import Tensor, nn

from zoo.data.dataset import DataSpec, SequenceData
from zoo.data.fetch import cache_dir
from zoo.errors import ZooError
from zoo.options import did_you_mean

START = 0  # x_0, the token read before the first step
STREAMS = {"oracle": 0, "train": 1, "valid": 2, "test": 3}  # seed streams: 4 * seed + stream
SAMPLER_VERSION = 1  # bump when the oracle or its sampler changes, to redraw cached splits


class Oracle(nn.Module):
    """A next-token LSTM that plays the real world: p_oracle(x) = prod_t p(x_t | x_{<t}), read
    from x_0 = START and zero states. A subclass gives `step` (one LSTM step and the logits of
    the next token), `vocab_size`, `hidden_size`, `length` (T) and `cache_key` (names its
    splits' cache files); the likelihood and the sampler are shared."""

    vocab_size: int
    hidden_size: int
    length: int
    seed: int  # the splits' streams: 4 * seed + stream

    def step(self, x_prev: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(B,), (B, H), (B, H) -> logits of p(x_t | x_{<t}) (B, V), h_t (B, H), c_t (B, H)."""
        raise NotImplementedError

    def cache_key(self) -> str:
        """What fixes this oracle's draws, for the names of cached splits."""
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        """Where the oracle's weights live."""
        return next(self.buffers()).device

    def initial(self, batch_size: int) -> tuple[Tensor, Tensor, Tensor]:
        """(x_0, h_0, c_0): the start token and zero states."""
        x0 = torch.full((batch_size,), START, dtype=torch.long, device=self.device)
        zeros = next(self.buffers()).new_zeros(batch_size, self.hidden_size)
        return x0, zeros, zeros

    @torch.no_grad()
    def log_prob(self, x: Tensor) -> Tensor:
        """log p_oracle(x) per sequence in nats: (B, T) token ids -> (B,)."""
        x = x.to(self.device)
        x_prev, h, c = self.initial(x.shape[0])
        total = next(self.buffers()).new_zeros(x.shape[0])
        for t in range(x.shape[1]):
            logits, h, c = self.step(x_prev, h, c)  # (B, V)
            total += logits.log_softmax(-1).gather(-1, x[:, t : t + 1]).squeeze(-1)
            x_prev = x[:, t]
        return total

    @torch.no_grad()
    def sample(
        self, n: int, generator: torch.Generator | None = None, length: int | None = None, batch_size: int = 1000
    ) -> Tensor:
        """n sequences of `length` (default the oracle's T) drawn ancestrally: (n, T) long.
        The draws come from `generator` (the global one if None), `batch_size` rows at a time."""
        length = length or self.length
        pieces = []
        for start in range(0, n, batch_size):
            x_t, h, c = self.initial(min(batch_size, n - start))
            steps = []
            for _ in range(length):
                logits, h, c = self.step(x_t, h, c)  # (b, V)
                x_t = _inverse_cdf(logits, generator)  # (b,)
                steps.append(x_t)
            pieces.append(torch.stack(steps, 1))  # (b, T)
        return torch.cat(pieces)


class OracleLSTM(Oracle):
    """p_oracle(x) = prod_t Categorical(x_t | softmax(W_o h_t + b_o)), h_t an LSTM of x_{<t}.

    Every weight is a buffer drawn from N(0, 1): the oracle is fixed by its sizes and `seed`
    and never trained. Drawing it touches no global random state.
    """

    def __init__(
        self, vocab_size: int = 5000, embedding_size: int = 32, hidden_size: int = 32, length: int = 20, seed: int = 88
    ):
        super().__init__()
        self.vocab_size, self.hidden_size, self.length, self.seed = vocab_size, hidden_size, length, seed
        g = _stream(seed, "oracle")
        V, E, H = vocab_size, embedding_size, hidden_size
        for name, shape in [
            ("E", (V, E)),
            ("W", (4 * H, E)),
            ("U", (4 * H, H)),
            ("b", (4 * H,)),
            ("W_o", (V, H)),
            ("b_o", (V,)),
        ]:
            self.register_buffer(name, torch.randn(shape, generator=g))

    def step(self, x_prev: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One LSTM step and the logits of p(x_t | x_{<t}): (B,), (B, H), (B, H) ->
        logits (B, V), h_t (B, H), c_t (B, H)."""
        gates = self.E[x_prev] @ self.W.T + h @ self.U.T + self.b  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=-1)  # (B, H) each
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return torch.addmm(self.b_o, h, self.W_o.T), h, c  # (B, V), (B, H), (B, H)

    def cache_key(self) -> str:
        """Sizes and seed: they fix the weights and the draws."""
        return "-".join(
            f"{a}{b}"
            for a, b in [
                ("V", self.vocab_size),
                ("E", self.E.shape[1]),
                ("H", self.hidden_size),
                ("T", self.length),
                ("seed", self.seed),
            ]
        )


def _inverse_cdf(logits: Tensor, generator: torch.Generator | None) -> Tensor:
    """One draw per row of Categorical(softmax(logits)), (B, V) -> (B,): the first v whose
    unnormalised cumulative weight F(v) exceeds u F(V), u ~ U(0, 1). Several times faster
    than torch.multinomial on the CPU for V in the thousands."""
    cdf = (logits - logits.amax(-1, keepdim=True)).exp_().cumsum_(-1)  # (B, V)
    u = torch.rand(logits.shape[0], 1, generator=generator).to(logits.device) * cdf[:, -1:]  # (B, 1)
    return torch.searchsorted(cdf, u, right=True).squeeze(-1).clamp_(max=logits.shape[-1] - 1)  # (B,)


def _stream(seed: int, name: str) -> torch.Generator:
    """The generator of one stream of draws (the oracle's weights or one split) of a seed."""
    return torch.Generator().manual_seed(4 * seed + STREAMS[name])


ORACLES = ("random", "seqgan")  # data.oracle: a fresh N(0, 1) draw, or SeqGAN's published weights


def load(
    vocab_size: int = 5000,
    embedding_size: int = 32,
    hidden_size: int = 32,
    length: int = 20,
    num_train: int = 10_000,
    num_valid: int = 1000,
    num_test: int = 2000,
    seed: int = 88,
    oracle: str = "random",
    data_dir: str | os.PathLike | None = None,
) -> SequenceData:
    """Sequences of an oracle LSTM as token ids (kind categorical, no text vocabulary): with
    `oracle="random"` the N(0, 1) draw of the module docstring, with `oracle="seqgan"`
    SeqGAN's published oracle (zoo.data.seqgan_oracle, read from `data_dir`), whose sizes are
    fixed (5000 tokens, embedding and hidden 32). `data.info["oracle"]` holds what rebuilds the
    oracle; `oracle_for` rebuilds it."""
    if oracle not in ORACLES:
        raise ZooError(f"data.oracle={oracle!r} is not one of {', '.join(ORACLES)}{did_you_mean(str(oracle), ORACLES)}")
    args = {
        "vocab_size": vocab_size,
        "embedding_size": embedding_size,
        "hidden_size": hidden_size,
        "length": length,
        "seed": seed,
    }
    counts = {"train": num_train, "valid": num_valid, "test": num_test}
    for field, value in {**args, **{f"num_{s}": n for s, n in counts.items()}}.items():
        least = 0 if field == "seed" else 1
        if not isinstance(value, int) or value < least:
            raise ZooError(f"data.{field}={value!r}; it must be an integer of at least {least}")
    if oracle == "seqgan":
        model, info = _seqgan(args, data_dir)
    else:
        model, info = OracleLSTM(**args), args
    splits = {split: list(draw_split(model, split, n)) for split, n in counts.items()}  # n tensors of (T,)
    return SequenceData("oracle", DataSpec("categorical", vocab_size), **splits, info={"oracle": info})


def _seqgan(args: dict, data_dir: str | os.PathLike | None) -> tuple[Oracle, dict]:
    """SeqGAN's oracle and its entry of `data.info`, after checking that the sizes asked for
    are its own."""
    from zoo.data.seqgan_oracle import EMB_DIM, HIDDEN_DIM, NUM_EMB, seqgan_oracle

    for field, size in [("vocab_size", NUM_EMB), ("embedding_size", EMB_DIM), ("hidden_size", HIDDEN_DIM)]:
        if args[field] != size:
            raise ZooError(
                f"data.{field}={args[field]}, but SeqGAN's oracle (data.oracle=seqgan) has {size}; "
                f"set data.{field}={size} or use data.oracle=random"
            )
    info = {
        "oracle": "seqgan",
        "length": args["length"],
        "seed": args["seed"],
        "data_dir": None if data_dir is None else str(data_dir),
    }
    return seqgan_oracle(data_dir, args["length"], args["seed"]), info


def draw_split(oracle: Oracle, split: str, n: int) -> Tensor:
    """The n sequences of one split, (n, T), from the split's own stream; cached under
    `cache_dir()` because 10,000 draws over 5000 tokens take a while on a CPU."""
    path = cache_dir() / f"oracle-v{SAMPLER_VERSION}-{oracle.cache_key()}-{split}{n}.pt"
    if path.exists():
        return torch.load(path, weights_only=True)
    x = oracle.sample(n, _stream(oracle.seed, split))  # (n, T)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as f:
        torch.save(x, f)
    os.replace(f.name, path)
    return x


def oracle_for(data: SequenceData) -> Oracle | None:
    """The oracle that generated `data`, rebuilt from `data.info["oracle"]` (a random oracle's
    seed and sizes, or SeqGAN's file); None for other data."""
    args = data.info.get("oracle")
    if args is None:
        return None
    if args.get("oracle") == "seqgan":
        from zoo.data.seqgan_oracle import seqgan_oracle

        return seqgan_oracle(args["data_dir"], args["length"], args["seed"])
    return OracleLSTM(**args)
