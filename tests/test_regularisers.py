"""The deterministic regularisers: Zaremba's dropout in char_lstm, AdamW's decoupled weight decay
in the trainer, and the test figure taken at the best validation checkpoint."""

import argparse
import dataclasses
import json
from types import SimpleNamespace

import pytest
import torch

from guides.empty import NoLatents
from guides.weights import MeanFieldWeights
from tests.helpers import QUICK, composed, run_in_process, toy_rolls, toy_text
from zoo.data.batch import collate
from zoo.errors import ZooError
from zoo.models.bayesian_weights import BayesianWeights
from zoo.models.char_lstm import CharLSTM
from zoo.models.vrnn import VRNN
from zoo.objectives import ELBO
from zoo.run import build
from zoo.training.checkpoint import CheckpointError
from zoo.training.trainer import Trainer, TrainOptions

OPTIONS = dict(batch_size=4, lr=0.01, progress=False, patience=100, lr_schedule="none", max_epochs=3, steps_per_epoch=5)


# -- dropout (Zaremba et al. 2014) ------------------------------------------------------------------


@pytest.mark.parametrize("make", [toy_text, toy_rolls])
def test_evaluation_is_deterministic_and_training_passes_differ(make):
    data = make()
    torch.manual_seed(0)
    model = CharLSTM(data.spec, hidden_size=16, num_layers=2, dropout=0.5)
    batch = collate(data.train[:6])
    model.eval()
    first, second = model.log_prob(batch), model.log_prob(batch)
    assert torch.equal(first, second)
    model.train()
    assert not torch.equal(model.log_prob(batch), model.log_prob(batch))


def test_evaluation_with_dropout_is_the_network_without_it():
    """Dropout scales kept units by 1 / (1 - p) in training, so in evaluation the network is the
    plain one: the same weights with dropout=0 give the same log-likelihood."""
    data = toy_text()
    torch.manual_seed(0)
    dropped = CharLSTM(data.spec, hidden_size=16, num_layers=2, dropout=0.3).eval()
    plain = CharLSTM(data.spec, hidden_size=16, num_layers=2, dropout=0.0).eval()
    plain.load_state_dict(dropped.state_dict())
    batch = collate(data.train[:6])
    torch.testing.assert_close(dropped.log_prob(batch), plain.log_prob(batch))


def test_dropout_acts_on_the_input_and_output_connections_but_not_the_recurrent_state(monkeypatch):
    """With one layer, nn.LSTM has no dropout of its own: the training forward differs from the
    evaluation one only through the input and output dropout, and the final (h, c) state carries
    no dropout mask of its own: it is the LSTM run on the (dropped) inputs."""
    data = toy_text()
    torch.manual_seed(0)
    model = CharLSTM(data.spec, hidden_size=16, num_layers=1, dropout=0.5)
    assert model.lstm.dropout == 0.0 and model.input_dropout.p == 0.5 and model.output_dropout.p == 0.5
    model.train()
    inputs = model.shifted_inputs(collate(data.train[:3]).x)  # (B, T, F)
    torch.manual_seed(1)
    h, (h_T, c_T) = model.recur(inputs)
    torch.manual_seed(1)
    dropped_inputs = model.input_dropout(inputs)
    h_plain, (h_T_plain, c_T_plain) = model.lstm(dropped_inputs)
    mask = model.output_dropout(torch.ones_like(h_plain))
    torch.testing.assert_close(h, h_plain * mask)
    torch.testing.assert_close(h_T, h_T_plain)
    torch.testing.assert_close(c_T, c_T_plain)
    assert (dropped_inputs == 0).any() and (mask == 0).any()


def test_stacked_layers_drop_between_them():
    data = toy_text()
    model = CharLSTM(data.spec, hidden_size=8, num_layers=3, dropout=0.25)
    assert model.lstm.dropout == 0.25


def test_sampling_is_without_dropout_and_keeps_the_mode():
    data = toy_text()
    torch.manual_seed(0)
    model = CharLSTM(data.spec, hidden_size=16, num_layers=2, dropout=0.5)
    model.train()
    torch.manual_seed(3)
    in_training = model.sample(4, 12)
    model.eval()
    torch.manual_seed(3)
    in_evaluation = model.sample(4, 12)
    assert torch.equal(in_training, in_evaluation)
    model.train()
    model.sample(1, 2)
    assert all(m.training for m in model.modules())


