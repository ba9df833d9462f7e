"""Multiruns (-m): a folder per job named after its model, data and seed, each with its
metrics and per-sequence test figures; the launchers and the sweeper that ship configs; a bad
value failing its own job alone; and the figure the task function hands a sweeper."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tests.helpers import CONFIGS, command, composed

# A run of two steps on a few sequences: a multirun of these takes seconds.
TINY = [
    "data=jsb_chorales",
    "train.max_epochs=1",
    "train.steps_per_epoch=2",
    "train.max_minutes=null",
    "train.progress=false",
    "model.net.hidden_size=8",
    "train.valid_limit=5",
    "evaluate.test_limit=5",
    "evaluate.num_samples=2",
    "evaluate.num_particles=2",
    "sample.length=5",
    "sample.n=1",
]


def multirun(sweep_dir: Path, *overrides: str, check: bool = True):
    """`python -m zoo.run -m overrides...` with its sweep folder at `sweep_dir`."""
    return command("zoo.run", "-m", f"hydra.sweep.dir={sweep_dir}", *TINY, *overrides, check=check)


def job_folders(sweep_dir: Path) -> list[Path]:
    """The run folders of a sweep, in job order."""
    return sorted(
        (p for p in sweep_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: int(p.name.split("-")[0]),
    )


def metrics_of(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text())


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, shared_data):
    """A basic multirun of two jobs: a Bayesian LSTM (-ELBO with the weight KL, posterior
    predictive) and a VRNN (-ELBO, -IWAE, -FIVO)."""
    sweep_dir = tmp_path_factory.mktemp("sweep") / "multirun"
    multirun(sweep_dir, "model=bayes_lstm,vrnn")
    return sweep_dir


def test_a_multirun_makes_a_folder_per_job_named_by_model_data_and_seed(sweep):
    folders = job_folders(sweep)
    assert [p.name for p in folders] == ["0-bayes_lstm-jsb_chorales-seed0", "1-vrnn-jsb_chorales-seed0"]
    for folder in folders:
        for name in ("metrics.json", "test_sequences.npz", "best.pt", ".hydra/overrides.yaml"):
            assert (folder / name).is_file(), f"{folder.name}/{name}"
        assert metrics_of(folder)["status"] == "trained"
    assert (sweep / "multirun.yaml").is_file()


def test_per_sequence_figures_reproduce_the_metrics(sweep, shared_data):
    from hydra.utils import instantiate

    test = instantiate(composed("data=jsb_chorales").data).split("test", 5)
    for folder in job_folders(sweep):
        saved = np.load(folder / "test_sequences.npz", allow_pickle=False)
        figures = metrics_of(folder)["test"]
        assert list(saved["kinds"]) == [f["kind"] for f in figures]
        assert str(saved["split"]) == "test"
        assert saved["nll"].dtype == np.float64 and saved["lengths"].dtype == np.int64
        assert saved["nll"].shape == (len(figures), 5)
        assert saved["lengths"].tolist() == [len(s) for s in test]  # the split's order
        for nll, figure in zip(saved["nll"], figures):
            assert nll.sum() / saved["lengths"].sum() == pytest.approx(figure["nats_per_step"], rel=1e-12)
            assert figure["num_sequences"] == len(nll)


def test_evaluate_writes_the_per_sequence_figures_of_its_split(sweep):
    from zoo.evaluate import evaluate, parse

    vrnn = job_folders(sweep)[1]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = evaluate(*parse([f"run={vrnn}", "num_particles=3", "limit=4", "split=valid"]))
    finally:
        torch.set_num_threads(threads)
    saved = np.load(vrnn / "evaluation" / "valid_sequences.npz", allow_pickle=False)
    assert list(saved["kinds"]) == [f["kind"] for f in result["figures"]] == ["-ELBO", "-IWAE (K=3)", "-FIVO (K=3)"]
    assert str(saved["split"]) == "valid" and saved["nll"].shape == (3, 4)
    for nll, figure in zip(saved["nll"], result["figures"]):
        assert nll.sum() / saved["lengths"].sum() == pytest.approx(figure["nats_per_step"], rel=1e-12)


def test_a_figure_keeps_its_sequences_and_shares_a_term_added_per_step():
    from zoo.evaluation.likelihood import Figure

    nll, lengths = torch.tensor([6.0, 3.0, 9.0]), torch.tensor([3, 1, 2])
    figure = Figure.from_sequences("-ELBO", nll, lengths)
    assert figure.per_sequence().tolist() == [6.0, 3.0, 9.0]
    figure.nats_per_step += 0.5  # KL(q(w) || p(w)) per training step, as weight_posterior_nll adds it
    assert figure.per_sequence().tolist() == [7.5, 3.5, 10.0]
    assert float(figure.per_sequence().sum()) / 6 == pytest.approx(figure.nats_per_step)
    assert set(figure.as_dict()) == {
        "kind",
        "nats_per_step",
        "stderr",
        "num_steps",
        "num_sequences",
        "bits_per_step",
        "nats_per_sequence",
    }
    assert Figure("exact", 1.0, 0.1, 2, 1).per_sequence() is None


def test_a_bad_value_fails_its_own_job_and_the_others_run(tmp_path, shared_data):
    result = multirun(tmp_path / "multirun", "model=char_lstm", "train.lr=0.001,abc")
    good, bad = job_folders(tmp_path / "multirun")
    assert result.stderr.strip() == "error: train.lr='abc' is not a valid value: it must be a number"
    assert metrics_of(good)["status"] == "trained" and (good / "test_sequences.npz").is_file()
    assert metrics_of(bad) == {
        "model": "char_lstm",
        "data": "jsb_chorales",
        "status": "failed",
        "error": "train.lr='abc' is not a valid value: it must be a number",
    }


def test_a_misspelt_option_still_refuses_the_whole_sweep(tmp_path):
    result = multirun(tmp_path / "multirun", "model=char_lstm", "train.lrr=0.001,0.01", check=False)
    assert result.returncode == 2 and "did you mean train.lr?" in result.stderr
    assert not (tmp_path / "multirun").exists()


def test_joblib_runs_the_jobs_in_processes_of_their_own(tmp_path, shared_data):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    result = multirun(
        tmp_path / "multirun", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "model=char_lstm", "train.seed=0,1"
    )
    assert "Joblib.Parallel(n_jobs=2" in result.stdout
    folders = job_folders(tmp_path / "multirun")
    assert [p.name for p in folders] == ["0-char_lstm-jsb_chorales-seed0", "1-char_lstm-jsb_chorales-seed1"]
    for folder in folders:
        assert metrics_of(folder)["status"] == "trained" and (folder / "test_sequences.npz").is_file()


def test_submitit_local_runs_a_job(tmp_path, shared_data):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    multirun(tmp_path / "multirun", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5", "model=char_lstm")
    (folder,) = job_folders(tmp_path / "multirun")
    assert metrics_of(folder)["status"] == "trained" and (folder / "test_sequences.npz").is_file()
    assert list((tmp_path / "multirun" / ".submitit").glob("*/*_result.pkl"))


def test_optuna_minimises_the_validation_figure(tmp_path, shared_data):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    multirun(
        tmp_path / "multirun",
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.n_jobs=1",
        "model=char_lstm",
        "train.lr=interval(1e-4,1e-2)",
    )
    folders = job_folders(tmp_path / "multirun")
    figures = [metrics_of(p)["best_valid_nats_per_step"] for p in folders]
    result = yaml.safe_load((tmp_path / "multirun" / "optimization_results.yaml").read_text())
    assert len(folders) == 2 and result["best_value"] == pytest.approx(min(figures))


def test_the_slurm_launcher_config_composes():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        cfg = compose(
            "config", overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu"], return_hydra_config=True
        )
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.partition == "gpu" and launcher.timeout_min == 90 and launcher.cpus_per_task == 4


# -- the task function, called as Hydra calls it for one job ------------------------------------------


def task(run_dir: Path, *overrides: str, multirun: bool = True) -> float:
    """What zoo.run's task function returns for one job (of a multirun, or a single run) with
    `overrides`, its run folder `run_dir`, in this process on one thread."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import open_dict

    import zoo.run

    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        cfg = compose("config", overrides=list(overrides), return_hydra_config=True)
    run_dir.mkdir(parents=True, exist_ok=True)  # Hydra makes the folder before calling the task
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(run_dir)
        cfg.hydra.mode = RunMode.MULTIRUN if multirun else RunMode.RUN
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return zoo.run.run.__wrapped__(cfg)
    finally:
        torch.set_num_threads(threads)
        HydraConfig.instance().cfg = None


