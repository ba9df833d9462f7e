"""The classifier two-sample test (Lopez-Paz & Oquab 2017): about 1/2 when the model is the
process that made the data, about 1 when it is clearly wrong, never fooled by lengths."""

from __future__ import annotations

import json
import math

import pytest
import torch
from scipy.stats import binomtest
from torch import nn

from tests.helpers import QUICK, run_in_process
from zoo.data.dataset import DataSpec, SequenceData
from zoo.evaluation.two_sample import (
    accuracy_test,
    classifier_two_sample_test,
    end_mark,
    model_two_sample_test,
    paired_draws,
)

V = 5  # states of the chain
END = V  # the end token of lines
STAY = 0.9  # the chain steps to (s + 1) mod V with this probability, elsewhere uniformly
FAST = {"steps": 300, "patience": 100, "hidden_size": 32, "embedding_size": 16}  # a smaller classifier, for speed


def chain(n: int, length: int, g: torch.Generator, end: float = 0.0) -> torch.Tensor:
    """n sequences of a strongly structured Markov chain on V states, (n, length); with `end` > 0,
    each step after the third is the end token with that probability."""
    x = torch.empty(n, length, dtype=torch.long)
    x[:, 0] = torch.randint(0, V, (n,), generator=g)
    for t in range(1, length):
        step = torch.where(
            torch.rand(n, generator=g) < STAY, torch.ones(n, dtype=torch.long), torch.randint(0, V, (n,), generator=g)
        )
        x[:, t] = (x[:, t - 1] + step) % V
    if end:
        stop = (torch.rand(n, length, generator=g) < end) & (torch.arange(length) >= 3)
        x[stop] = END
    return x


def real_chain(n: int, g: torch.Generator, low: int = 5, high: int = 20, end: float = 0.0) -> list[torch.Tensor]:
    """Held-out sequences of the chain, lengths uniform in [low, high]; with `end`, cut after
    their first end token (lines)."""
    if end:
        return [s[: int((s == END).float().argmax()) + 1] for s in chain(n, 200, g, end) if (s == END).any()]
    return [chain(1, int(torch.randint(low, high + 1, (1,), generator=g)), g)[0] for _ in range(n)]


class Generator(nn.Module):
    """A stand-in for a trained model: draws from a given function of (n, length)."""

    def __init__(self, sample):
        super().__init__()
        self.sampler = sample

    def sample(self, n: int, length: int, temperature: float = 1.0, prime=None) -> torch.Tensor:
        return self.sampler(n, length)


def data_of(test: list[torch.Tensor], spec: DataSpec) -> SequenceData:
    return SequenceData("toy", spec, test[:2], test[:2], test)


def near_half(result: dict) -> bool:
    """Accuracy within 3 null standard errors, sqrt(1/4m), of 1/2."""
    return abs(result["accuracy"] - 0.5) < 3 * math.sqrt(0.25 / result["num_test"])


def test_the_standard_error_and_p_value_are_the_binomial_ones():
    r = accuracy_test(70, 100)
    assert r["accuracy"] == 0.7
    assert r["stderr"] == pytest.approx(math.sqrt(0.7 * 0.3 / 100))
    assert r["p_value"] == pytest.approx(binomtest(70, 100, 0.5, alternative="greater").pvalue)
    assert r["p_value"] == pytest.approx(sum(math.comb(100, k) for k in range(70, 101)) / 2**100)
    assert accuracy_test(50, 100)["p_value"] > 0.4


def test_the_chain_against_itself_is_near_half_and_uniform_tokens_near_one(one_thread):
    g = torch.Generator().manual_seed(1)
    spec = DataSpec("categorical", V)
    data = data_of(real_chain(300, g), spec)
    same = model_two_sample_test(Generator(lambda n, t: chain(n, t, g)), None, data, 300, seed=0, **FAST)
    uniform = Generator(lambda n, t: torch.randint(0, V, (n, t), generator=g))
    uniform = model_two_sample_test(uniform, None, data, 300, **FAST)
    assert same["num_test"] == 300 and same["pairs"] == {"cut": 300, "same_length": 0, "dropped": 0}
    assert near_half(same) and same["p_value"] > 0.01, same
    assert uniform["accuracy"] > 0.9 and uniform["p_value"] < 1e-20, uniform


def test_lengths_alone_do_not_separate(one_thread):
    g = torch.Generator().manual_seed(2)
    spec = DataSpec("categorical", V)
    real = real_chain(300, g, low=3, high=30)
    x = chain(300, 30, g)
    uncut = classifier_two_sample_test(real, list(x), spec, **FAST)  # every draw 30 long: its length gives it away
    real, fake, _ = paired_draws(real, x, None)
    assert [len(s) for s in fake] == [len(s) for s in real]
    cut = classifier_two_sample_test(real, fake, spec, **FAST)
    assert uncut["accuracy"] > 0.9, uncut
    assert near_half(cut), cut


