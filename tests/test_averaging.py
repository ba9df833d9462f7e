"""Iterate averaging (Polyak & Juditsky 1992; SWA): the running mean of the parameters of the
model and guide, collected inside the trainer without changing its steps, kept across a resume,
and the figures zoo.evaluate reports at the average beside the checkpoint's own."""

import json

import pytest
import torch
from torch import nn

from tests.helpers import QUICK, run_in_process
from zoo.errors import ZooError
from zoo.training.averaging import IterateAverage, averaged_states
from zoo.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

BAYES = ["model=bayes_lstm", "data.max_train_chars=20000", *QUICK, "model.net.hidden_size=16"]


def test_the_average_is_the_mean_of_the_collected_iterates_of_model_and_guide():
    torch.manual_seed(0)
    model, guide = nn.Linear(3, 2), nn.Sequential(nn.Linear(2, 2))
    average, seen = IterateAverage(), []
    for _ in range(5):
        with torch.no_grad():
            for p in [*model.parameters(), *guide.parameters()]:
                p.normal_()
        seen.append(
            {
                **{f"m.{k}": v.clone() for k, v in model.state_dict().items()},
                **{k: v.clone() for k, v in guide.state_dict().items()},
            }
        )
        average.collect(model, guide)
    assert average.count == 5
    assert set(average.means["model"]) == {"weight", "bias"} and set(average.means["guide"]) == {"0.weight", "0.bias"}
    for name, mean in average.means["model"].items():
        assert torch.allclose(mean, torch.stack([s[f"m.{name}"] for s in seen]).mean(0), atol=1e-6)
    for name, mean in average.means["guide"].items():
        assert torch.allclose(mean, torch.stack([s[name] for s in seen]).mean(0), atol=1e-6)
    restored = IterateAverage()
    restored.load_state_dict(average.state_dict())
    assert restored.count == 5 and torch.equal(restored.means["guide"]["0.bias"], average.means["guide"]["0.bias"])


def test_averaging_sgd_s_iterates_on_a_noisy_quadratic_lands_nearer_the_minimum():
    """With a constant step size SGD's iterates wander around the minimum of f(theta) = |theta|^2 / 2
    with a spread set by the gradient noise; their average cancels most of it (Polyak & Juditsky)."""
    g = torch.Generator().manual_seed(0)
    theta = nn.Linear(50, 1, bias=False)
    with torch.no_grad():
        theta.weight.fill_(3.0)
    optimiser = torch.optim.SGD(theta.parameters(), lr=0.1)
    average = IterateAverage()
    for step in range(1200):
        optimiser.zero_grad()
        noisy = theta.weight + torch.randn(theta.weight.shape, generator=g)  # gradient of f plus N(0, I)
        theta.weight.grad = noisy.detach()
        optimiser.step()
        if step >= 200:  # past the transient from theta = 3
            average.collect(theta, nn.Module())
    last = float(theta.weight.detach().norm())
    averaged = float(average.means["model"]["weight"].norm())
    # the iterate's spread is sqrt(lr / (2 - lr)) per coordinate, the average's about sqrt(19 / 1000) of it
    assert averaged < last / 3


def test_a_run_that_averages_takes_the_steps_of_one_that_does_not_and_resumes_its_average(tmp_path):
    common = [*BAYES, "train.steps_per_epoch=4"]
    averaging = ["train.average_from=0", "train.average_every=2"]
    run_in_process(tmp_path / "plain", *common, "train.max_epochs=1")
    run_in_process(tmp_path / "a", *common, *averaging, "train.max_epochs=1")
    plain, state = load_checkpoint(tmp_path / "plain" / "last.pt"), load_checkpoint(tmp_path / "a" / "last.pt")
    assert plain["average"] is None
    assert state["average"]["count"] == 2  # steps 2 and 4
    for name, value in plain["guide"].items():
        assert torch.equal(value, state["guide"][name]), name  # the same steps, to the bit
    means = state["average"]["guide"]
    assert means and set(means) <= set(state["guide"])
    assert any(not torch.equal(means[name], state["guide"][name]) for name in means)  # the mean of two iterates

    run_in_process(tmp_path / "b", *common, *averaging, "train.max_epochs=2", f"train.resume={tmp_path / 'a'}")
    assert load_checkpoint(tmp_path / "b" / "last.pt")["average"]["count"] == 4  # two kept, two more
    with pytest.raises(CheckpointError, match="average of 4 collections .* this run has train.average_from=null"):
        run_in_process(tmp_path / "c", *common, "train.max_epochs=3", f"train.resume={tmp_path / 'b'}")


