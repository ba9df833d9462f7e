"""SWAG (Maddox et al. 2019): the moments of the weights collected along training, draws with
the mean and covariance of N(theta_bar, Sigma_diag / 2 + D_hat D_hat^T / (2 (K - 1))), one
low-rank draw shared by every tensor, the collection inside the trainer (resumed with the run),
and the figures zoo.evaluate reports."""

import json
import math

import pytest
import torch
from torch import nn

from guides.swag import SwagWeights
from tests.helpers import QUICK, run_in_process, toy_text
from zoo.errors import ZooError
from zoo.evaluation.likelihood import exact_nll, posterior_mean_nll
from zoo.evaluation.swag import swag_nll, swag_posterior
from zoo.models.char_lstm import CharLSTM
from zoo.training.checkpoint import CheckpointError, load_checkpoint


def trajectory(net: nn.Module, steps: int, seed: int = 0) -> list[torch.Tensor]:
    """`steps` random settings of the network's weights, each one flat vector (all tensors in order)."""
    g = torch.Generator().manual_seed(seed)
    numel = sum(p.numel() for p in net.parameters())
    return [torch.randn(numel, generator=g) for _ in range(steps)]


def set_flat(net: nn.Module, theta: torch.Tensor) -> None:
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(theta, net.parameters())


def collected(net: nn.Module, thetas: list[torch.Tensor], rank: int) -> SwagWeights:
    swag = SwagWeights(net, rank)
    for theta in thetas:
        set_flat(net, theta)
        swag.collect(net)
    return swag


def flat_draw(swag: SwagWeights) -> torch.Tensor:
    return torch.cat(list(swag().values()))


def test_the_moments_are_the_trajectory_s_mean_square_and_last_k_deviations():
    net = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    thetas = trajectory(net, 5)
    swag = collected(net, thetas, rank=3)
    stacked = torch.stack(thetas)  # (n, P)
    mean = torch.cat(list(swag.posterior_mean().values()))
    assert swag.collected == 5
    assert torch.allclose(mean, stacked.mean(0), atol=1e-6)
    square = torch.cat([swag._moments(j)[1] for j in range(len(swag.names))])
    assert torch.allclose(square, stacked.square().mean(0), atol=1e-5)
    # D_hat's columns: theta_i minus the running mean after i, for the last K = 3 collections (a ring)
    running = torch.cumsum(stacked, 0) / torch.arange(1, 6).unsqueeze(1)
    deviations = torch.cat([swag._moments(j)[2] for j in range(len(swag.names))], 1)  # (K, P)
    expected = {i % 3: stacked[i] - running[i] for i in (2, 3, 4)}
    for row, value in expected.items():
        assert torch.allclose(deviations[row], value, atol=1e-5)
    assert swag.names == ["w.0.weight", "w.0.bias", "w.1.weight", "w.1.bias"]


def test_draws_have_swag_s_mean_and_covariance_with_tensors_coupled_by_the_low_rank_part():
    net = nn.Sequential(nn.Linear(2, 1), nn.Linear(1, 1))  # 5 weights in four tensors
    thetas = trajectory(net, 6, seed=1)
    swag = collected(net, thetas, rank=4)
    stacked = torch.stack(thetas).double()
    mean = stacked.mean(0)
    running = torch.cumsum(stacked, 0) / torch.arange(1, 7, dtype=torch.float64).unsqueeze(1)
    d_hat = (stacked[2:] - running[2:]).T  # (P, K), the last four collections
    covariance = torch.diag((stacked.square().mean(0) - mean.square()) / 2) + d_hat @ d_hat.T / (2 * 3)
    torch.manual_seed(0)
    draws = torch.stack([flat_draw(swag) for _ in range(40_000)]).double()  # (S, P)
    assert torch.allclose(draws.mean(0), mean, atol=0.03)
    assert torch.allclose(torch.cov(draws.T), covariance, atol=0.03)
    # the low-rank part couples weights of different tensors: the first layer's weight and the last bias
    assert abs(covariance[0, 4]) > 0.1
    assert torch.cov(draws.T)[0, 4] == pytest.approx(float(covariance[0, 4]), abs=0.03)