def test_sequence_masks_run_each_sequence_with_its_own_draw_of_the_thinned_weights():
    """Gal & Ghahramani's masks: sequence b in training is the plain network (evaluation mode)
    run with W diag(z_b) / (1 - p) for the input matrix of every layer and the output layer,
    z_b drawn once for the whole sequence, its own for each sequence."""
    data = toy_text()
    torch.manual_seed(0)
    p, H = 0.5, 16
    model = CharLSTM(data.spec, hidden_size=H, num_layers=2, dropout=p, dropout_masks="sequence")
    batch = collate(data.train[:3])
    model.train()
    torch.manual_seed(1)
    dropped = model.log_prob(batch)  # (B,)
    torch.manual_seed(1)  # the same draws, in the order the layers take them
    F = model.emitter.feature_size
    z = [torch.bernoulli(torch.full((3, 1, size), 1 - p)) for size in (F, H, H)]  # inputs of l0, l1, output
    assert not torch.equal(z[0][0], z[0][1])  # one mask per sequence
    model.eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for b in range(3):
        thinned = dict(state)
        for name, z_b in zip(["lstm.weight_ih_l0", "lstm.weight_ih_l1", "emitter.output.weight"], z):
            thinned[name] = state[name] * z_b[b, 0] / (1 - p)  # W diag(z_b) / (1 - p)
        model.load_state_dict(thinned)
        one = collate(data.train[b : b + 1])
        torch.testing.assert_close(model.log_prob(one), dropped[b : b + 1])
    model.load_state_dict(state)


def test_sequence_masks_leave_evaluation_the_plain_network_and_refuse_a_relaxed_sample():
    data = toy_text()
    torch.manual_seed(0)
    tied = CharLSTM(data.spec, hidden_size=8, num_layers=2, dropout=0.3, dropout_masks="sequence").eval()
    plain = CharLSTM(data.spec, hidden_size=8, num_layers=2).eval()
    plain.load_state_dict(tied.state_dict())
    batch = collate(data.train[:4])
    torch.testing.assert_close(tied.log_prob(batch), plain.log_prob(batch))
    tied.train()
    with pytest.raises(ZooError, match="model.net.dropout_masks=sequence .* use model.net.dropout_masks=step"):
        tied.relaxed_sample(2, 3)
    with pytest.raises(ZooError, match="model.net.dropout_masks='tied' is not one of"):
        CharLSTM(data.spec, hidden_size=8, dropout=0.3, dropout_masks="tied")


@pytest.mark.parametrize("value", [-0.1, 1.0])
@pytest.mark.parametrize("net", [CharLSTM, VRNN])
def test_a_dropout_outside_zero_to_one_is_refused(net, value):
    with pytest.raises(ZooError, match=r"model.net.dropout=.* must be at least 0 and below 1"):
        net(toy_text().spec, hidden_size=8, dropout=value)


def test_the_trainer_validates_without_dropout(tmp_path):
    """The validation figure of a trained char_lstm with dropout is its deterministic evaluation."""
    data = toy_text(num_sequences=24)
    torch.manual_seed(0)
    model = CharLSTM(data.spec, hidden_size=8, num_layers=2, dropout=0.5)
    trainer = Trainer(model, NoLatents(model), ELBO(), data, TrainOptions(**{**OPTIONS, "max_epochs": 1}), tmp_path)
    trainer.fit()
    assert trainer.validate().nats_per_step == trainer.validate().nats_per_step
    assert not model.training


# -- weight decay (Loshchilov & Hutter) --------------------------------------------------------------


def trained_char_lstm(run_dir, **options):
    data = toy_text(num_sequences=24)
    torch.manual_seed(0)
    model = CharLSTM(data.spec, hidden_size=8)
    trainer = Trainer(model, NoLatents(model), ELBO(), data, TrainOptions(**{**OPTIONS, **options}), run_dir)
    trainer.fit()
    return model, trainer


