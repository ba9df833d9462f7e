"""Figures against a known data distribution, the oracle LSTM of zoo.data.oracle (SeqGAN,
Yu et al. 2016, section 5), in nats per token:

NLL-oracle            -(1/T) E_{x ~ q} log p_oracle(x): the oracle's NLL of n sequences a
                      generator q draws. Low when q's samples are ones the oracle would write;
                      blind to what q misses (a q that repeats one likely sequence scores well).
NLL-test              -(1/T) E_{x ~ p_oracle} log q(x): the model's held-out figure on the test
                      split, of its usual kind (exact, posterior predictive, IWAE-K); blind to
                      what q makes up. Its floor is the oracle's entropy rate, estimated by
                      `oracle_test_nll`.
uniform NLL-oracle    NLL-oracle of a generator that draws every token uniformly, the paper's
                      "random" row, with the last token's draw summed out exactly.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from zoo.data.dataset import SequenceData
from zoo.data.oracle import OracleLSTM, oracle_for
from zoo.errors import ZooError
from zoo.evaluation.likelihood import Figure
from zoo.evaluation.sampling import draw_in_batches


def nll_oracle(oracle: OracleLSTM, samples: Tensor, batch_size: int = 1000, kind: str = "NLL-oracle") -> Figure:
    """-log p_oracle(x_i) summed over the samples (n, T) and divided by n T, with its error."""
    samples = samples.cpu()
    log_p = torch.cat([oracle.log_prob(samples[i : i + batch_size]) for i in range(0, len(samples), batch_size)])
    lengths = torch.full((len(samples),), samples.shape[1])
    return Figure.from_sequences(kind, -log_p, lengths)


def oracle_test_nll(oracle: OracleLSTM, data: SequenceData, split: str = "test", limit: int | None = None) -> Figure:
    """The oracle's own NLL of a held-out split: the floor of every model's NLL-test (exact)."""
    return nll_oracle(oracle, torch.stack(data.split(split, limit)), kind="oracle NLL-test (exact)")


def model_nll_oracle(model, guide, oracle: OracleLSTM, n: int = 2000, batch_size: int = 250) -> Figure:
    """NLL-oracle of a trained generator from n samples of the oracle's length T."""
    return nll_oracle(oracle, draw_in_batches(model, guide, n, oracle.length, batch_size))


@torch.no_grad()
def uniform_nll_oracle(oracle: OracleLSTM, n: int = 2000, generator: torch.Generator | None = None) -> Figure:
    """NLL-oracle of a generator whose every token is uniform on the V tokens, from n prefixes:
    for each sampled prefix x_{<t} the mean over v of -log p_oracle(v | x_{<t}) is exact, so
    only the prefixes are random (a Rao-Blackwellised estimate of the paper's random row)."""
    x = torch.randint(0, oracle.vocab_size, (n, oracle.length), generator=generator)  # (n, T)
    x_prev, h, c = oracle.initial(n)
    nll = torch.zeros(n)
    for t in range(oracle.length):
        logits, h, c = oracle.step(x_prev, h, c)  # (n, V)
        nll -= logits.log_softmax(-1).mean(-1)  # E_{v ~ uniform} log p(v | x_{<t})
        x_prev = x[:, t]
    return Figure.from_sequences("uniform NLL-oracle", nll, torch.full((n,), oracle.length))


def uniform_nll_test(vocab_size: int) -> float:
    """The uniform generator's NLL-test: log V nats per token, whatever the data."""
    return math.log(vocab_size)


def uniform_row(oracle: OracleLSTM, n: int, generator: torch.Generator | None = None) -> dict:
    """The uniform generator's row of an oracle table: its NLL-oracle from n prefixes and its
    exact NLL-test, log V nats per token."""
    return {
        "nll_oracle": uniform_nll_oracle(oracle, n, generator).as_dict(),
        "nll_test": {"kind": "exact", "nats_per_step": uniform_nll_test(oracle.vocab_size), "stderr": 0.0},
    }


def oracle_figures(
    model, guide, data: SequenceData, num_samples: int, option: str = "evaluate.oracle_samples"
) -> list[Figure]:
    """[NLL-oracle of `num_samples` sequences drawn from the model] when the data come from a
    known oracle (data=oracle); [] for other data. `option` names the setting of `num_samples`
    in errors."""
    oracle = oracle_for(data)
    if oracle is None:
        return []
    if num_samples < 1:
        raise ZooError(f"{option}={num_samples}; NLL-oracle needs at least one sample")
    return [model_nll_oracle(model, guide, oracle, num_samples)]