def test_before_k_collections_the_low_rank_part_has_the_n_made_so_far():
    net = nn.Sequential(nn.Linear(2, 1), nn.Linear(1, 1))
    thetas = trajectory(net, 3, seed=3)
    swag = collected(net, thetas, rank=5)  # n = 3 < K = 5: D_hat holds three columns, divided by 2 (3 - 1)
    stacked = torch.stack(thetas).double()
    running = torch.cumsum(stacked, 0) / torch.arange(1, 4, dtype=torch.float64).unsqueeze(1)
    d_hat = (stacked - running).T  # (P, 3)
    mean = stacked.mean(0)
    covariance = torch.diag((stacked.square().mean(0) - mean.square()) / 2) + d_hat @ d_hat.T / (2 * 2)
    torch.manual_seed(0)
    draws = torch.stack([flat_draw(swag) for _ in range(40_000)]).double()
    assert torch.allclose(draws.mean(0), mean, atol=0.03)
    assert torch.allclose(torch.cov(draws.T), covariance, atol=0.03)


def test_a_swag_posterior_of_one_point_predicts_as_that_network():
    data = toy_text()
    torch.manual_seed(0)
    net = CharLSTM(data.spec, hidden_size=4).eval()
    swag = SwagWeights(net, rank=3)
    for _ in range(3):
        swag.collect(net)  # the same weights every time: no variance, no deviations
    state = {"swag": swag.state_dict()}
    model, q = swag_posterior(net, state)
    exact = exact_nll(net, data, "test").nats_per_step
    figure = swag_nll(model, q, data, "test", num_samples=4)
    assert figure.kind == "posterior predictive (S=4, SWAG of 3 collections)"
    assert figure.nats_per_step == pytest.approx(exact, abs=1e-5)
    assert posterior_mean_nll(model, q, data, "test").nats_per_step == pytest.approx(exact, abs=1e-5)


def test_the_predictive_averages_probabilities_not_log_probabilities_of_distinct_networks():
    data = toy_text()
    torch.manual_seed(0)
    net = CharLSTM(data.spec, hidden_size=4).eval()
    thetas = [3 * theta for theta in trajectory(net, 4, seed=2)]  # far apart: the draws disagree
    swag = collected(net, thetas, rank=3)
    model, q = swag_posterior(net, {"swag": swag.state_dict()})
    torch.manual_seed(1)
    predictive = swag_nll(model, q, data, "test", num_samples=64).nats_per_step
    torch.manual_seed(1)
    draws = [flat_draw(q) for _ in range(64)]
    nll = []  # (S, N): each draw's nats on each test sequence
    for theta in draws:
        set_flat(net, theta)
        figure = exact_nll(net, data, "test")
        nll.append(figure.nll)
    nll, steps = torch.stack(nll), float(figure.lengths.sum())
    mixture = -(torch.logsumexp(-nll, 0) - math.log(64))  # -log (1/S) sum_s p(x_i | w_s)
    assert predictive == pytest.approx(float(mixture.sum()) / steps, abs=1e-5)
    assert predictive < float(nll.mean(0).sum()) / steps - 0.05  # the draws disagree: not one network's figure