def test_weight_decay_shrinks_the_weight_matrices_and_leaves_biases_undecayed(tmp_path):
    plain, _ = trained_char_lstm(tmp_path / "plain")
    decayed, trainer = trained_char_lstm(tmp_path / "decayed", weight_decay=5.0)
    assert isinstance(trainer.optimizer, torch.optim.AdamW)
    for name, p in decayed.named_parameters():
        q = dict(plain.named_parameters())[name]
        if p.dim() >= 2:
            assert p.norm() < 0.9 * q.norm(), name  # 15 steps of lr 0.01 x 5: a factor 0.95^15 alone
    groups = {id(p): g["weight_decay"] for g in trainer.optimizer.param_groups for p in g["params"]}
    for name, p in decayed.named_parameters():
        assert groups[id(p)] == (5.0 if p.dim() >= 2 else 0.0), name


def test_without_weight_decay_the_optimiser_is_plain_adam(tmp_path):
    _, trainer = trained_char_lstm(tmp_path, max_epochs=1)
    assert type(trainer.optimizer) is torch.optim.Adam


def test_negative_weight_decay_is_one_clear_line():
    with pytest.raises(ZooError, match=r"train.weight_decay=-0.1 must be a number >= 0"):
        TrainOptions(weight_decay=-0.1)


def test_weight_decay_of_variational_weights_shrinks_the_means_of_matrices_alone(tmp_path):
    """With weight latents AdamW decays q's means at the sites of matrices by 1 - lr * decay a
    step, and leaves the means of biases and every scale of q as Adam moves them (not at all,
    with zero gradients)."""
    data = toy_text(num_sequences=24)
    torch.manual_seed(0)
    model = BayesianWeights(CharLSTM(data.spec, hidden_size=8), prior_scale=0.3)
    guide = MeanFieldWeights(model, init_scale=0.01)
    trainer = Trainer(model, guide, ELBO(), data, TrainOptions(**{**OPTIONS, "weight_decay": 0.5}), tmp_path)
    before = {id(p): p.detach().clone() for p in trainer.params}
    for p in trainer.params:
        p.grad = torch.zeros_like(p)
    trainer.optimizer.step()
    matrices = {id(guide.loc[j]) for j, site in enumerate(guide.names) if len(model.shapes[site]) >= 2}
    assert matrices and len(matrices) < len(guide.names)  # the LSTM's and output's matrices; their biases
    for p in trainer.params:
        factor = 1 - OPTIONS["lr"] * 0.5 if id(p) in matrices else 1.0
        torch.testing.assert_close(p.detach(), factor * before[id(p)], rtol=1e-6, atol=0)


def test_resuming_with_another_weight_decay_is_refused(tmp_path):
    trained_char_lstm(tmp_path / "a", max_epochs=1)
    data = toy_text(num_sequences=24)
    model = CharLSTM(data.spec, hidden_size=8)
    trainer = Trainer(
        model, NoLatents(model), ELBO(), data, TrainOptions(**{**OPTIONS, "weight_decay": 0.1}), tmp_path / "b"
    )
    with pytest.raises(CheckpointError, match="train.weight_decay=0, this run has 0.1"):
        trainer.fit(resume=tmp_path / "a")


def test_a_run_with_weight_decay_resumes_onto_the_uninterrupted_curve(tmp_path):
    straight = trained_char_lstm(tmp_path / "a", weight_decay=1.0, max_epochs=2)[1].history
    trained_char_lstm(tmp_path / "b", weight_decay=1.0, max_epochs=1)
    data = toy_text(num_sequences=24)
    torch.manual_seed(0)
    model = CharLSTM(data.spec, hidden_size=8)
    resumed = Trainer(
        model,
        NoLatents(model),
        ELBO(),
        data,
        TrainOptions(**{**OPTIONS, "weight_decay": 1.0, "max_epochs": 2}),
        tmp_path / "c",
    )
    history = resumed.fit(resume=tmp_path / "b")
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[-1]["valid_nats_per_step"] == pytest.approx(straight[-1]["valid_nats_per_step"], rel=1e-6)


