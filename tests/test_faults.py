"""Faults end in one line that says what went wrong and where: a non-finite loss (or, with
train.on_nonfinite=skip, a counted skip), a validation figure that explodes, and a file
given as a checkpoint that is not one."""

import json
import os
import pickle

import pyro
import pyro.distributions as dist
import pytest
import torch

from guides.empty import NoLatents
from tests.helpers import QUICK, composed, run_zoo, toy_text
from zoo.data.batch import collate
from zoo.evaluation.likelihood import Figure
from zoo.models.char_lstm import CharLSTM
from zoo.objectives import ELBO
from zoo.training.checkpoint import CheckpointError, load_checkpoint
from zoo.training.sites import first_nonfinite
from zoo.training.trainer import Trainer, TrainingFault, TrainOptions


class PoisonedELBO(ELBO):
    """The ELBO, made NaN at chosen calls (0, 1, ...): by a NaN in the output bias (`poison`),
    or by multiplying the loss alone (`nan_loss`), which leaves every parameter finite."""

    def __init__(self, poison=(), nan_loss=()):
        super().__init__()
        self.poison, self.nan_loss, self.calls = set(poison), set(nan_loss), 0

    def __call__(self, model, guide, batch, step=0):
        call, self.calls = self.calls, self.calls + 1
        if call in self.poison:
            with torch.no_grad():
                model.emitter.output.bias[0] = float("nan")
        loss = super().__call__(model, guide, batch, step=step)
        return loss * float("nan") if call in self.nan_loss else loss


def trainer(run_dir, objective, **options) -> Trainer:
    data = toy_text(num_sequences=24)
    torch.manual_seed(0)
    model = CharLSTM(data.spec, hidden_size=8)
    defaults = dict(max_epochs=2, steps_per_epoch=4, batch_size=4, lr=0.01, patience=100, progress=False)
    return Trainer(model, NoLatents(model), objective, data, TrainOptions(**{**defaults, **options}), run_dir)


def test_a_nan_loss_stops_naming_the_step_the_sequences_and_the_parameter(tmp_path):
    with pytest.raises(TrainingFault) as fault:
        trainer(tmp_path, PoisonedELBO(poison=[5])).fit()
    message = str(fault.value)
    assert "the loss is nan at step 5 (epoch 2, minibatch 1: training sequences [" in message
    assert "the model parameter emitter.output.bias holds nan" in message
    assert "train.on_nonfinite=skip" in message and "\n" not in message
    assert load_checkpoint(tmp_path)["epoch"] == 1  # the last whole epoch is kept


def test_the_first_site_with_a_non_finite_log_probability_is_named():
    def model(batch, scale=0.0):  # a zero scale gives the observation a log-probability of NaN
        pyro.sample("z", dist.Normal(0.0, 1.0))
        pyro.sample("x", dist.Normal(0.0, scale * torch.ones(())), obs=torch.tensor(1.0))

    def guide(batch):
        pyro.sample("z", dist.Normal(0.0, 1.0))

    batch = collate(toy_text().train[:2])
    with pyro.validation_enabled(False):
        where = first_nonfinite(as_module(model), as_module(guide), batch)
        finite = first_nonfinite(as_module(lambda b: model(b, scale=1.0)), as_module(guide), batch)
    assert where == "the log-probability of the model's sample site 'x' is nan"
    assert finite.startswith("every parameter and site log-probability is finite")


def as_module(fn):
    """A Pyro program as a torch module without parameters."""

    class Program(torch.nn.Module):
        def forward(self, batch):
            return fn(batch)

    return Program()


def test_skipping_non_finite_steps_counts_them_and_trains_on(tmp_path):
    straight = trainer(tmp_path / "a", ELBO())
    straight.fit()
    skipping = trainer(tmp_path / "b", PoisonedELBO(nan_loss=[1, 3]), on_nonfinite="skip")
    history = skipping.fit()
    assert skipping.skipped == 2 and len(history) == 2
    assert skipping.step == straight.step - 2  # a skipped step changes no parameter and counts no step
    assert load_checkpoint(tmp_path / "b")["skipped"] == 2
    assert all(torch.isfinite(p).all() for p in skipping.params)


def test_a_run_that_skips_every_step_stops(tmp_path):
    with pytest.raises(TrainingFault, match="every step of epoch 1 had a non-finite loss"):
        trainer(tmp_path, PoisonedELBO(nan_loss=range(100)), on_nonfinite="skip").fit()


def test_a_validation_figure_that_explodes_stops_training_at_the_last_sane_epoch(tmp_path, monkeypatch, caplog):
    run = trainer(tmp_path, ELBO(), max_epochs=5)
    validate = run.validate

    def explode_at_epoch_3():
        figure = validate()
        return Figure(figure.kind, 1e12, 0.0, 1, 1) if run.epoch == 3 else figure

    monkeypatch.setattr(run, "validate", explode_at_epoch_3)
    history = run.fit()
    assert [h["epoch"] for h in history] == [1, 2]
    assert run.diverged["epoch"] == 3 and run.diverged["untrained_nats_per_step"] == pytest.approx(run.untrained)
    assert load_checkpoint(tmp_path)["epoch"] == 2 and load_checkpoint(tmp_path, "best.pt")["epoch"] <= 2
    assert "training diverged at epoch 3" in caplog.text


