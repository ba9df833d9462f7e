"""End-to-end runs of `python -m zoo.run` on small slices, and its answers to bad input."""

import json

import pytest
import torch

from tests.helpers import QUICK, command, run_in_process, run_zoo
from zoo.compare import read_curve


def test_bayes_lstm_on_shakespeare_end_to_end(tmp_path):
    result = run_zoo(tmp_path, "model=bayes_lstm", "data.max_train_chars=20000", *QUICK)
    assert "posterior predictive (S=3)" in result.stdout and "-ELBO" in result.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    kinds = [f["kind"] for f in metrics["test"]]
    assert kinds == ["-ELBO", "posterior predictive (S=3)"]
    validated = {row["valid_kind"] for row in read_curve(tmp_path / "metrics.csv")}
    assert validated == {"exact at the posterior mean"}  # bayes_lstm's default: the network at q's mean
    assert all(f["nats_per_step"] > 0 for f in metrics["test"])
    assert 0 < metrics["sample_statistics"]["js_2gram_nats"] < 0.7
    text = (tmp_path / "samples.txt").read_text()
    assert text.count("--- sample") == 4
    for name in ("best.pt", "last.pt", "metrics.csv", "training_curve.png", ".hydra/config.yaml"):
        assert (tmp_path / name).exists(), name


def test_char_lstm_on_jsb_reports_exact_nats_per_frame(tmp_path):
    result = run_zoo(tmp_path, "model=char_lstm", "data=jsb_chorales", *QUICK)
    assert "exact" in result.stdout and "nats/step" in result.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test"][0]["kind"] == "exact"
    assert metrics["test"][0]["num_sequences"] == 40
    assert (tmp_path / "samples.png").exists()
    assert set(metrics["sample_statistics"]) >= {"notes_per_frame", "js_polyphony_nats", "js_pitch_class_nats"}