@pytest.mark.parametrize("name", ["char_lstm", "bayes_lstm"])
def test_the_command_line_option_reaches_the_optimiser(tmp_path, name):
    cfg = composed(f"model={name}", "train.weight_decay=0.01", "model.net.hidden_size=8")
    data, model, guide, objective = build(cfg)
    fields = {f.name for f in dataclasses.fields(TrainOptions)}
    options = TrainOptions(**{k: v for k, v in cfg.train.items() if k in fields})
    trainer = Trainer(model, guide, objective, data, options, tmp_path)
    assert isinstance(trainer.optimizer, torch.optim.AdamW)
    assert max(g["weight_decay"] for g in trainer.optimizer.param_groups) == 0.01
    assert composed("model=char_lstm").train.weight_decay == 0


# -- early stopping: the test figure is the best validation epoch's -----------------------------------


def test_the_test_figure_is_computed_at_the_best_validation_checkpoint(tmp_path):
    """With a step size too large for the toy run, validation is best at an early epoch and worse
    at the last; the reported test figure is best.pt's, not last.pt's."""
    from zoo.evaluate import load_run
    from zoo.evaluation.likelihood import exact_nll

    metrics = run_in_process(
        tmp_path,
        "model=char_lstm",
        "data=jsb_chorales",
        *QUICK,
        "model.net.hidden_size=8",
        "train.max_epochs=4",
        "train.lr=0.5",
        "train.patience=4",
        "train.lr_schedule=none",
    )
    history = [float(line.split(",")[3]) for line in (tmp_path / "metrics.csv").read_text().splitlines()[1:]]
    assert len(history) == 4 and min(history) < history[-1]  # the best epoch is not the last
    assert metrics["best_valid_nats_per_step"] == min(history)
    figures = {}
    for name in ("best.pt", "last.pt"):
        _, data, model, _, _ = load_run(str(tmp_path), name)
        figures[name] = exact_nll(model, data, "test", limit=40).nats_per_step
    assert metrics["test"][0]["nats_per_step"] == pytest.approx(figures["best.pt"], rel=1e-6)
    assert figures["last.pt"] != pytest.approx(figures["best.pt"], rel=1e-3)


# -- the bench's table and its grid ------------------------------------------------------------------


def bench_cell(nats: float, kind: str, ece: float, minutes: float = 2.0) -> dict:
    figure = {"kind": kind, "nats_per_step": nats, "num_steps": 100}
    return {"test": [figure], "ece": ece, "accuracy": 0.5, "minutes": minutes, "epochs": 4, "best_epoch": 2}


def test_the_bench_table_gives_the_reported_kind_with_mean_and_sd_over_seeds():
    from bench.regularisers import table

    results = {
        "char_lstm": {"0": bench_cell(1.0, "exact", 0.01), "1": bench_cell(1.2, "exact", 0.03)},
        "bayes_lstm_mean_field": {
            "0": {
                **bench_cell(1.1, "-ELBO", 0.02),
                "test": [
                    {"kind": "-ELBO", "nats_per_step": 1.3, "num_steps": 100},
                    {"kind": "posterior predictive (S=10)", "nats_per_step": 1.1, "num_steps": 100},
                    {"kind": "exact at the posterior mean", "nats_per_step": 1.15, "num_steps": 100},
                ],
            }
        },
    }
    lines = table(results)
    char = next(line for line in lines if line.startswith("| char_lstm |"))
    assert "| 1.100 ± 0.141 | 1.587 ± 0.204 | exact | - | 0.0200 ± 0.0141 |" in char and char.endswith(
        "| 2/4, 2/4 | 2 |"
    )
    bayes = next(line for line in lines if line.startswith("| bayes_lstm_mean_field |"))
    assert "| 1.100 | 1.587 | posterior predictive (S=10) | 1.150 | 0.0200 |" in bayes


def test_the_bench_refuses_to_mix_budgets_in_one_tag(tmp_path, monkeypatch):
    import bench.regularisers as bench

    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    (tmp_path / "regularisers_t.json").write_text('{"results": {}, "budget": {"minutes": 1.0}}')
    with pytest.raises(SystemExit) as stop:
        bench.main(["--tag", "t", "--minutes", "2"])
    assert stop.value.code == 2 and not (tmp_path / "regularisers").exists()