def test_the_task_function_returns_the_best_validation_figure(tmp_path, shared_data):
    value = task(tmp_path, "model=char_lstm", *TINY)
    assert value == metrics_of(tmp_path)["best_valid_nats_per_step"] and math.isfinite(value)


def test_a_failed_job_returns_infinity_and_a_single_run_exits_2(tmp_path, shared_data, capfd):
    assert task(tmp_path / "job", "model=char_lstm", *TINY, "train.batch_size=0") == math.inf
    assert capfd.readouterr().err.strip() == "error: train.batch_size=0 must be at least 1"
    assert metrics_of(tmp_path / "job")["status"] == "failed"
    with pytest.raises(SystemExit) as exit:
        task(tmp_path / "single", "model=char_lstm", *TINY, "train.batch_size=0", multirun=False)
    assert exit.value.code == 2


@pytest.mark.parametrize(
    "metrics,expected",
    [
        ({"status": "trained", "best_valid_nats_per_step": 5.25}, 5.25),
        ({"status": "diverged", "best_valid_nats_per_step": 5.25}, math.inf),
        ({"status": "trained", "best_valid_nats_per_step": math.nan}, math.inf),
    ],
)
def test_a_diverged_or_undefined_figure_is_infinity(metrics, expected, tmp_path, monkeypatch):
    import zoo.run

    monkeypatch.setattr(zoo.run, "train_and_report", lambda cfg, run_dir: metrics)
    assert task(tmp_path, "model=char_lstm") == expected
