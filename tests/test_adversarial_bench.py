"""Starting a run from a trained one (train.init), SeqGAN's discriminator warm-up for a generator
that arrives trained, and bench.seqgan's table of generators on an oracle, end to end."""

import argparse
import json
import sys
import urllib.error
import urllib.request

import pytest
import torch

from guides.empty import NoLatents
from tests.helpers import QUICK, TINY_ORACLE, refused_in_process, run_in_process, toy_text
from zoo.data.batch import collate
from zoo.data.seqgan_oracle import NAME, URL
from zoo.models.char_lstm import CharLSTM
from zoo.objectives.seqgan import SeqGAN
from zoo.training.checkpoint import CheckpointError

ORACLE = ["model=char_lstm", *TINY_ORACLE, "model.net.embedding_size=8"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, one_thread):
    """A char_lstm trained on a small random oracle: the run a later one starts from."""
    run = tmp_path_factory.mktemp("init") / "mle"
    metrics = run_in_process(run, *ORACLE, *QUICK, "model.net.hidden_size=16", "train.lr=0.01")
    return run, metrics


# -- train.init ------------------------------------------------------------------------------------


def test_a_run_started_from_a_trained_one_has_its_weights_and_its_own_steps(trained, tmp_path, one_thread):
    run, metrics = trained
    later = run_in_process(
        tmp_path,
        *ORACLE,
        *QUICK,
        "model.net.hidden_size=16",
        f"train.init={run}",
        "train.max_epochs=1",
        "train.lr=0.001",
    )
    # the figure before the first step is the trained run's best: the same weights, not fresh ones
    assert later["untrained_valid_nats_per_step"] == pytest.approx(metrics["best_valid_nats_per_step"], rel=1e-6)
    assert metrics["untrained_valid_nats_per_step"] > metrics["best_valid_nats_per_step"] + 0.1
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["step"] == 3 and [h["epoch"] for h in state["history"]] == [1]  # its own count, from 0
    assert state["optimizer"]["param_groups"][0]["lr"] == 0.001  # its own optimiser
    assert state["config"]["train"]["init"] == str(run)


def test_train_init_refuses_a_checkpoint_of_other_data_or_none(trained, tmp_path, one_thread):
    run, _ = trained
    with pytest.raises(
        CheckpointError,
        match=r"train.init=.*trained on categorical data with 50 symbols, this "
        r"run's data have categorical with 40",
    ):
        run_in_process(
            tmp_path / "a", *ORACLE, *QUICK, "model.net.hidden_size=16", "data.vocab_size=40", f"train.init={run}"
        )
    with pytest.raises(CheckpointError, match="does not fit the model these options build"):
        run_in_process(tmp_path / "b", *ORACLE, *QUICK, "model.net.hidden_size=24", f"train.init={run}")
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        run_in_process(tmp_path / "c", *ORACLE, *QUICK, f"train.init={tmp_path / 'nowhere'}")


def test_a_resumed_run_continues_its_own_checkpoint_not_the_one_it_started_from(trained, tmp_path, one_thread):
    run, _ = trained
    first = run_in_process(
        tmp_path, *ORACLE, *QUICK, "model.net.hidden_size=16", f"train.init={run}", "train.max_epochs=1"
    )
    resumed = run_in_process(
        tmp_path,
        *ORACLE,
        *QUICK,
        "model.net.hidden_size=16",
        f"train.init={run}",
        f"train.resume={tmp_path}",
        "train.max_epochs=2",
    )
    assert resumed["epochs"] == 2 and first["epochs"] == 1
    assert torch.load(tmp_path / "last.pt", weights_only=True)["step"] == 6


def test_variational_weights_start_with_their_means_at_a_deterministic_runs_weights(trained, tmp_path, one_thread):
    run, metrics = trained
    later = run_in_process(
        tmp_path,
        *ORACLE,
        *QUICK,
        "model=bayes_lstm",
        "model.net.hidden_size=16",
        f"train.init={run}",
        "train.valid_at_mean=true",
        "weight_guide.init_scale=0.02",
        "train.max_epochs=1",
    )
    # before the first step the network at q(w)'s means is the trained char_lstm's best
    assert later["untrained_valid_nats_per_step"] == pytest.approx(metrics["best_valid_nats_per_step"], rel=1e-6)
    net = torch.load(run / "best.pt", weights_only=True)["model"]
    assert torch.load(tmp_path / "last.pt", weights_only=True)["model"]["net.lstm.weight_hh_l0"].equal(
        net["lstm.weight_hh_l0"]
    )  # the network's own parameters hold the means it started from; q(w) trains its copy