@pytest.fixture
def processes(tmp_path, monkeypatch):
    """bench.regularisers on an empty results folder, the zoo commands its cells start recorded;
    each fails, so no cell goes on to evaluation."""
    import bench.common as common
    import bench.regularisers as bench

    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    monkeypatch.setattr(common, "ROOT", tmp_path)
    started = []
    monkeypatch.setattr(
        common, "zoo_process", lambda *command, threads: started.append(command) or SimpleNamespace(returncode=1)
    )
    return started


def finished_grid(tmp_path, tag: str, minutes: float, row: str = "char_lstm", **changes) -> None:
    """The JSON of grid `tag`, as a bench with --minutes `minutes` leaves it, and its `row` seed-0 last.pt."""
    import bench.regularisers as bench

    args = argparse.Namespace(**{**DEFAULTS, "tag": tag, "minutes": minutes, **changes})
    (tmp_path / f"regularisers_{tag}.json").write_text(json.dumps({"results": {}, "budget": bench.budget(args)}))
    folder = bench.cell_dir(tag, row, 0)
    folder.mkdir(parents=True)
    (folder / "last.pt").touch()


DEFAULTS = dict(
    data="tiny_shakespeare",
    hidden=512,
    layers=2,
    steps_per_epoch=100,
    patience=6,
    batch_size=64,
    dropout=0.25,
    weight_decay=0.1,
    samples=10,
    bins=15,
    options=[],
    continue_from=None,
    warm_from=None,
)


def test_a_continued_cell_resumes_the_same_cell_of_the_other_grid_then_itself(tmp_path, processes):
    import bench.regularisers as bench

    finished_grid(tmp_path, "short", 60.0)
    arguments = ["--tag", "long", "--continue-from", "short", "--minutes", "120", "--rows", "char_lstm", "--seeds", "0"]
    bench.main(arguments)
    assert "train.resume=regularisers/short/char_lstm/seed0" in processes[-1]
    assert "train.max_minutes=120.0" in processes[-1]
    (bench.cell_dir("long", "char_lstm", 0) / "last.pt").touch()  # interrupted: it resumes from its own
    bench.main(arguments)
    assert "train.resume=regularisers/long/char_lstm/seed0" in processes[-1]
    assert "train.resume=regularisers/short/char_lstm/seed0" not in processes[-1]


def continued_then_evaluated(tmp_path, processes, row: str) -> tuple[list[str], list[str]]:
    """(the training command, the evaluation command) of `row`'s seed-0 cell in a 120-minute grid
    continuing a finished 60-minute grid that holds the cell of the row it continues."""
    import bench.regularisers as bench

    finished_grid(tmp_path, "short", 60.0, row=bench.CONTINUES[row])
    arguments = ["--tag", "long", "--continue-from", "short", "--minutes", "120", "--seeds", "0", "--rows", row]
    bench.main(arguments)
    train = processes[-1]
    (bench.cell_dir("long", row, 0) / "metrics.json").write_text('{"status": "trained"}')
    bench.main(arguments)
    return train, processes[-1]


def test_the_swag_row_continues_the_weight_decay_cell_and_collects_over_the_last_quarter(tmp_path, processes):
    """SWAG's row is the weight decay row until its collection starts at 3/4 of the budget, so it
    continues that row's cell of the shorter grid; its test figure is SWAG's posterior predictive."""
    import bench.regularisers as bench

    train, evaluate = continued_then_evaluated(tmp_path, processes, "char_lstm_weight_decay_swag")
    assert "train.resume=regularisers/short/char_lstm_weight_decay/seed0" in train
    assert "train.weight_decay=0.1" in train and "train.swag_from=90.0" in train and "train.swag_every=50" in train
    assert "swag=true" in evaluate and evaluate[0] == "zoo.evaluate"
    swag = {
        "test": [
            {"kind": "posterior predictive (S=10, SWAG of 20 collections)", "nats_per_step": 1.45},
            {"kind": "exact at the posterior mean", "nats_per_step": 1.46},
            {"kind": "exact", "nats_per_step": 1.47},
        ]
    }
    assert bench.reported_figure(swag["test"])["nats_per_step"] == 1.45
    assert bench.at_posterior_mean([swag]) == "1.460"


