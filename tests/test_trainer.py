"""The training loop: it learns, checkpoints atomically, resumes exactly, stops early."""

import pytest
import torch

from guides.empty import NoLatents
from guides.weights import MeanFieldWeights
from tests.helpers import toy_text
from zoo.errors import ZooError
from zoo.models.bayesian_weights import BayesianWeights
from zoo.models.char_lstm import CharLSTM
from zoo.objectives import ELBO
from zoo.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from zoo.training.trainer import Trainer, TrainOptions

OPTIONS = dict(batch_size=4, lr=0.01, progress=False, patience=100, lr_schedule="none", device="cpu")


def make_trainer(run_dir, bayesian=False, **options):
    data = toy_text(num_sequences=24)
    torch.manual_seed(0)
    model = CharLSTM(data.spec, hidden_size=8)
    if bayesian:
        model = BayesianWeights(model, prior_scale=0.3)
        guide = MeanFieldWeights(model, init_scale=0.01)
    else:
        guide = NoLatents(model)
    return Trainer(model, guide, ELBO(), data, TrainOptions(**{**OPTIONS, **options}), run_dir)


def test_training_lowers_the_validation_nll(tmp_path):
    history = make_trainer(tmp_path, max_epochs=15).fit()
    assert history[-1]["valid_nats_per_step"] < history[0]["valid_nats_per_step"] - 0.05
    assert {"best.pt", "last.pt", "metrics.csv"} <= {p.name for p in tmp_path.iterdir()}


@pytest.mark.parametrize("bayesian", [False, True])
def test_a_resumed_run_continues_the_uninterrupted_loss_curve(tmp_path, bayesian):
    straight = make_trainer(tmp_path / "a", bayesian, max_epochs=4).fit()
    make_trainer(tmp_path / "b", bayesian, max_epochs=2).fit()
    resumed = make_trainer(tmp_path / "c", bayesian, max_epochs=4).fit(resume=tmp_path / "b")
    assert [h["epoch"] for h in resumed] == [1, 2, 3, 4]
    for a, b in zip(straight, resumed):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)
        assert a["valid_nats_per_step"] == pytest.approx(b["valid_nats_per_step"], rel=1e-6)


def test_a_monitor_adds_columns_and_leaves_training_as_it_was(tmp_path):
    import csv

    def monitor(model, guide):
        assert not model.training  # it sees the model as validation left it
        return {"noise": torch.rand(()).item()}  # draws from the global generator

    plain = make_trainer(tmp_path / "plain", bayesian=True, max_epochs=3).fit()  # training draws weights
    trainer = make_trainer(tmp_path / "watched", bayesian=True, max_epochs=3)
    trainer.monitor = monitor
    watched = trainer.fit()
    assert [h["train_loss"] for h in watched] == [h["train_loss"] for h in plain]
    assert [h["valid_nats_per_step"] for h in watched] == [h["valid_nats_per_step"] for h in plain]
    noise = [h["noise"] for h in watched]
    assert len(set(noise)) == 3  # seeded by the epoch: a fresh draw each time
    with open(tmp_path / "watched" / "metrics.csv", newline="") as f:
        assert [float(row["noise"]) for row in csv.DictReader(f)] == pytest.approx(noise)


def test_checkpoints_load_without_unpickling_objects(tmp_path):
    trainer = make_trainer(tmp_path, max_epochs=1)
    trainer.fit()
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["epoch"] == 1 and state["data_spec"]["vocab"] == list("abcde")


def test_an_interrupted_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"epoch": 1}, path)

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"epoch": 2}, path)
    assert torch.load(path, weights_only=True)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_resuming_on_other_data_is_refused(tmp_path):
    make_trainer(tmp_path / "a", max_epochs=1).fit()
    trainer = make_trainer(tmp_path / "b", max_epochs=2)
    trainer.data.spec.vocab.tokens[0] = "z"
    with pytest.raises(CheckpointError, match="trained on"):
        trainer.fit(resume=tmp_path / "a")


def test_early_stopping_after_patience_epochs_without_improvement(tmp_path):
    trainer = make_trainer(tmp_path, max_epochs=50, patience=2, lr=0.5)
    history = trainer.fit()
    figures = [h["valid_nats_per_step"] for h in history]
    best = figures.index(min(figures))
    assert len(history) < 50 and len(figures) - 1 - best == 2


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "nowhere")


def test_a_checkpoint_from_before_the_spec_had_a_scale_still_loads(tmp_path):
    """Checkpoints keep a DataSpec's state; fields added later (scale) must not reject old ones."""
    make_trainer(tmp_path / "a", max_epochs=1).fit()
    state = load_checkpoint(tmp_path / "a" / "last.pt")
    del state["data_spec"]["scale"]
    trainer = make_trainer(tmp_path / "b", max_epochs=1)
    with torch.no_grad():
        for p in trainer.model.parameters():
            p.zero_()
    trainer.load_state_dict(state)
    assert (trainer.epoch, trainer.step, trainer.history) == (state["epoch"], state["step"], state["history"])
    assert trainer.epoch == 1 and trainer.data.spec.scale is None
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(value, state["model"][name]), name


def test_a_patience_that_stops_at_the_first_halving_is_refused():
    with pytest.raises(ZooError, match=r"train.patience=3 .* train.patience >= 4"):
        TrainOptions(patience=3, lr_patience=2)
    TrainOptions(patience=3, lr_patience=2, lr_schedule="none")  # no halving to wait for


