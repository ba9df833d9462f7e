"""Calibration of next-token predictions: the expected calibration error (Guo et al. 2017) is ~0 for
a predictor whose labels are drawn from its own predictions, matches a hand computation, averages
probabilities over weight draws, and `zoo.evaluate calibration=true` writes it with its diagram."""

import json

import pytest
import torch

from guides.weights import MeanFieldWeights
from tests.helpers import QUICK, run_in_process, toy_rolls, toy_text
from zoo.data.batch import collate
from zoo.errors import ZooError
from zoo.evaluation.calibration import (
    calibration_bins,
    next_step_probabilities,
    predictive_calibration,
    token_network,
    top_prediction,
)
from zoo.models.bayesian_weights import BayesianWeights
from zoo.models.char_lstm import CharLSTM


def synthetic_predictions(n: int, vocab: int, sharpness: float, seed: int = 0) -> torch.Tensor:
    """(n, V) predicted distributions of varied confidence: softmax of Gaussian logits."""
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(sharpness * torch.randn(n, vocab, generator=g), -1)


def test_labels_drawn_from_the_predictions_are_calibrated():
    probabilities = synthetic_predictions(200_000, 6, sharpness=2.0)
    g = torch.Generator().manual_seed(1)
    labels = torch.multinomial(probabilities, 1, generator=g)[:, 0]  # x ~ p: calibrated by construction
    confidence, correct = top_prediction(probabilities, labels)
    result = calibration_bins(confidence, correct)
    assert result["ece"] < 0.006
    assert sum(result["counts"]) == 200_000 and result["num_bins"] == 15
    assert result["accuracy"] == pytest.approx(result["mean_confidence"], abs=0.005)
    # the same labels against predictions sharpened by a temperature of 1/3: overconfident
    sharpened = torch.softmax(3 * probabilities.log(), -1)
    over = calibration_bins(*top_prediction(sharpened, labels))
    assert over["ece"] > 0.1 and over["mean_confidence"] > over["accuracy"] + 0.1


def test_an_overconfident_predictor_has_the_hand_computed_ece():
    """Four predictions at 0.95 (bin 15 of 15), two of them right; two at 0.65 (bin 10), one right:
    ECE = 4/6 |0.5 - 0.95| + 2/6 |0.5 - 0.65| = 0.3 + 0.05 = 0.35."""
    confidence = torch.tensor([0.95, 0.95, 0.95, 0.95, 0.65, 0.65], dtype=torch.float64)
    correct = torch.tensor([True, False, False, True, True, False])
    result = calibration_bins(confidence, correct, num_bins=15)
    assert result["ece"] == pytest.approx(0.35, abs=1e-12)
    assert result["max_calibration_error"] == pytest.approx(0.45, abs=1e-12)
    assert result["counts"][14] == 4 and result["counts"][9] == 2 and sum(result["counts"]) == 6
    assert result["accuracies"][14] == 0.5 and result["confidences"][14] == pytest.approx(0.95)
    assert result["accuracies"][0] is None and result["confidences"][0] is None  # empty bins: null
    assert result["edges"][0] == 0 and result["edges"][-1] == 1 and len(result["edges"]) == 16


def test_bins_are_closed_on_the_right():
    """Bins are ((m-1)/M, m/M]: a confidence of exactly 0.2 is in the first of five, 1.0 in the last."""
    result = calibration_bins(
        torch.tensor([0.2, 0.2000001, 1.0], dtype=torch.float64), torch.tensor([True, True, True]), num_bins=5
    )
    assert result["counts"] == [1, 1, 0, 0, 1]
    assert result["ece"] == pytest.approx((0.8 + (1 - 0.2000001) + 0.0) / 3)


def test_the_top_prediction_is_the_argmax_and_its_probability():
    probabilities = torch.tensor([[[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]]])  # (1, 2, 3)
    confidence, correct = top_prediction(probabilities, torch.tensor([[1, 2]]))
    torch.testing.assert_close(confidence, torch.tensor([[0.7, 0.5]]))
    assert correct.tolist() == [[True, False]]


def test_the_posterior_predictive_averages_probabilities_over_weight_draws():
    data = toy_text()
    torch.manual_seed(0)
    model = BayesianWeights(CharLSTM(data.spec, hidden_size=8), prior_scale=0.3)
    guide = MeanFieldWeights(model, init_scale=0.3)  # draws far apart
    batch = collate(data.test[:3])
    with torch.no_grad():
        draws = [guide() for _ in range(2)]
    mixed = next_step_probabilities(model, batch, draws)  # (B, T, V)
    each = []
    for w in draws:
        net = CharLSTM(data.spec, hidden_size=8)
        net.load_state_dict({name: w[f"w.{name}"].reshape(p.shape) for name, p in model.net.named_parameters()})
        each.append(torch.softmax(net.next_step(batch.x).logits, -1))
    torch.testing.assert_close(mixed, (each[0] + each[1]) / 2)
    geometric = torch.softmax((each[0].log() + each[1].log()) / 2, -1)  # the mean of log-probabilities
    assert not torch.allclose(mixed, geometric, atol=1e-4)


def test_calibration_counts_every_real_step_of_the_split_once():
    data = toy_text()
    torch.manual_seed(0)
    model = CharLSTM(data.spec, hidden_size=8).eval()
    result = predictive_calibration(model, None, data, "test", batch_size=3)
    assert result["num_predictions"] == sum(len(s) for s in data.test) and result["kind"] == "exact"
    assert "num_samples" not in result


def test_models_without_token_probabilities_are_refused_in_one_line():
    with pytest.raises(ZooError, match="calibration needs next-step probabilities over tokens"):
        token_network(CharLSTM(toy_rolls().spec, hidden_size=8))


@pytest.mark.parametrize("model", ["char_lstm", "bayes_lstm"])
def test_evaluate_writes_calibration_and_the_reliability_diagram(tmp_path, model):
    from zoo.evaluate import main

    run_in_process(tmp_path, f"model={model}", "data=shakespeare", *QUICK, "model.net.hidden_size=16")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        main([f"run={tmp_path}", "limit=6", "num_samples=4", "calibration=true", "calibration_bins=10"])
    finally:
        torch.set_num_threads(threads)
    out = tmp_path / "evaluation"
    result = json.loads((out / "metrics.json").read_text())
    calibration = result["calibration"]
    steps = result["figures"][0]["num_steps"]
    assert calibration["num_predictions"] == steps == sum(calibration["counts"])
    assert calibration["num_bins"] == 10 and len(calibration["accuracies"]) == 10
    assert 0 <= calibration["ece"] <= 1 and calibration["figure"] == "reliability.png"
    assert calibration["kind"] == ("exact" if model == "char_lstm" else "posterior predictive (S=4)")
    assert (out / "reliability.png").stat().st_size > 1000
    assert f"ECE {calibration['ece']:.4f}" in (out / "report.md").read_text()