def test_the_averaged_row_continues_the_mean_field_weight_decay_cell_and_is_tested_at_the_average(tmp_path, processes):
    """Averaging changes no step, so the averaged row continues its row's cell of the shorter grid,
    averages over the last quarter and reports the figures of q at the averaged parameters."""
    import bench.regularisers as bench

    train, evaluate = continued_then_evaluated(tmp_path, processes, "bayes_lstm_mean_field_weight_decay_averaged")
    assert "train.resume=regularisers/short/bayes_lstm_mean_field_weight_decay/seed0" in train
    assert "train.average_from=90.0" in train and "train.average_every=50" in train
    assert "averaged=true" in evaluate and evaluate[0] == "zoo.evaluate"
    averaged = {
        "test": [
            {"kind": "posterior predictive (S=10)", "nats_per_step": 1.47},
            {"kind": "exact at the posterior mean", "nats_per_step": 1.48},
            {"kind": "posterior predictive (S=10) (iterate)", "nats_per_step": 1.49},
            {"kind": "exact at the posterior mean (iterate)", "nats_per_step": 1.50},
        ]
    }
    assert bench.reported_figure(averaged["test"])["nats_per_step"] == 1.47
    assert bench.at_posterior_mean([averaged]) == "1.480"


def grid_with_cell(tmp_path, tag: str, row: str, nats: float, **changes) -> None:
    """The JSON of grid `tag` with one finished seed-0 cell of `row` at `nats` (exact)."""
    import bench.regularisers as bench

    args = argparse.Namespace(**{**DEFAULTS, "tag": tag, "minutes": 60.0, **changes})
    cells = {row: {"0": {**bench_cell(nats, "exact", 0.01), "curve": [[60.0, nats]]}}}
    (tmp_path / f"regularisers_{tag}.json").write_text(json.dumps({"results": cells, "budget": bench.budget(args)}))


def test_grids_of_one_budget_print_as_one_table_each_row_named_with_its_grid(tmp_path, processes, capsys):
    """--beside shows the rows of other grids trained alike (options may differ) under this one's,
    in the order of the rows, in the table and the picture; --rows with none trains nothing."""
    import bench.regularisers as bench

    grid_with_cell(tmp_path, "main", "bayes_lstm_mean_field", 1.6)
    grid_with_cell(tmp_path, "drop", "char_lstm_dropout", 1.55)
    grid_with_cell(tmp_path, "swag", "char_lstm_dropout_swag", 1.53, options=["char_lstm_dropout_swag:x=1"])
    bench.main(["--tag", "main", "--minutes", "60", "--rows", "--beside", "drop", "swag"])
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split(" | ")[0] for line in lines if line.startswith("| ") and not line.startswith("| row |")]
    assert processes == []
    assert rows == [
        "| char_lstm_dropout (grid drop)",
        "| char_lstm_dropout_swag (grid swag)",
        "| bayes_lstm_mean_field",
    ]
    assert (tmp_path / "regularisers_main.png").exists()


def test_the_picture_gives_each_kind_of_validation_figure_its_own_panel(tmp_path):
    """The exact NLL of char_lstm and the -ELBO of bayes_lstm (mostly the weights' KL, nats above
    it) on one axis would flatten the first: one panel per kind, side by side."""
    import matplotlib.image

    import bench.regularisers as bench

    def cell(kind: str, figures: list[float]) -> dict:
        return {"valid_kind": kind, "curve": [[m, f] for m, f in zip((20.0, 40.0, 60.0), figures)]}

    exact = {"char_lstm": {"0": cell("exact", [1.7, 1.6, 1.55])}}
    both = {**exact, "bayes_lstm_mean_field": {"0": cell("-ELBO", [6.0, 3.0, 2.2])}}
    for name, results in (("one", exact), ("two", both)):
        bench.plot(results, tmp_path / f"{name}.png", "title")
    widths = [matplotlib.image.imread(tmp_path / f"{name}.png").shape[1] for name in ("one", "two")]
    assert widths == [700, 1200]  # 7 inches for one panel, 6 for each of two, at 100 dpi


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"hidden": 256}, "--beside other: its cells were trained otherwise (hidden 256 there, 512 here)"),
        (None, "--beside other: there is no regularisers_other.json"),
    ],
)
def test_a_grid_of_another_budget_is_refused_beside_before_any_cell(tmp_path, processes, capsys, changes, message):
    import bench.regularisers as bench

    if changes is not None:
        grid_with_cell(tmp_path, "other", "char_lstm", 1.5, **changes)
    with pytest.raises(SystemExit) as stop:
        bench.main(["--tag", "main", "--minutes", "60", "--rows", "char_lstm", "--beside", "other"])
    assert stop.value.code == 2 and message in capsys.readouterr().err and processes == []