def test_the_halved_step_size_trains_before_early_stopping(tmp_path):
    """Defaults of the plateau schedule: the stopping epoch is not the first epoch at half the rate."""
    defaults = TrainOptions()
    trainer = make_trainer(
        tmp_path,
        max_epochs=60,
        lr=0.5,
        lr_schedule="plateau",
        patience=defaults.patience,
        lr_patience=defaults.lr_patience,
    )
    history = trainer.fit()
    # a row's lr is the rate after that epoch's validation: the first halved row trained at the full rate
    trained_at_half = len([h for h in history if h["lr"] < 0.5]) - 1
    assert len(history) < 60 and trained_at_half >= defaults.patience - defaults.lr_patience - 1 >= 2


def test_valid_samples_selects_variational_weights_by_their_posterior_predictive(tmp_path):
    """train.valid_samples = S > 1: the validation figure is the posterior predictive with S draws
    of w (what the test reports), computed as zoo.evaluation does; S = 1 keeps -ELBO."""
    from zoo.evaluation.likelihood import weight_posterior_nll

    trainer = make_trainer(tmp_path / "s5", bayesian=True, max_epochs=2, valid_samples=5)
    history = trainer.fit()
    assert {h["valid_kind"] for h in history} == {"posterior predictive (S=5)"}
    torch.manual_seed(7)
    figure = trainer.validate_here()
    torch.manual_seed(7)
    expected = weight_posterior_nll(trainer.model, trainer.guide, trainer.data, "valid", num_samples=5)[1]
    assert figure.nats_per_step == pytest.approx(expected.nats_per_step, rel=1e-6)
    plain = make_trainer(tmp_path / "s1", bayesian=True, max_epochs=1).fit()
    assert plain[0]["valid_kind"] == "-ELBO"


def test_valid_at_mean_selects_by_the_exact_nll_of_the_lstm_loaded_with_the_guide_means(tmp_path):
    """train.valid_at_mean: each epoch's validation figure is the exact NLL of a plain char_lstm
    whose parameters are the guide's means (no draw: the same figure twice), and best.pt holds
    the epoch where it was lowest."""
    from zoo.evaluation.likelihood import exact_nll

    trainer = make_trainer(tmp_path, bayesian=True, max_epochs=3, valid_at_mean=True)
    history = trainer.fit()
    assert {h["valid_kind"] for h in history} == {"exact at the posterior mean"}
    net = CharLSTM(trainer.data.spec, hidden_size=8)
    means = dict(zip(trainer.guide.names, trainer.guide.loc))
    net.load_state_dict({n: means[f"w.{n}"].detach().reshape(p.shape) for n, p in net.named_parameters()})
    expected = exact_nll(net, trainer.data, "valid").nats_per_step
    assert trainer.validate_here().nats_per_step == pytest.approx(expected, rel=1e-6)
    assert trainer.validate_here().nats_per_step == trainer.validate_here().nats_per_step
    assert history[-1]["valid_nats_per_step"] == pytest.approx(expected, rel=1e-6)
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert best["best"] == pytest.approx(min(h["valid_nats_per_step"] for h in history), rel=1e-9)


@pytest.mark.parametrize(
    "bayesian,options,message",
    [
        (False, {}, r"train.valid_at_mean=true .* this model has none .*: use model=bayes_lstm"),
        (
            True,
            {"valid_samples": 3},
            r"train.valid_at_mean=true \(model=bayes_lstm's default\) and train.valid_samples=3 .* add train.valid_at_mean=false",
        ),
    ],
)
def test_valid_at_mean_that_cannot_apply_is_one_clear_line(tmp_path, bayesian, options, message):
    with pytest.raises(ZooError, match=message):
        make_trainer(tmp_path, bayesian, valid_at_mean=True, **options)


@pytest.mark.parametrize("before,after", [(False, True), (True, False)])
def test_a_run_resumed_with_another_validation_figure_is_refused_naming_the_one_it_had(tmp_path, before, after):
    """best.pt, the step-size schedule and early stopping of a resumed run compare its figures
    with the history's: a resumed run validated otherwise (-ELBO against the network at q's
    mean) is refused before anything is loaded, naming the setting that resumes it."""
    make_trainer(tmp_path / "a", bayesian=True, max_epochs=1, valid_at_mean=before).fit()
    resumed = make_trainer(tmp_path / "b", bayesian=True, max_epochs=2, valid_at_mean=after)
    with pytest.raises(
        CheckpointError, match=rf"compare two figures; resume with train.valid_at_mean={str(before).lower()}"
    ):
        resumed.fit(resume=tmp_path / "a")
    assert not (tmp_path / "b" / "last.pt").exists()
    again = make_trainer(tmp_path / "c", bayesian=True, max_epochs=2, valid_at_mean=before).fit(resume=tmp_path / "a")
    assert [h["epoch"] for h in again] == [1, 2]


def test_valid_at_mean_with_a_guide_without_a_mean_is_one_clear_line(tmp_path):
    data = toy_text(num_sequences=24)
    model = BayesianWeights(CharLSTM(data.spec, hidden_size=8), prior_scale=0.3)
    options = TrainOptions(**{**OPTIONS, "valid_at_mean": True})
    with pytest.raises(ZooError, match=r"needs the weight guide's mean, and NoLatents has none: use weight_guide="):
        Trainer(model, NoLatents(model), ELBO(), data, options, tmp_path)


def test_valid_samples_without_variational_weights_is_one_clear_line(tmp_path):
    with pytest.raises(
        ZooError, match=r"train.valid_samples=10 .* this model has none: set model.bayesian_weights=true"
    ):
        make_trainer(tmp_path, valid_samples=10)