def test_evaluate_reports_the_average_s_figures_then_the_iterate_s(tmp_path, capsys):
    from zoo.evaluate import main

    run_in_process(tmp_path / "run", *BAYES, "train.average_from=0", "train.average_every=1")
    evaluate = ["limit=6", "num_samples=3", "export_weights=0"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        main([f"run={tmp_path / 'run'}", *evaluate, "averaged=true"])
        averaged = json.loads((tmp_path / "run" / "evaluation" / "metrics.json").read_text())
        report = (tmp_path / "run" / "evaluation" / "report.md").read_text()
        main([f"run={tmp_path / 'run'}", *evaluate])  # the checkpoint's own parameters
        iterate = json.loads((tmp_path / "run" / "evaluation" / "metrics.json").read_text())
        # the checkpoint with its parameters replaced by the average: what averaged=true must report
        state = load_checkpoint(tmp_path / "run" / "best.pt")
        state.update(averaged_states(state))
        (tmp_path / "mean").mkdir()
        save_checkpoint(state, tmp_path / "mean" / "best.pt")
        main([f"run={tmp_path / 'mean'}", *evaluate])
        by_hand = json.loads((tmp_path / "mean" / "evaluation" / "metrics.json").read_text())
    finally:
        torch.set_num_threads(threads)
    kinds = [f["kind"] for f in iterate["figures"]]
    assert {"-ELBO", "posterior predictive (S=3)", "exact at the posterior mean"} <= set(kinds)
    assert [f["kind"] for f in averaged["figures"]] == kinds + [f"{kind} (iterate)" for kind in kinds]
    n = len(kinds)
    for ours, theirs in zip(averaged["figures"][:n], by_hand["figures"]):
        assert ours["nats_per_step"] == pytest.approx(theirs["nats_per_step"], abs=1e-9), ours["kind"]
    for ours, theirs in zip(averaged["figures"][n:], iterate["figures"]):
        assert ours["nats_per_step"] == pytest.approx(theirs["nats_per_step"], abs=1e-9), ours["kind"]
    assert averaged["figures"][0]["nats_per_step"] != iterate["figures"][0]["nats_per_step"]
    assert f"over {state['average']['count']} collections" in averaged["averaged"]
    assert "Parameters: every figure not marked (iterate)" in report

    with pytest.raises(SystemExit):
        main([f"run={tmp_path / 'run'}", "limit=2", "averaged=true", "swag=true"])
    assert "SWAG's mean is the average of the weights already" in capsys.readouterr().err


def test_averaged_evaluation_without_an_average_and_bad_minutes_are_refused(tmp_path, capsys):
    from zoo.evaluate import main
    from zoo.training.trainer import TrainOptions

    run_in_process(tmp_path, *BAYES, "train.average_from=1000")  # a minute never reached: nothing averaged
    assert load_checkpoint(tmp_path)["average"] is None
    with pytest.raises(SystemExit):
        main([f"run={tmp_path}", "limit=2", "averaged=true"])
    assert "holds none: it was written before minute train.average_from" in capsys.readouterr().err
    with pytest.raises(ZooError, match="train.average_from=-1 must be a number of minutes >= 0"):
        TrainOptions(average_from=-1)
    with pytest.raises(ZooError, match="train.average_every"):
        TrainOptions(average_every=0)