def test_a_grid_of_another_budget_is_refused_naming_the_settings_that_differ(tmp_path, processes, capsys):
    """A tag holds one budget: a bench of another budget under it stops before any cell, naming
    what differs."""
    import bench.regularisers as bench

    grid_with_cell(tmp_path, "main", "char_lstm", 1.5)
    with pytest.raises(SystemExit) as stop:
        bench.main(["--tag", "main", "--minutes", "60", "--hidden", "256", "--rows", "char_lstm"])
    error = capsys.readouterr().err
    assert stop.value.code == 2 and processes == []
    assert (
        "regularisers_main.json holds cells trained otherwise (hidden 512 there, 256 here); use another --tag" in error
    )


def test_a_cell_folder_of_another_budget_is_left_as_it_is(tmp_path, processes, caplog):
    """A cell whose folder was trained under other settings (its budget.json) is neither trained
    nor overwritten: the error names the setting and asks for another tag."""
    import bench.regularisers as bench

    args = argparse.Namespace(**{**DEFAULTS, "tag": "main", "minutes": 60.0, "patience": 3})
    folder = bench.cell_dir("main", "char_lstm", 0)
    folder.mkdir(parents=True)
    (folder / "budget.json").write_text(json.dumps(bench.budget(args)))
    bench.main(["--tag", "main", "--minutes", "60", "--rows", "char_lstm", "--seeds", "0"])
    assert processes == [] and json.loads((folder / "budget.json").read_text())["patience"] == 3
    assert "was trained otherwise (patience 3 there, 6 here): use another --tag" in caplog.text


def test_a_cell_with_nothing_to_continue_is_refused_without_training(tmp_path, processes, caplog):
    import bench.regularisers as bench

    finished_grid(tmp_path, "short", 60.0)
    bench.main(["--tag", "long", "--continue-from", "short", "--minutes", "120", "--rows", "char_lstm", "--seeds", "1"])
    assert processes == [] and "has no last.pt to continue; run that cell first" in caplog.text


@pytest.mark.parametrize(
    "minutes,changes,message",
    [
        (120, {"hidden": 256}, "trained otherwise (hidden 256 there, 512 here)"),
        (60, {}, "trained 60.0 minutes already"),
        (120, None, "there is no regularisers_short.json"),
    ],
)
def test_a_grid_that_cannot_be_continued_is_refused_before_any_cell(
    tmp_path, processes, capsys, minutes, changes, message
):
    import bench.regularisers as bench

    if changes is not None:
        finished_grid(tmp_path, "short", 60.0, **changes)
    with pytest.raises(SystemExit) as stop:
        bench.main(["--tag", "long", "--continue-from", "short", "--minutes", str(minutes), "--rows", "char_lstm"])
    assert stop.value.code == 2 and message in capsys.readouterr().err and processes == []


def trained_char_lstm_cell(tag: str, minutes: float) -> None:
    """The metrics.json of grid `tag`'s char_lstm seed-0 cell, finished after `minutes`."""
    import bench.regularisers as bench

    folder = bench.cell_dir(tag, "char_lstm", 0)
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"status": "trained", "minutes": minutes}))