def test_lines_pair_with_draws_that_end_at_their_length(one_thread):
    g = torch.Generator().manual_seed(3)
    spec = DataSpec("categorical", V + 1)
    data = data_of(real_chain(400, g, end=0.1), spec)
    assert end_mark(data.test, spec) == f"token {END}"
    model = Generator(lambda n, t: chain(n, t, g, end=0.1))
    result = model_two_sample_test(model, None, data, 300, seed=0, **FAST)
    assert result["end_mark"] == f"token {END}" and result["pairs"]["same_length"] >= 290, result["pairs"]
    assert near_half(result), result
    # cut at the real lengths without regard to ends, the same process is told apart by its missing end tokens
    real = data.test[:300]
    cut = [s[: len(r)] for s, r in zip(chain(300, 200, g, end=0.1), real)]
    naive = classifier_two_sample_test(real, cut, spec, **FAST)
    assert naive["accuracy"] > 0.8, naive


def scales(n: int, length: int, g: torch.Generator, dim: int = 12) -> torch.Tensor:
    """Piano rolls of rising scales from a random note, one note a frame, a step up each frame:
    (n, length, dim)."""
    notes = (torch.randint(0, dim, (n, 1), generator=g) + torch.arange(length)) % dim  # (n, length)
    return torch.nn.functional.one_hot(notes, dim).float()


def test_piano_rolls_from_the_process_are_near_half_and_shuffled_frames_near_one(one_thread):
    g = torch.Generator().manual_seed(4)
    spec = DataSpec("bernoulli", 12)
    data = data_of([s[: int(torch.randint(6, 17, (1,), generator=g))] for s in scales(300, 16, g)], spec)
    same = model_two_sample_test(Generator(lambda n, t: scales(n, t, g)), None, data, 300, **FAST)
    shuffled = model_two_sample_test(
        Generator(lambda n, t: scales(n, t, g)[:, torch.randperm(t, generator=g)]), None, data, 300, **FAST
    )
    assert near_half(same), same
    assert shuffled["accuracy"] > 0.9, shuffled


def test_real_frames_split_in_two_are_near_half_and_white_noise_near_one(one_thread):
    g = torch.Generator().manual_seed(5)

    def ar1(n: int, length: int) -> torch.Tensor:
        """x_t = 0.95 x_{t-1} + N(0, 1 - 0.95^2): unit variance, strongly correlated in time, (n, length, 2)."""
        x = [torch.randn(n, 2, generator=g)]
        for _ in range(length - 1):
            x.append(0.95 * x[-1] + math.sqrt(1 - 0.95**2) * torch.randn(n, 2, generator=g))
        return torch.stack(x, 1)

    spec = DataSpec("real", 2)
    real = [s[: int(torch.randint(8, 21, (1,), generator=g))] for s in ar1(600, 20)]
    halves = classifier_two_sample_test(real[:300], real[300:], spec, **FAST)
    noise = model_two_sample_test(
        Generator(lambda n, t: torch.randn(n, t, 2, generator=g)), None, data_of(real, spec), 300, **FAST
    )
    assert near_half(halves), halves
    assert noise["accuracy"] > 0.9, noise


def test_strokes_end_with_the_pen_lifted_once():
    lifted = torch.tensor([[0.1, 0.2, 0.0], [0.3, 0.1, 1.0]])
    spec = DataSpec("strokes", 3)
    assert end_mark([lifted, lifted[1:]], spec) == "pen lift"
    assert end_mark([torch.cat([lifted, lifted])], spec) is None  # lifted mid-drawing: no end mark
    assert end_mark([torch.tensor([1, 2, 0]), torch.tensor([0, 0])], DataSpec("categorical", 3)) is None


def test_evaluate_writes_the_test_into_metrics_and_report(tmp_path):
    from zoo.evaluate import main

    quick = [o for o in QUICK if not o.startswith("model.net.hidden_size")]
    run_in_process(tmp_path, "model=char_lstm", "data=jsb_chorales", *quick, "model.net.hidden_size=8")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        main([f"run={tmp_path}", "limit=10", "two_sample=64", "two_sample_steps=100", "seed=3"])
    finally:
        torch.set_num_threads(threads)
    result = json.loads((tmp_path / "evaluation" / "metrics.json").read_text())["two_sample"]
    assert result["num_test"] == 64 and result["num_train"] == 64 and result["pairs"]["cut"] == 64
    assert result["stderr"] == pytest.approx(math.sqrt(result["accuracy"] * (1 - result["accuracy"]) / 64))
    assert 0 <= result["p_value"] <= 1 and result["end_mark"] is None
    report = (tmp_path / "evaluation" / "report.md").read_text()
    assert f"accuracy {result['accuracy']:.3f} ± {result['stderr']:.3f} on 64 held-out sequences" in report
