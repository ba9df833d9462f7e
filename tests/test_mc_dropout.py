"""MC dropout (Gal & Ghahramani 2016): the posterior predictive over a network's dropout masks
is the mixture over every mask, each sequence with draws of its own, and the evaluation leaves
the network as it found it."""

import itertools
import json
import logging
import math

import pytest
import torch

from tests.helpers import QUICK, run_in_process, toy_text
from zoo.data.batch import collate
from zoo.errors import ZooError
from zoo.evaluation.calibration import next_step_probabilities
from zoo.evaluation.likelihood import exact_nll, lengths_of, mc_dropout_nll
from zoo.models.bayesian_weights import BayesianWeights
from zoo.models.char_lstm import CharLSTM


def tiny_network(masks: str) -> CharLSTM:
    """Three units to drop: two input features and one hidden unit, so 8 masks per sequence."""
    torch.manual_seed(0)
    net = CharLSTM(toy_text().spec, hidden_size=1, embedding_size=2, dropout=0.5, dropout_masks=masks)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(3.0)  # large weights, so that dropping a unit changes the predictions a lot
    return net.eval()


@torch.no_grad()
def exact_mixture_nll(net: CharLSTM, data) -> float:
    """-sum_i log (1/8) sum_z p(x_i | z) / sum_i T_i: the posterior predictive over all 8 masks
    of each sequence, each mask the network with W diag(z) / (1 - p)."""
    state = {k: v.clone() for k, v in net.state_dict().items()}
    log_p = []
    for z in itertools.product([0.0, 1.0], repeat=3):
        thinned = dict(state)
        thinned["lstm.weight_ih_l0"] = state["lstm.weight_ih_l0"] * torch.tensor(z[:2]) / 0.5
        thinned["emitter.output.weight"] = state["emitter.output.weight"] * torch.tensor(z[2:]) / 0.5
        net.load_state_dict(thinned)
        log_p.append(net.log_prob(collate(data.test)))  # (N,)
    net.load_state_dict(state)
    mixture = torch.logsumexp(torch.stack(log_p), 0) - math.log(8)  # (N,)
    return float(-mixture.sum() / lengths_of(data, "test").sum())


def test_the_posterior_predictive_over_masks_is_the_mixture_over_every_mask():
    data = toy_text()
    net = tiny_network("sequence")
    exact = exact_mixture_nll(net, data)
    without_masks = exact_nll(net, data, "test").nats_per_step
    assert abs(exact - without_masks) > 0.1  # averaging thinned networks is not the one network
    torch.manual_seed(1)
    figure = mc_dropout_nll(net, data, "test", num_samples=2000, batch_size=2)
    assert figure.kind == "posterior predictive (S=2000, dropout masks)"
    assert figure.nats_per_step == pytest.approx(exact, abs=0.01)
    assert not any(m.training for m in net.modules())  # evaluation mode again


@torch.no_grad()
def test_few_draws_overstate_the_predictive_nll_and_one_draw_is_one_thinned_pass():
    """-log of a mean of S likelihoods is biased upward for finite S; with S = 1 it is the NLL of
    one pass with masks drawn."""
    data = toy_text()
    net = tiny_network("sequence")
    exact = exact_mixture_nll(net, data)
    figures = []
    for seed in range(20):
        torch.manual_seed(seed)
        figures.append(mc_dropout_nll(net, data, "test", num_samples=1).nats_per_step)
    assert sum(figures) / len(figures) > exact + 0.05
    torch.manual_seed(5)
    one = mc_dropout_nll(net, data, "test", num_samples=1, batch_size=256)
    torch.manual_seed(5)
    net.train()
    thinned = -net.log_prob(collate(sorted(data.test, key=len))).sum() / lengths_of(data, "test").sum()
    net.eval()
    assert one.nats_per_step == pytest.approx(float(thinned), rel=1e-6)


@torch.no_grad()
def test_calibration_with_mc_dropout_averages_the_probabilities_of_thinned_passes():
    data = toy_text()
    net = tiny_network("sequence")
    batch = collate(data.test)
    torch.manual_seed(3)
    averaged = next_step_probabilities(net, batch, mask_draws=4)
    torch.manual_seed(3)
    net.train()
    passes = [net.next_step(batch.x).probs for _ in range(4)]
    net.eval()
    torch.testing.assert_close(averaged, sum(passes) / 4)
    assert not torch.allclose(averaged, net.next_step(batch.x).probs)


def test_mc_dropout_is_refused_for_a_network_without_dropout_or_with_variational_weights():
    data = toy_text()
    plain = CharLSTM(data.spec, hidden_size=4)
    with pytest.raises(ZooError, match="has no dropout and exact log-likelihood .* leave mc_dropout=false"):
        mc_dropout_nll(plain, data, "test")
    bayes = BayesianWeights(CharLSTM(data.spec, hidden_size=4, dropout=0.5))
    with pytest.raises(ZooError, match="BayesianWeights has variational weights"):
        mc_dropout_nll(bayes, data, "test")


def test_evaluate_reports_mc_dropout_first_beside_the_network_without_masks(tmp_path, caplog):
    from zoo.evaluate import main

    run_in_process(
        tmp_path,
        "model=char_lstm",
        "data=shakespeare",
        *QUICK,
        "model.net.hidden_size=16",
        "model.net.dropout=0.3",
        "model.net.dropout_masks=sequence",
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with caplog.at_level(logging.INFO, logger="zoo"):
            main([f"run={tmp_path}", "limit=6", "num_samples=3", "calibration=true", "mc_dropout=true"])
    finally:
        torch.set_num_threads(threads)
    result = json.loads((tmp_path / "evaluation" / "metrics.json").read_text())
    kinds = [f["kind"] for f in result["figures"]]
    assert kinds == ["posterior predictive (S=3, dropout masks)", "exact"]
    assert result["calibration"]["kind"] == "posterior predictive (S=3, dropout masks)"
    assert result["figures"][0]["nats_per_step"] != result["figures"][1]["nats_per_step"]
    steps = result["figures"][0]["num_steps"]
    assert f"posterior predictive over S=3 draws of the dropout masks: {3 * steps:,} steps" in caplog.text


def test_evaluate_refuses_mc_dropout_for_a_run_without_dropout(tmp_path, capsys):
    from zoo.evaluate import main

    run_in_process(tmp_path, "model=char_lstm", "data=shakespeare", *QUICK, "model.net.hidden_size=16")
    with pytest.raises(SystemExit):
        main([f"run={tmp_path}", "limit=2", "mc_dropout=true"])
    assert "CharLSTM has no dropout and exact log-likelihood" in capsys.readouterr().err
    assert not (tmp_path / "evaluation" / "metrics.json").exists()