@pytest.mark.parametrize("guide,objective", [("vrnn_filtering", "elbo_analytic_kl"), ("vrnn_smoothing", "iwae")])
def test_vrnn_on_jsb_reports_elbo_and_iwae(tmp_path, guide, objective):
    run_zoo(
        tmp_path,
        "model=vrnn",
        f"guide={guide}",
        f"objective={objective}",
        *QUICK,
        "evaluate.num_particles=20",
        "objective.anneal_steps=5" if objective != "iwae" else "model.net.z_size=4",
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    kinds = [f["kind"] for f in metrics["test"]]
    assert kinds == ["-ELBO", "-IWAE (K=20)"] + (["-FIVO (K=20)"] if guide == "vrnn_filtering" else [])
    elbo, iwae = (f["nats_per_step"] for f in metrics["test"][:2])
    # binary frames: -log p(x) > 0, so a true bound is positive; 20 distinct particles of a barely
    # trained guide leave a gap, which a figure drawn from one particle (or copies of one) would not
    assert 0 < iwae < elbo
    history = torch.load(tmp_path / "last.pt", weights_only=True)["history"]
    assert history[0]["valid_kind"] == ("-IWAE (K=5)" if objective == "iwae" else "-ELBO")
    assert metrics["best_valid_nats_per_step"] == min(h["valid_nats_per_step"] for h in history)
    assert (tmp_path / "samples.png").exists()


def test_vrnn_with_variational_weights_end_to_end(tmp_path):
    run_in_process(tmp_path, "model=vrnn", "model.bayesian_weights=true", *QUICK, "evaluate.num_particles=10")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [f["kind"] for f in metrics["test"]] == ["-ELBO", "posterior predictive (S=3, IWAE K=10)"]
    command("zoo.evaluate", f"run={tmp_path}", "num_samples=2", "num_particles=5", "limit=10", "export_weights=2")
    again = json.loads((tmp_path / "evaluation" / "metrics.json").read_text())
    assert again["figures"][1]["kind"] == "posterior predictive (S=2, IWAE K=5)"
    assert (tmp_path / "evaluation" / "weights.nc").exists()


def test_evaluate_recomputes_figures_with_errors_and_pareto_k(tmp_path):
    run_in_process(tmp_path, "model=vrnn", *QUICK, "evaluate.num_particles=10")
    trained = json.loads((tmp_path / "metrics.json").read_text())["test"]
    command("zoo.evaluate", f"run={tmp_path}", "num_particles=10", "limit=40")
    result = json.loads((tmp_path / "evaluation" / "metrics.json").read_text())
    kinds = [f["kind"] for f in result["figures"]]
    assert kinds == ["-ELBO", "-IWAE (K=10)", "-FIVO (K=10)"]  # vrnn_filtering: SMC runs it too
    assert all(f["stderr"] > 0 for f in result["figures"])
    # a fresh draw of the same bound agrees with the one made after training, within a few errors
    for before, after in zip(trained, result["figures"]):
        assert abs(before["nats_per_step"] - after["nats_per_step"]) < 5 * after["stderr"] + 0.05
    assert len(result["diagnostics"]["pareto_k"]) == 40
    assert "Pareto k" in (tmp_path / "evaluation" / "report.md").read_text()


def test_evaluate_gives_the_exact_figure_of_char_lstm_again(tmp_path):
    run_in_process(tmp_path, "model=char_lstm", "data=jsb_chorales", *QUICK)
    trained = json.loads((tmp_path / "metrics.json").read_text())["test"][0]
    command("zoo.evaluate", f"run={tmp_path}", "limit=40")
    again = json.loads((tmp_path / "evaluation" / "metrics.json").read_text())["figures"][0]
    assert again["kind"] == "exact"
    assert again["nats_per_step"] == pytest.approx(trained["nats_per_step"], rel=1e-5)


@pytest.fixture(scope="module")
def bayes_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("bayes_run")
    run_zoo(path, "model=bayes_lstm", "data.max_train_chars=20000", *QUICK)
    return path


def test_sample_continues_a_prime_from_a_trained_run(bayes_run):
    result = command("zoo.sample", f"run={bayes_run}", "n=2", "length=30", "prime=ROMEO:", "temperature=0.8")
    assert result.stdout.count("--- sample") == 2 and "ROMEO:" in result.stdout
    assert (bayes_run / "samples-T0.8.txt").exists()


def test_evaluate_exports_the_weight_posterior_through_arviz(bayes_run):
    import xarray

    command("zoo.evaluate", f"run={bayes_run}", "limit=30", "num_samples=6", "export_weights=3")
    result = json.loads((bayes_run / "evaluation" / "metrics.json").read_text())
    kinds = ["-ELBO", "posterior predictive (S=6)", "exact at the posterior mean"]
    assert [f["kind"] for f in result["figures"]] == kinds
    posterior = xarray.open_dataset(bayes_run / "evaluation" / "weights.nc", group="posterior")
    assert posterior["w.lstm.weight_hh_l0"].shape == (1, 6, 3)  # (chain, draw, weight)
    assert (posterior["w.lstm.weight_hh_l0"].std("draw") > 0).all()
    assert "w.lstm.weight_hh_l0[2]" in (bayes_run / "evaluation" / "report.md").read_text()
    assert (bayes_run / "evaluation" / "weights.png").exists()


def test_evaluate_with_export_weights_0_exports_no_weights(bayes_run, tmp_path):
    import shutil

    run = shutil.copytree(bayes_run, tmp_path / "run", ignore=shutil.ignore_patterns("evaluation"))
    command("zoo.evaluate", f"run={run}", "limit=10", "num_samples=2", "export_weights=0")
    result = json.loads((run / "evaluation" / "metrics.json").read_text())
    assert result["weights_table"] is None
    assert not (run / "evaluation" / "weights.nc").exists()
    assert result["figures"][1]["kind"] == "posterior predictive (S=2)"
