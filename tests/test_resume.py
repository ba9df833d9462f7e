"""A run interrupted and resumed ends where an unbroken one ends: under every learning-rate
schedule, and through the command line after the process is killed with SIGKILL mid-epoch."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from guides.empty import NoLatents
from tests.helpers import QUICK, run_zoo, toy_text
from zoo.evaluation.likelihood import Figure
from zoo.models.char_lstm import CharLSTM
from zoo.objectives import ELBO
from zoo.objectives.seqgan import SeqGAN
from zoo.training.checkpoint import load_checkpoint
from zoo.training.trainer import Trainer, TrainOptions

EPOCHS = 6


def trainer(run_dir, schedule: str) -> Trainer:
    data = toy_text(num_sequences=24)
    torch.manual_seed(0)
    model = CharLSTM(data.spec, hidden_size=8)
    # lr_patience=0 halves the step size at the first epoch that does not improve, so the
    # plateau schedule acts within a few epochs; patience is long enough never to stop early.
    options = TrainOptions(
        max_epochs=EPOCHS,
        steps_per_epoch=5,
        batch_size=4,
        lr=0.3,
        lr_schedule=schedule,
        lr_patience=0,
        patience=100,
        progress=False,
    )
    return Trainer(model, NoLatents(model), ELBO(), data, options, run_dir)


class Interrupted(Exception):
    pass


def interrupt_after_epoch(trainer: Trainer, epoch: int, monkeypatch) -> None:
    """Make `trainer` stop with Interrupted at the end of `epoch`, after writing its checkpoints."""
    write = trainer.write_metrics_csv

    def interrupt():  # the last thing an epoch does, after saving last.pt
        write()
        if trainer.epoch == epoch:
            raise Interrupted

    monkeypatch.setattr(trainer, "write_metrics_csv", interrupt)


@pytest.mark.parametrize("schedule", ["plateau", "cosine", "none"])
def test_a_run_interrupted_after_an_epoch_resumes_onto_the_unbroken_curve(tmp_path, schedule, monkeypatch):
    straight = trainer(tmp_path / "straight", schedule).fit()
    rates = [h["lr"] for h in straight]
    assert len(set(rates)) > 1 or schedule == "none"  # the schedule acts within the run

    broken = trainer(tmp_path / "broken", schedule)
    interrupt_after_epoch(broken, 3, monkeypatch)
    with pytest.raises(Interrupted):
        broken.fit()
    resumed = trainer(tmp_path / "resumed", schedule).fit(resume=tmp_path / "broken")
    assert [h["epoch"] for h in resumed] == list(range(1, EPOCHS + 1))
    for a, b in zip(straight, resumed):
        assert b["lr"] == pytest.approx(a["lr"], rel=1e-12)
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-6)
        assert b["valid_nats_per_step"] == pytest.approx(a["valid_nats_per_step"], rel=1e-6)


def test_a_run_resumed_into_a_new_folder_keeps_the_best_checkpoint_it_continues(tmp_path, monkeypatch):
    first = trainer(tmp_path / "a", "none")
    first.options.max_epochs = 2
    first.fit()
    later = trainer(tmp_path / "b", "none")
    worse = Figure("exact", first.best + 0.1, 0.0, 1, 1)
    monkeypatch.setattr(later, "validate", lambda: worse)  # no later epoch beats the first run's best
    later.fit(resume=tmp_path / "a")
    best = load_checkpoint(tmp_path / "b", "best.pt")
    assert best["epoch"] <= 2 and best["best"] == first.best
    assert load_checkpoint(tmp_path / "b")["epoch"] == EPOCHS


def test_a_run_killed_mid_epoch_and_resumed_reports_what_an_unbroken_run_reports(tmp_path):
    options = [
        *QUICK,
        "model=char_lstm",
        "data=jsb_chorales",
        "model.net.hidden_size=16",
        "train.max_epochs=3",
        "train.steps_per_epoch=40",
        "train.batch_size=8",
        "sample.length=10",
    ]
    run_zoo(tmp_path / "unbroken", *options)

    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "zoo.run", f"hydra.run.dir={killed}", *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    deadline = time.monotonic() + 120
    while not (killed / "last.pt").exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)  # in epoch 2, whose 40 steps take far longer than a poll
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert load_checkpoint(killed)["epoch"] == 1 and not (killed / "metrics.json").exists()

    run_zoo(tmp_path / "resumed", *options, f"train.resume={killed}")
    unbroken = json.loads((tmp_path / "unbroken" / "metrics.json").read_text())
    resumed = json.loads((tmp_path / "resumed" / "metrics.json").read_text())
    assert resumed["epochs"] == unbroken["epochs"] == 3
    with open(tmp_path / "resumed" / "metrics.csv") as rows:
        valid = [float(row["valid_nats_per_step"]) for row in csv.DictReader(rows)]
    assert resumed["best_epoch"] == 1 + valid.index(min(valid))  # the checkpoint the test figures come from
    assert resumed["best_valid_nats_per_step"] == pytest.approx(unbroken["best_valid_nats_per_step"], rel=1e-6)
    for a, b in zip(unbroken["test"], resumed["test"]):
        assert (a["kind"], a["num_steps"]) == (b["kind"], b["num_steps"])
        assert b["nats_per_step"] == pytest.approx(a["nats_per_step"], rel=1e-6)
    assert resumed["sample_statistics"] == pytest.approx(unbroken["sample_statistics"], rel=1e-6)


def seqgan_trainer(run_dir, discriminator: str) -> Trainer:
    data = toy_text(num_sequences=24)
    torch.manual_seed(0)
    model = CharLSTM(data.spec, hidden_size=8)
    objective = SeqGAN(
        pretrain_steps=4,
        discriminator_pretrain_steps=2,
        rollouts=2,
        discriminator=discriminator,
        discriminator_hidden=8,
        discriminator_embedding=8,
        discriminator_rounds=1,
        discriminator_pretrain_rounds=1,
        discriminator_epochs=1,
        discriminator_negatives=8,
        discriminator_batch_size=4,
    )
    options = TrainOptions(
        max_epochs=5, steps_per_epoch=3, batch_size=4, lr=0.01, lr_schedule="none", patience=100, progress=False
    )
    return Trainer(model, NoLatents(model), objective, data, options, run_dir)


@pytest.mark.parametrize("discriminator", ["rnn", "cnn"])
def test_a_seqgan_run_resumed_mid_adversarial_phase_has_the_losses_of_an_unbroken_one(
    tmp_path, discriminator, monkeypatch
):
    straight = seqgan_trainer(tmp_path / "straight", discriminator).fit()
    broken = seqgan_trainer(tmp_path / "broken", discriminator)
    interrupt_after_epoch(broken, 3, monkeypatch)  # after 9 steps, 5 adversarial: D, its optimiser, the pool trained
    with pytest.raises(Interrupted):
        broken.fit()
    state = load_checkpoint(tmp_path / "broken")["objective"]
    assert state["discriminator"] is not None and state["adversarial_steps"] == 5
    resumed = seqgan_trainer(tmp_path / "resumed", discriminator)
    history = resumed.fit(resume=tmp_path / "broken")
    assert [h["epoch"] for h in history] == list(range(1, 6))
    for a, b in zip(straight, history):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-6, abs=1e-9)
        assert b["valid_nats_per_step"] == pytest.approx(a["valid_nats_per_step"], rel=1e-6)