def test_overfitting_is_not_divergence(tmp_path):
    """Worse than the untrained model by less than the untrained figure itself is the slow
    rise of overfitting; a NaN or a figure twice as bad is an explosion."""
    run = trainer(tmp_path, ELBO())
    run.untrained = 1.6
    assert not run.exploded(1.7) and not run.exploded(3.1)
    assert run.exploded(3.3) and run.exploded(float("nan")) and run.exploded(float("inf"))
    run.untrained = 0.2  # small figures: a margin of at least 1 nat per step
    assert not run.exploded(1.1) and run.exploded(1.3)


def test_a_diverged_run_fails_in_one_line_and_says_so_in_metrics_json(tmp_path):
    result = run_zoo(tmp_path, *QUICK, "model=char_lstm", "data=jsb_chorales", "train.lr=1e9", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "training diverged at epoch 1" in result.stderr and "lower train.lr (now 1e+09)" in result.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and "test" not in metrics


def test_metrics_json_counts_the_skipped_steps(tmp_path, monkeypatch):
    """The command's own steps (zoo.run.train_and_report), in this process, with the loss made
    NaN at the first and third training steps."""
    from zoo.run import train_and_report

    calls, call = [], ELBO.__call__

    def poisoned(self, model, guide, batch, step=0):
        calls.append(step)
        return call(self, model, guide, batch, step) * (float("nan") if len(calls) in (1, 3) else 1.0)

    monkeypatch.setattr(ELBO, "__call__", poisoned)
    cfg = composed("model=char_lstm", "data=jsb_chorales", *QUICK, "train.on_nonfinite=skip")
    metrics = train_and_report(cfg, tmp_path)
    assert metrics["nonfinite_steps_skipped"] == 2 and metrics["status"] == "trained"


# -- files that are not checkpoints ---------------------------------------------------------------


class Hostile:
    """Unpickling this would create a file: a checkpoint loader must refuse it unread."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def checkpoint(tmp_path):
    run = trainer(tmp_path / "run", ELBO(), max_epochs=1)
    run.fit()
    return tmp_path / "run" / "last.pt"


def test_a_truncated_checkpoint_is_named_as_such(tmp_path, checkpoint):
    cut = tmp_path / "cut.pt"
    cut.write_bytes(checkpoint.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match=r"cut.pt is not a checkpoint: a torch zip archive that is truncated"):
        load_checkpoint(cut)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty.pt is empty"):
        load_checkpoint(tmp_path / "empty.pt")


def test_a_hostile_pickle_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    torch.save({"model": Hostile(marker)}, tmp_path / "hostile.pt")
    (tmp_path / "raw.pt").write_bytes(pickle.dumps(Hostile(marker)))
    with pytest.raises(CheckpointError, match=r"asks to unpickle \S*open.*refused unread"):
        load_checkpoint(tmp_path / "hostile.pt")
    with pytest.raises(CheckpointError, match="is not a checkpoint"):
        load_checkpoint(tmp_path / "raw.pt")
    assert not marker.exists()


def test_foreign_files_are_named_for_what_they_lack(tmp_path):
    torch.save(torch.ones(3), tmp_path / "tensor.pt")
    torch.save({"state_dict": {"w": torch.ones(2)}}, tmp_path / "other.pt")
    (tmp_path / "text.pt").write_text("not a checkpoint\n")
    (tmp_path / "random.pt").write_bytes(os.urandom(300))
    with pytest.raises(CheckpointError, match=r"a torch file but not a zoo checkpoint \(a Tensor\)"):
        load_checkpoint(tmp_path / "tensor.pt")
    with pytest.raises(CheckpointError, match=r"not a zoo checkpoint \(a dict without 'model'"):
        load_checkpoint(tmp_path / "other.pt")
    for name in ("text.pt", "random.pt"):
        with pytest.raises(CheckpointError, match="neither a torch zip archive nor a plain pickle"):
            load_checkpoint(tmp_path / name)


def test_resuming_with_other_sizes_names_the_tensors_that_differ(tmp_path, checkpoint):
    data = toy_text(num_sequences=24)
    model = CharLSTM(data.spec, hidden_size=12)
    other = Trainer(model, NoLatents(model), ELBO(), data, TrainOptions(progress=False), tmp_path / "other")
    with pytest.raises(
        CheckpointError,
        match=r"does not fit the model these options build \(.*checkpoint \(32, 5\), "
        r"here \(48, 5\)",
    ):
        other.fit(resume=checkpoint)