def test_a_deterministic_run_of_another_size_is_refused_for_variational_weights(trained, tmp_path, one_thread):
    run, _ = trained
    with pytest.raises(CheckpointError, match="the checkpoint's network does not fit the network these options"):
        run_in_process(tmp_path, *ORACLE, *QUICK, "model=bayes_lstm", "model.net.hidden_size=24", f"train.init={run}")


# -- SeqGAN's discriminator warm-up ------------------------------------------------------------------


def test_the_warm_up_trains_the_discriminator_alone_then_the_generator_steps():
    torch.manual_seed(4)
    data = toy_text(24)
    G = CharLSTM(data.spec, hidden_size=8)
    optimizer = torch.optim.Adam(G.parameters(), lr=0.01)
    objective = SeqGAN(
        pretrain_steps=0,
        discriminator_warmup_steps=3,
        rollouts=2,
        discriminator_hidden=8,
        discriminator_embedding=8,
        discriminator_steps=2,
    )
    before = [p.detach().clone() for p in G.parameters()]
    batches = [collate(data.train[i : i + 8], dataset_size=24) for i in range(0, 24, 8)] * 2
    for step, batch in enumerate(batches[:3]):
        loss = objective(G, NoLatents(G), batch, step=step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        assert objective.progress["phase"] == "d warm-up" and loss.item() == 0
        assert all(p.grad is None for p in G.parameters())  # Adam leaves them, and its moments, alone
    assert objective.discriminator_updates == 6 and objective.adversarial_steps == 0
    assert all(torch.equal(a, b) for a, b in zip(before, G.parameters()))
    assert not optimizer.state  # no moment was started for any parameter
    loss = objective(G, NoLatents(G), batches[3], step=3)
    loss.backward()
    optimizer.step()
    assert objective.progress["phase"] == "adv" and objective.adversarial_steps == 1
    assert not all(torch.equal(a, b) for a, b in zip(before, G.parameters()))


def test_a_negative_warm_up_names_the_option():
    from zoo.errors import ZooError

    with pytest.raises(ZooError, match="objective.discriminator_warmup_steps=-1"):
        SeqGAN(discriminator_warmup_steps=-1)


# -- data.oracle=seqgan without its file, at the command line ---------------------------------------


def test_the_seqgan_oracle_missing_at_the_command_line_says_where_to_put_it(tmp_path, monkeypatch, capfd):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    empty = tmp_path / "data"
    empty.mkdir()
    code, lines = refused_in_process(
        monkeypatch,
        capfd,
        f"hydra.run.dir={tmp_path / 'run'}",
        "model=char_lstm",
        "data=oracle",
        "data.oracle=seqgan",
        f"data.data_dir={empty}",
    )
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: data.oracle=seqgan needs")
    assert str(empty / NAME) in lines[0] and URL in lines[0] and "ZOO_DATA_DIR" in lines[0]


# -- bench.seqgan -----------------------------------------------------------------------------------


def test_epochs_of_makes_exactly_the_steps_asked_for():
    from bench.seqgan.cells import epochs_of

    assert epochs_of(357, 40) == (21, 17)  # SeqGAN's 157-step warm-up + 200 generator steps
    assert epochs_of(30, 10) == (10, 3) and epochs_of(3, 10) == (3, 1)
    per_epoch, epochs = epochs_of(53, 10)  # a prime: validate every 10, overshoot by less than an epoch
    assert (per_epoch, epochs) == (10, 6)


def test_the_table_header_names_the_options_that_change_the_stated_schedule():
    from argparse import Namespace

    from bench.seqgan.table import budget_lines

    args = Namespace(
        mle_minutes=None, mle_schedule="paper", paper=False, adversarial_steps=10, adversarial_lr=0.01,
        discriminator_steps=156, rollouts=16, gumbel_discriminator="rnn", options=[],
    )  # fmt: skip
    plain = " ".join(budget_lines(args))
    assert "--options" not in plain and "1 D step (Adam 1e-3)" in plain
    args.options = ["seqgan_cnn:objective.discriminator_rounds=1", "seqgan_cnn:objective.discriminator_lr=0.0001"]
    header = budget_lines(args)
    assert header[:-1] == budget_lines(Namespace(**{**vars(args), "options": []}))
    assert header[-1].endswith(" ".join(args.options)) and "override" in header[-1]


def test_the_papers_cells_run_what_experiment_seqgan_sets():
    """--paper trains each cell as experiment=seqgan does: its initialisation, sizes and step size for
    MLE, and for SeqGAN its rollouts, its loss without a baseline and its discriminator's schedule."""
    from pathlib import Path

    from omegaconf import OmegaConf

    from bench.seqgan.cells import adversarial_overrides, mle_overrides
    from bench.seqgan.cli import settle_defaults

    args = settle_defaults(
        argparse.Namespace(
            data="oracle", oracle="seqgan", paper=True, rollouts=None, mle_steps=None, adversarial_minutes=None,
            discriminator_steps=None, mle_schedule=None, embedding=32, hidden=32, batch=64, valid_limit=500,
            mle_minutes=None, options=[], num_train=10000, gumbel_discriminator="rnn", adversarial_steps=None,
            adversarial_lr=0.001, tag="paper", lr=0.01,
        )
    )  # fmt: skip
    experiment = OmegaConf.load(Path(__file__).parents[1] / "configs" / "experiment" / "seqgan.yaml")

    def settings(overrides: list[str]) -> dict:
        return dict(o.split("=", 1) for o in overrides)

    mle = settings(mle_overrides(args, seed=0))
    for key, value in {
        "model.net.init_scale": experiment.model.net.init_scale,
        "model.net.embedding_size": experiment.model.net.embedding_size,
        "model.net.hidden_size": experiment.model.net.hidden_size,
        "train.batch_size": experiment.train.batch_size,
        "train.lr": experiment.train.lr,
    }.items():
        assert float(mle[key]) == value, key
    seqgan = settings(adversarial_overrides(args, "seqgan_cnn", seed=0))
    assert float(seqgan["train.lr"]) == experiment.train.lr
    for name in (
        "rollouts", "discriminator", "discriminator_lr", "discriminator_pretrain_rounds", "discriminator_rounds",
        "discriminator_epochs", "discriminator_negatives", "discriminator_batch_size", "baseline",
    ):  # fmt: skip
        assert seqgan[f"objective.{name}"] == str(experiment.objective[name]).lower(), name


def test_the_critic_check_tells_a_discriminator_that_learnt_its_real_class_by_heart():
    """SeqGAN's CNN set by hand to call a sequence real iff it holds token 0: training sequences
    (D's real class) are all 0s, held-out ones never hold a 0, so D calls every training sequence
    real and no held-out one, and its accuracy is what it does with the drawn ones alone."""
    from bench.seqgan.measure import critic_check
    from zoo.data.dataset import DataSpec, SequenceData
    from zoo.data.vocab import Vocabulary
    from zoo.objectives.critic import make_discriminator

    spec = DataSpec("categorical", 5, Vocabulary(list("abcde")))
    zeros, others = [torch.zeros(6, dtype=torch.long)] * 8, [torch.tensor([1, 2, 3, 4, 1, 2])] * 8
    data = SequenceData("memory", spec, zeros, others, others)
    D = make_discriminator("cnn", spec, embedding_size=1)
    with torch.no_grad():
        for p in D.parameters():
            p.zero_()
        D.phi.weight[:, 0] = torch.tensor([1.0, -1.0, -1.0, -1.0, -1.0])  # e_t = +1 for token 0, else -1
        D.convs[0].weight[0, 0, 0] = 1.0  # the first width-1 filter: max_t relu(e_t) = 1 iff a 0 is there
        D.highway.gate.bias.fill_(-30.0)  # t ~ 0: the highway passes its input through
        D.output.weight[1, 0], D.output.bias[1] = 10.0, -5.0  # logit of real: 10 c - 5
    state = {
        "config": {"objective": {"discriminator": "cnn", "discriminator_hidden": 8, "discriminator_embedding": 1}},
        "objective": {"discriminator": {"module": D.state_dict()}},
    }
    torch.manual_seed(0)
    G = CharLSTM(spec, hidden_size=8)
    check = critic_check(state, G, NoLatents(G), data, n=8, length=6, seed=0)
    assert check["train_called_real"] == 1.0 and check["test_called_real"] == 0.0
    assert 0.0 < check["drawn_called_real"] < 1.0  # uniform-ish draws of 6 tokens: some hold a 0
    assert check["accuracy"] == pytest.approx((1 - check["drawn_called_real"]) / 2)
    assert critic_check({"config": {}, "objective": {}}, G, NoLatents(G), data, n=8, length=6, seed=0) is None


def run_bench(monkeypatch, capsys, results, *argv):
    import bench.seqgan.cells
    import bench.seqgan.cli

    monkeypatch.setattr(bench.seqgan.cells, "RESULTS", results)
    monkeypatch.setattr(sys, "argv", ["bench/seqgan/__main__.py", *argv])
    bench.seqgan.cli.main()
    return capsys.readouterr().out


def test_the_bench_table_end_to_end_resumable_and_honest(tmp_path, monkeypatch, capsys, caplog, one_thread):
    small = [
        "--oracle",
        "random",
        "--seeds",
        "0",
        "--rows",
        "untrained",
        "mle",
        "seqgan_rnn",
        "gumbel_gan",
        "--mle-steps",
        "6",
        "--mle-steps-per-epoch",
        "3",
        "--adversarial-steps",
        "4",
        "--adversarial-steps-per-epoch",
        "2",
        "--discriminator-steps",
        "2",
        "--rollouts",
        "2",
        "--samples",
        "40",
        "--bleu-samples",
        "10",
        "--two-sample",
        "12",
        "--two-sample-steps",
        "4",
        "--valid-limit",
        "20",
        "--hidden",
        "8",
        "--embedding",
        "8",
        "--tag",
        "t",
        "--options",
        "data.vocab_size=30",
        "data.length=6",
        "data.num_train=100",
        "data.num_valid=30",
        "data.num_test=30",
        *[
            f"{row}:objective.discriminator_{size}=8"
            for row in ("seqgan_rnn", "gumbel_gan")
            for size in ("hidden", "embedding")
        ],
    ]
    out = run_bench(monkeypatch, capsys, tmp_path, *small)
    payload = json.loads((tmp_path / "seqgan_random_t.json").read_text())
    assert set(payload["results"]) == {"untrained", "mle", "seqgan_rnn", "gumbel_gan"}
    assert payload["command"].startswith("python -m bench.seqgan --oracle random")  # the package, as it is run
    mle = payload["results"]["mle"]["seeds"]["0"]
    for row in ("seqgan_rnn", "gumbel_gan"):
        cell = payload["results"][row]["seeds"]["0"]
        assert f"train.init={tmp_path / 'seqgan' / 'random' / 't' / 'mle' / 'seed0'}" in cell["command"]
        assert cell["generator_updates"] == 4 and cell["nll_test"]["kind"] == "exact"
        assert {f"bleu_{n}" for n in (2, 3, 4, 5)} <= set(cell["bleu"]) and cell["two_sample"]["num_test"] == 12
    assert payload["results"]["seqgan_rnn"]["seeds"]["0"]["discriminator_warmup_steps"] == 2
    critics = [payload["results"][row]["seeds"]["0"].get("critic") for row in ("mle", "seqgan_rnn", "gumbel_gan")]
    assert critics[0] is None and all(c["n"] == 40 for c in critics[1:])  # the adversarial runs' own D, --samples
    assert mle["nll_test"]["nats_per_step"] < payload["results"]["untrained"]["seeds"]["0"]["nll_test"]["nats_per_step"]
    assert "| MLE + SeqGAN, LSTM critic |" in out and "| uniform tokens |" in out and "budget:" in out
    assert "4 generator updates each" in out and "RelGAN (Nie et al. 2019)" in out
    assert [x for x, _ in mle["curve"]] == [3, 6]  # NLL-oracle after each validation (evaluate.oracle_curve)
    seqgan = payload["results"]["seqgan_rnn"]["seeds"]["0"]["curve"]
    assert [x for x, _ in seqgan] == [mle["generator_updates"] + n for n in (0, 2, 4)]  # its warm-up moved no G
    assert all(0 < y < 30 for _, y in mle["curve"] + seqgan) and (tmp_path / "seqgan_random_t.png").is_file()

    trained = (tmp_path / "seqgan" / "random" / "t" / "gumbel_gan" / "seed0" / "best.pt").stat().st_mtime
    again = run_bench(monkeypatch, capsys, tmp_path, *small)  # finished cells are skipped, measurements kept
    assert (tmp_path / "seqgan" / "random" / "t" / "gumbel_gan" / "seed0" / "best.pt").stat().st_mtime == trained
    assert again.split("budget:")[1] == out.split("budget:")[1]
    record = tmp_path / "seqgan" / "random" / "t" / "gumbel_gan" / "seed0" / "bench_cell.json"
    moved = record.read_text().replace(str(tmp_path), "/another/checkout/bench/results")
    assert "/another/checkout/bench/results/seqgan/random/t/mle/seed0" in moved
    record.write_text(moved)  # the same cells, trained from a checkout elsewhere, are still skipped
    run_bench(monkeypatch, capsys, tmp_path, *small)
    assert (tmp_path / "seqgan" / "random" / "t" / "gumbel_gan" / "seed0" / "best.pt").stat().st_mtime == trained
    traced = run_bench(monkeypatch, capsys, tmp_path, *small, "--temperatures", "0.5", "1")  # no budget of its own
    assert (tmp_path / "seqgan" / "random" / "t" / "gumbel_gan" / "seed0" / "best.pt").stat().st_mtime == trained
    frontier = json.loads((tmp_path / "seqgan_random_t.json").read_text())["results"]["mle"]["seeds"]["0"]["frontier"]
    assert [point["temperature"] for point in frontier] == [0.5, 1.0]
    assert frontier[1]["nll_test"]["nats_per_step"] == pytest.approx(mle["nll_test"]["nats_per_step"])  # tau 1: G
    assert frontier[0]["nll_test"]["kind"] == "exact, temperature 0.5" and "| 0.5 |" in traced
    assert (tmp_path / "seqgan_random_t_frontier.png").is_file()
    with pytest.raises(SystemExit, match="--frontier-also names grids that are not there: .*seqgan_random_none"):
        run_bench(monkeypatch, capsys, tmp_path, *small, "--frontier-also", "none")
    changed = [a if a != "4" else "5" for a in small]  # another budget under the same tag is refused
    with pytest.raises(SystemExit, match="holds cells trained on another budget.*another --tag"):
        run_bench(monkeypatch, capsys, tmp_path, *changed)
    other = [*small, "gumbel_gan:objective.loss=standard"]
    with pytest.raises(SystemExit, match="holds cells trained on another budget"):  # --options are the budget's
        run_bench(monkeypatch, capsys, tmp_path, *other)
    grid = tmp_path / "seqgan_random_t.json"
    kept = grid.read_text()
    grid.unlink()
    with caplog.at_level("ERROR"):  # without the grid's record, a cell whose options changed is refused too
        run_bench(monkeypatch, capsys, tmp_path, *other)
    assert "gumbel_gan / seed 0" in caplog.text and "was trained with other options" in caplog.text
    assert (tmp_path / "seqgan" / "random" / "t" / "gumbel_gan" / "seed0" / "best.pt").stat().st_mtime == trained
    grid.write_text(kept)

    from bench import results

    rows, anchors = results.bench_rows(tmp_path / "seqgan_random_t.json")
    assert {(r["model"], r["kind"]) for r in rows} >= {
        ("mle (grid random_t)", "exact"),
        ("gumbel_gan (grid random_t)", "NLL-oracle"),
    }
    assert all(r["spread"] == " (1 seed)" and r["data"].startswith("oracle, data.oracle=random") for r in rows)
    assert any(
        a["name"].startswith("RankGAN") and results.source(a["name"], a["data"]).startswith("Lin et al.")
        for a in anchors
    )


def test_on_seqgans_schedule_the_mle_generator_is_the_last_checkpoint(tmp_path, monkeypatch, capsys, one_thread):
    """sequence_gan.py selects nothing: its MLE figure and its adversarial phase are the generator
    at the end of pre-training, not the best validation epoch."""
    small = [
        *("--oracle", "random", "--seeds", "0", "--rows", "mle", "seqgan_rnn"),
        *("--mle-schedule", "paper", "--mle-minutes", "0.002"),
        *("--adversarial-steps", "2", "--adversarial-steps-per-epoch", "2", "--discriminator-steps", "1"),
        *("--rollouts", "1", "--samples", "20", "--bleu-samples", "5", "--two-sample", "0", "--valid-limit", "20"),
        *("--hidden", "8", "--embedding", "8", "--tag", "p"),
        *("--options", "data.vocab_size=30", "data.length=6", "data.num_train=100", "data.num_valid=30"),
        *(
            "data.num_test=30",
            "seqgan_rnn:objective.discriminator_hidden=8",
            "seqgan_rnn:objective.discriminator_embedding=8",
        ),
    ]
    out = run_bench(monkeypatch, capsys, tmp_path, *small)
    results = json.loads((tmp_path / "seqgan_random_p.json").read_text())["results"]
    mle, seqgan = results["mle"]["seeds"]["0"], results["seqgan_rnn"]["seeds"]["0"]
    assert "train.steps_per_epoch=156" in mle["command"] and "train.max_minutes=0.002" in mle["command"]
    assert mle["generator_updates"] == mle["steps_run"] > 0  # every update counts, the best epoch or not
    folder = tmp_path / "seqgan" / "random" / "p" / "mle" / "seed0"
    assert f"train.init={folder / 'last.pt'}" in seqgan["command"]
    assert seqgan["curve"][0][0] == mle["steps_run"]  # the adversarial phase continues the last generator
    assert "no early stop, capped at 0.002 minutes of wall time, last checkpoint" in out


def test_an_adversarial_cell_is_judged_against_its_own_seeds_temperature_curve():
    """The curve's NLL-oracle at a cell's NLL-test, linear between traced temperatures on the
    branch up to the lowest NLL-test (tau = 1.1 here is worse on both and left out); a cell
    outside that range is named, a cell of a seed without a curve is left out."""
    from bench.seqgan.frontier import frontier_gains, frontier_table
    from bench.seqgan.measure import settings

    def figure(value: float) -> dict:
        return {"nats_per_step": value}

    def traced(points):
        return [{"temperature": t, "nll_test": figure(x), "nll_oracle": figure(y)} for t, x, y in points]

    def cell(test: float, oracle: float) -> dict:
        return {"settings": kept, "nll_test": figure(test), "nll_oracle": figure(oracle)}

    args = argparse.Namespace(temperatures=[0.8, 1.1, 0.9, 1.0], samples=10, bleu_samples=5, two_sample=0)
    args.two_sample_steps, args.test_limit = 4, None
    kept = settings(args)
    curve = traced([(0.8, 9.4, 8.4), (1.1, 8.65, 9.3), (0.9, 9.0, 8.7), (1.0, 8.6, 9.0)])
    payload = {
        "results": {
            "mle": {"seeds": {"0": {"frontier": curve}}},
            "seqgan_cnn": {"seeds": {"0": cell(8.7, 8.8), "1": cell(8.7, 8.8)}},  # seed 1 traced no curve
            "gumbel_gan": {"seeds": {"0": cell(8.5, 8.0)}},  # a lower NLL-test than any tau gives
        }
    }
    gains = frontier_gains(payload, args)
    assert list(gains["seqgan_cnn"]) == ["0"] and gains["gumbel_gan"] == {"0": (8.5, 8.0, None)}
    test, oracle, at = gains["seqgan_cnn"]["0"]
    assert (test, oracle) == (8.7, 8.8) and at == pytest.approx(9.0 - 0.3 * (8.7 - 8.6) / 0.4)  # not via tau 1.1
    lines = frontier_table(payload, args)
    assert "| MLE + SeqGAN, CNN critic | 8.700 | 8.800 | 8.925 | -0.125 | 0 |" in lines
    assert "NLL-test range: MLE + Gumbel-softmax GAN (RSGAN), seed 0 (NLL-test 8.500)." in lines[-1]