@pytest.mark.parametrize("warm_from", [None, "other"])
def test_a_warm_start_begins_at_the_char_lstm_cell_and_trains_the_rest_of_the_budget(tmp_path, processes, warm_from):
    import bench.regularisers as bench

    trained_char_lstm_cell(warm_from or "g", 20.5)
    extra = ["--warm-from", warm_from] if warm_from else []
    bench.main(["--tag", "g", "--rows", "bayes_lstm_warm_start", "--seeds", "0", "--minutes", "60", *extra])
    assert f"train.init=regularisers/{warm_from or 'g'}/char_lstm/seed0" in processes[-1]
    assert "train.max_minutes=39.5" in processes[-1] and "train.max_minutes=60.0" not in processes[-1]
    assert "model=bayes_lstm" in processes[-1]


def test_a_warm_start_without_its_char_lstm_cell_or_budget_is_refused_without_training(tmp_path, processes, caplog):
    import bench.regularisers as bench

    bench.main(["--tag", "g", "--rows", "bayes_lstm_warm_start", "--seeds", "0", "--minutes", "60"])
    assert processes == [] and "not trained yet: run --rows char_lstm in grid g first" in caplog.text
    trained_char_lstm_cell("g", 61.0)
    bench.main(["--tag", "g", "--rows", "bayes_lstm_warm_start", "--seeds", "0", "--minutes", "60"])
    assert processes == [] and "trained 61.0 of the 60.0 minutes" in caplog.text


def test_the_bernoulli_row_drops_the_bench_dropout_share(tmp_path, processes):
    """The Bernoulli q(w) row drops as many units as the dropout row (--dropout)."""
    import bench.regularisers as bench

    bench.main(["--tag", "g", "--rows", "bayes_lstm_bernoulli", "--seeds", "0", "--dropout", "0.4"])
    train = processes[0]
    assert "weight_guide=bernoulli" in train and "weight_guide.dropout=0.4" in train and "model=bayes_lstm" in train


def test_the_mean_field_dropout_row_adds_zarembas_dropout_to_the_mean_field(tmp_path, processes):
    import bench.regularisers as bench

    bench.main(["--tag", "g", "--rows", "bayes_lstm_mean_field_dropout", "--seeds", "0", "--dropout", "0.4"])
    train = processes[0]
    assert "weight_guide=mean_field" in train and "model.net.dropout=0.4" in train and "model=bayes_lstm" in train


@pytest.mark.parametrize(
    "row,weight_decay",
    [("char_lstm_variational_dropout", None), ("char_lstm_variational_dropout_weight_decay", "0.05")],
)
def test_the_variational_dropout_rows_draw_masks_per_sequence_and_are_tested_by_mc_dropout(
    tmp_path, processes, row, weight_decay
):
    """Both rows of Gal & Ghahramani's q(w): masks per sequence, MC dropout at test; the second with
    the prior's L2 term as --weight-decay, the first without any."""
    import bench.regularisers as bench

    command = ["--tag", "g", "--rows", row, "--seeds", "0", "--dropout", "0.4", "--weight-decay", "0.05"]
    bench.main(command)
    (bench.cell_dir("g", row, 0) / "metrics.json").write_text('{"status": "trained"}')
    bench.main(command)  # trained: now its evaluation
    train, evaluate = processes
    assert "model.net.dropout=0.4" in train and "model.net.dropout_masks=sequence" in train
    assert "mc_dropout=true" in evaluate and "model=char_lstm" in train
    decay = [option for option in train if option.startswith("train.weight_decay=")]
    assert decay == ([f"train.weight_decay={weight_decay}"] if weight_decay else [])


def test_the_posterior_mean_column_of_mc_dropout_is_the_network_without_masks():
    import bench.regularisers as bench

    mc = {
        "test": [
            {"kind": "posterior predictive (S=10, dropout masks)", "nats_per_step": 1.5},
            {"kind": "exact", "nats_per_step": 1.6},
        ]
    }
    plain = {"test": [{"kind": "exact", "nats_per_step": 1.7}]}
    assert bench.reported_figure(mc["test"])["nats_per_step"] == 1.5
    assert bench.at_posterior_mean([mc]) == "1.600" and bench.at_posterior_mean([plain]) == "-"
