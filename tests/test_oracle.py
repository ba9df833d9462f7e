"""The oracle LSTM benchmark (SeqGAN, Yu et al. 2016): the data are fixed by the seed, the
oracle's likelihood is the LSTM's, and NLL-oracle ranks what it should."""

import csv
import json
import math

import pytest
import torch
from torch import nn

from tests.helpers import QUICK, command, composed, run_zoo
from zoo.data.batch import collate
from zoo.data.oracle import START, Oracle, OracleLSTM, load, oracle_for
from zoo.errors import ZooError
from zoo.evaluation.oracle_metrics import nll_oracle, oracle_test_nll, uniform_nll_oracle
from zoo.run import build
from zoo.training.sites import check_guide_covers

SMALL = {"vocab_size": 100, "length": 12, "num_train": 300, "num_valid": 50, "num_test": 1000, "seed": 5}


@pytest.fixture(scope="module")
def small():
    return load(**SMALL)


def test_the_data_are_fixed_by_the_seed_and_leave_the_global_generator_alone(small):
    state = torch.get_rng_state()
    again = load(**{**SMALL, "num_train": 100})  # the held-out splits do not depend on num_train
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(torch.stack(small.test), torch.stack(again.test))
    assert torch.equal(torch.stack(small.valid), torch.stack(again.valid))
    other = load(**{**SMALL, "seed": 6})
    assert not torch.equal(torch.stack(small.test), torch.stack(other.test))
    assert small.spec.kind == "categorical" and small.spec.dim == 100
    assert all(s.shape == (12,) and s.dtype == torch.long for s in small.train)
    assert torch.equal(oracle_for(small).W_o, OracleLSTM(100, 32, 32, 12, seed=5).W_o)


def test_draws_are_regenerated_not_only_read_from_the_cache(small, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_CACHE_DIR", str(tmp_path))  # an empty cache: the splits are drawn afresh
    fresh = load(**SMALL)
    assert torch.equal(torch.stack(fresh.train), torch.stack(small.train))
    assert len(list(tmp_path.glob("oracle-*.pt"))) == 3


@torch.no_grad()
def test_log_prob_is_the_lstm_likelihood_step_by_step():
    oracle = OracleLSTM(vocab_size=30, embedding_size=6, hidden_size=5, length=7, seed=1)
    cell = nn.LSTMCell(6, 5)  # torch's LSTM with the oracle's weights: one bias per gate
    with torch.no_grad():
        cell.weight_ih.copy_(oracle.W), cell.weight_hh.copy_(oracle.U)
        cell.bias_ih.copy_(oracle.b), cell.bias_hh.zero_()
    x = oracle.sample(4, torch.Generator().manual_seed(0))  # (4, 7)
    for i in range(4):
        h = c = torch.zeros(1, 5)
        previous, total = START, 0.0
        for t in range(7):
            h, c = cell(oracle.E[previous][None], (h, c))
            logits = oracle.W_o @ h[0] + oracle.b_o  # (V,)
            total += float(logits.log_softmax(-1)[x[i, t]])
            previous = x[i, t]
        assert oracle.log_prob(x[i : i + 1]).item() == pytest.approx(total, abs=1e-4)


def test_samples_follow_the_oracles_next_token_distribution():
    oracle = OracleLSTM(vocab_size=6, embedding_size=4, hidden_size=4, length=1, seed=2)
    x = oracle.sample(40_000, torch.Generator().manual_seed(1))[:, 0]
    frequencies = torch.bincount(x, minlength=6).double() / len(x)
    p = oracle.log_prob(torch.arange(6)[:, None]).exp().double()  # p(x_1 = v) for every v
    assert p.sum() == pytest.approx(1.0, abs=1e-5)
    assert torch.allclose(frequencies, p, atol=0.01)


def test_the_oracle_scores_its_own_samples_like_held_out_data_and_far_below_uniform(small):
    oracle = oracle_for(small)
    own = nll_oracle(oracle, oracle.sample(1000, torch.Generator().manual_seed(7)))
    floor = oracle_test_nll(oracle, small)
    assert own.kind == "NLL-oracle" and own.num_steps == 12_000
    assert abs(own.nats_per_step - floor.nats_per_step) < 4 * math.hypot(own.stderr, floor.stderr)
    uniform = uniform_nll_oracle(oracle, 1000, torch.Generator().manual_seed(8))
    drawn = nll_oracle(oracle, torch.randint(0, 100, (1000, 12), generator=torch.Generator().manual_seed(9)))
    assert abs(uniform.nats_per_step - drawn.nats_per_step) < 4 * math.hypot(uniform.stderr, drawn.stderr)
    assert uniform.stderr < drawn.stderr  # the last token summed out exactly
    assert uniform.nats_per_step > math.log(100) > floor.nats_per_step + 1


def test_the_random_oracle_is_the_default_and_its_draws_are_pinned(small):
    """data.oracle=random stays the default, and its draws stay those of SAMPLER_VERSION 1."""
    assert composed("data=oracle").data.oracle == "random"
    assert isinstance(oracle_for(small), Oracle) and small.info["oracle"]["seed"] == 5
    assert small.test[0].tolist() == [30, 20, 63, 41, 24, 72, 84, 65, 6, 40, 40, 4]
    assert oracle_for(small).log_prob(small.test[0][None]).item() == pytest.approx(-39.3552, abs=1e-3)


def test_bad_sizes_name_the_config_field():
    with pytest.raises(ZooError, match="data.num_train"):
        load(**{**SMALL, "num_train": 0})


@pytest.mark.parametrize("model", ["char_lstm", "bayes_lstm", "vrnn"])
def test_the_oracle_preset_gives_every_token_model_seqgans_sizes(model):
    cfg = composed(f"model={model}", "experiment=oracle", *(f"data.{k}={v}" for k, v in SMALL.items()))
    assert cfg.data._target_ == "zoo.data.oracle.load" and cfg.sample.length == 20
    data, net, guide, _ = build(cfg)
    check_guide_covers(net, guide, collate(data.train[:2]))
    emitter = (net.net if hasattr(net, "net") else net).emitter
    assert emitter.embed.weight.shape == (100, 32) and emitter.output.in_features == 32


def test_a_cli_run_on_the_oracle_reports_nll_oracle(tmp_path, small):
    sizes = [f"data.{k}={v}" for k, v in SMALL.items() if k != "num_test"] + ["data.num_test=40"]
    result = run_zoo(tmp_path, "model=char_lstm", "experiment=oracle", *sizes, *QUICK, "evaluate.oracle_samples=60")
    assert "NLL-oracle" in result.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test"][0]["kind"] == "exact"
    figure = metrics["oracle"][0]
    assert figure["kind"] == "NLL-oracle" and figure["num_sequences"] == 60 and figure["num_steps"] == 60 * 12
    floor = oracle_test_nll(oracle_for(small), small).nats_per_step
    assert floor + 0.5 < figure["nats_per_step"] < 30  # a barely trained model writes worse than the oracle
    with open(tmp_path / "metrics.csv", newline="") as f:
        curve = [float(row["nll_oracle"]) for row in csv.DictReader(f)]  # evaluate.oracle_curve's column
    assert curve and all(floor < c < 30 for c in curve)
    command("zoo.evaluate", f"run={tmp_path}", "oracle_samples=30")
    again = json.loads((tmp_path / "evaluation" / "metrics.json").read_text())
    assert again["oracle"][0]["num_sequences"] == 30
    assert "NLL-oracle" in (tmp_path / "evaluation" / "report.md").read_text()