def test_the_trainer_collects_from_swag_from_every_swag_every_steps_and_a_resumed_run_keeps_them(tmp_path, capsys):
    from zoo.evaluate import main

    swag = ["train.swag_from=0", "train.swag_every=2", "train.swag_rank=2"]
    common = ["model=char_lstm", "data=shakespeare", *QUICK, "model.net.hidden_size=16", *swag]
    run_in_process(tmp_path / "a", *common, "train.max_epochs=1", "train.steps_per_epoch=4")
    assert int(load_checkpoint(tmp_path / "a")["swag"]["count"]) == 2  # steps 2 and 4
    run_in_process(
        tmp_path / "b", *common, "train.max_epochs=2", "train.steps_per_epoch=4", f"train.resume={tmp_path / 'a'}"
    )
    state = load_checkpoint(tmp_path / "b")
    assert state["step"] == 8 and int(state["swag"]["count"]) == 4  # the first run's two kept, two more
    resumed = [*common, "train.max_epochs=3", "train.steps_per_epoch=4", f"train.resume={tmp_path / 'b'}"]
    with pytest.raises(CheckpointError, match="SWAG's moments of 4 collections and this run has train.swag_from=null"):
        run_in_process(tmp_path / "d", *resumed, "train.swag_from=null")
    with pytest.raises(CheckpointError, match="collected with train.swag_rank=2, this run has 3"):
        run_in_process(tmp_path / "d", *resumed, "train.swag_rank=3")

    late = ["train.swag_from=1000"]  # a minute never reached: nothing collected, swag=true refused
    run_in_process(tmp_path / "c", "model=char_lstm", "data=shakespeare", *QUICK, "model.net.hidden_size=16", *late)
    assert load_checkpoint(tmp_path / "c")["swag"] is None
    with pytest.raises(SystemExit):
        main([f"run={tmp_path / 'c'}", "limit=2", "swag=true"])
    assert "written before minute train.swag_from (evaluate a later one" in capsys.readouterr().err


def test_evaluate_reports_swag_s_predictive_and_mean_first_beside_the_network(tmp_path, capsys):
    from zoo.evaluate import main

    run_in_process(
        tmp_path, "model=char_lstm", "data=shakespeare", *QUICK, "model.net.hidden_size=16", "train.swag_from=0",
        "train.swag_every=1", "train.swag_rank=3",
    )  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        main([f"run={tmp_path}", "limit=6", "num_samples=3", "calibration=true", "swag=true"])
    finally:
        torch.set_num_threads(threads)
    result = json.loads((tmp_path / "evaluation" / "metrics.json").read_text())
    kinds = [f["kind"] for f in result["figures"]]
    collections = int(load_checkpoint(tmp_path / "best.pt")["swag"]["count"])
    assert collections >= 3
    assert kinds == [
        f"posterior predictive (S=3, SWAG of {collections} collections)",
        "exact at the posterior mean",
        "exact",
    ]
    assert result["calibration"]["kind"] == kinds[0]  # calibration reads SWAG's average too
    figures = [f["nats_per_step"] for f in result["figures"]]
    assert len(set(figures)) == 3  # three different predictors

    with pytest.raises(SystemExit):
        main([f"run={tmp_path}", "limit=2", "swag=true", "mc_dropout=true"])
    assert "two posteriors of one network: choose one" in capsys.readouterr().err


def test_swag_is_refused_where_there_is_no_one_trajectory_or_nothing_was_collected(tmp_path, capsys):
    from zoo.evaluate import main
    from zoo.training.trainer import TrainOptions, swag_collector

    run_in_process(tmp_path, "model=char_lstm", "data=shakespeare", *QUICK, "model.net.hidden_size=16")
    with pytest.raises(SystemExit):
        main([f"run={tmp_path}", "limit=2", "swag=true"])
    assert "this one holds no collected weights" in capsys.readouterr().err

    from zoo.models.bayesian_weights import BayesianWeights

    bayes = BayesianWeights(CharLSTM(toy_text().spec, hidden_size=4))
    with pytest.raises(ZooError, match="train.swag_from=0 collects .* has variational weights already"):
        swag_collector(bayes, TrainOptions(swag_from=0))
    with pytest.raises(ZooError, match="averages exact likelihoods, which Linear has not"):
        swag_collector(nn.Linear(2, 2), TrainOptions(swag_from=0))
    with pytest.raises(ZooError, match="train.swag_rank=1 must be at least 2"):
        TrainOptions(swag_from=0, swag_rank=1)
    with pytest.raises(ZooError, match="train.swag_from=-1 must be a number of minutes >= 0"):
        TrainOptions(swag_from=-1)
