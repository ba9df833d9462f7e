"""bench.polyphonic's page: each cell's tightest bound, mean and spread over seeds, the options it
trained with, and the learning curves its cells kept."""

import argparse
import json
from types import SimpleNamespace

import pytest
import torch

import bench.common as common
import bench.polyphonic as polyphonic


def row(figures: dict, minutes: float, epochs: int, command: str, curve=None) -> dict:
    return {
        "test": [{"kind": kind, "nats_per_step": value} for kind, value in figures.items()],
        "minutes": minutes,
        "epochs": epochs,
        "status": "trained",
        "share_k_over_0.7": 0.5,
        "median_ess": 10.0,
        "commands": [command, "python -m zoo.evaluate"],
        **({"curve": curve, "valid_kind": "-ELBO"} if curve else {}),
    }


def command(*extra: str) -> str:
    return " ".join(
        ["python -m zoo.run model=vrnn train.max_minutes=30.0", *extra, "hydra.run.dir=x", "model.net.dropout=0.3"]
    )


@pytest.fixture
def page(tmp_path, monkeypatch):
    results, docs = tmp_path / "results", tmp_path / "docs"
    results.mkdir(), (docs / "images").mkdir(parents=True)
    monkeypatch.setattr(polyphonic, "RESULTS", results)
    monkeypatch.setattr(polyphonic, "DOCS_PAGE", docs / "polyphonic.md")
    cells = {
        "0": row(
            {"-ELBO": 6.5, "-IWAE (K=500)": 6.2, "-FIVO (K=500)": 6.0}, 12.0, 14, command(), [(1.0, 8.0), (2.0, 7.0)]
        ),
        "1": row({"-ELBO": 6.6, "-IWAE (K=500)": 6.3, "-FIVO (K=500)": 6.2}, 30.0, 40, command("train.patience=6")),
    }
    payload = {
        "results": {"jsb_chorales": {"vrnn_nade": cells}},
        "args": {"tag": "long", "minutes": 30.0, "threads": 1},
    }
    payload["command"] = "python -m bench.polyphonic --tag long"
    (results / "polyphonic_long.json").write_text(json.dumps(payload))
    # seed 1's row kept no curve; its cell folder still has metrics.csv
    folder = results / "polyphonic" / "long" / "jsb_chorales" / "vrnn_nade" / "seed1"
    folder.mkdir(parents=True)
    (folder / "metrics.csv").write_text(
        "epoch,step,train_loss,valid_nats_per_step,valid_kind,lr,minutes\n1,50,9.0,7.5,-ELBO,0.002,0.5\n"
    )
    polyphonic.write_page()
    return docs


def test_a_cell_shows_the_mean_and_spread_of_its_tightest_bound(page):
    text = (page / "polyphonic.md").read_text()
    line = next(line for line in text.splitlines() if line.startswith("| vrnn_nade |"))
    assert "6.10 ± 0.14 (-FIVO (K=500), 2 seeds, 21 min" in line  # mean and sd of 6.0 and 6.2
    assert "| RNN-NADE (Boulanger-Lewandowski et al. 2012) | 5.56 |" in text


def test_a_page_with_a_grid_whose_json_is_gone_is_left_as_it_is(page, caplog):
    """Regenerating the page from the JSONs at hand would drop the table of a grid whose JSON is
    not there: the bench refuses, names the grid, and leaves the page untouched."""
    path = page / "polyphonic.md"
    kept = path.read_text() + "\n## `--tag gone`: at most 60 minutes of training per cell\n\n| a table |\n"
    path.write_text(kept)
    assert not polyphonic.write_page()
    assert path.read_text() == kept
    assert "it shows the grids gone, whose polyphonic_<tag>.json are not in" in caplog.text
    (polyphonic.RESULTS / "polyphonic_gone.json").write_text(
        json.dumps({"results": {}, "args": {"tag": "gone", "minutes": 60.0, "threads": 1}, "command": "c"})
    )
    assert polyphonic.write_page()  # with the grid's JSON back, the page is generated again
    assert path.read_text() != kept and "| a table |" not in path.read_text()


def test_a_published_figure_stands_only_beside_cells_on_its_frame_rate():
    def rows(repeat: int) -> list[str]:
        extra = [f"data.frame_repeat={repeat}"] if repeat > 1 else []
        cells = {"rnn_nade": {"0": row({"exact": 3.1}, 5.0, 9, command(*extra))}}
        return polyphonic.table({"jsb_chorales": cells, "nottingham": cells}, ["jsb_chorales", "nottingham"])

    quarter, eighth = rows(1), rows(2)
    assert f"| {polyphonic.SRNN} |  | 2.94 |" in quarter  # SRNN's JSB figure is per eighth-note frame
    assert "| RNN-NADE (Boulanger-Lewandowski et al. 2012) | 5.56 |  |" in quarter
    assert f"| {polyphonic.SRNN} | 4.74 |  |" in eighth  # its other figures are per published frame
    assert not any(line.startswith("| RNN-NADE (B") for line in eighth)


def test_options_beyond_the_grid_and_an_early_stop_without_a_named_patience_are_shown(page):
    line = next(line for line in (page / "polyphonic.md").read_text().splitlines() if line.startswith("| vrnn_nade"))
    assert "`train.patience=3` `model.net.dropout=0.3`" in line  # seed 0: stopped at 12 of 30 minutes


def test_each_set_gets_its_learning_curves(page):
    assert (page / "images" / "polyphonic_long_jsb_chorales.png").stat().st_size > 0
    assert "](images/polyphonic_long_jsb_chorales.png)" in (page / "polyphonic.md").read_text()


def test_the_curve_of_a_cell_is_read_from_its_metrics(page):
    folder = polyphonic.RESULTS / "polyphonic" / "long" / "jsb_chorales" / "vrnn_nade" / "seed1"
    assert polyphonic.learning_curve(folder) == {"curve": [(0.5, 7.5)], "valid_kind": "-ELBO"}
    assert polyphonic.learning_curve(folder.parent / "seed9") == {}


def continued_grid(**changes):
    options = dict(minutes=60.0, steps_per_epoch=50, patience=6, particles=500, samples=10, eval_batch=64)
    return argparse.Namespace(tag="long60", continue_from="long", threads=1, options=[], **options, **changes)


@pytest.fixture
def processes(tmp_path, monkeypatch):
    """The zoo commands run_cell starts, recorded; each one fails, so no cell goes on to evaluation."""
    monkeypatch.setattr(polyphonic, "RESULTS", tmp_path)
    started = []
    monkeypatch.setattr(
        common, "zoo_process", lambda *command, threads: started.append(command) or SimpleNamespace(returncode=1)
    )
    return started


def checkpoint(tag: str, seed: int):
    """The cell's folder holding a last.pt."""
    folder = polyphonic.cell_dir(tag, "musedata", "rnn_nade", seed)
    folder.mkdir(parents=True)
    (folder / "last.pt").touch()
    return folder


def test_a_continued_cell_resumes_the_same_cell_of_the_other_grid_then_itself(processes):
    source = checkpoint("long", 2)
    assert polyphonic.run_cell(continued_grid(), "musedata", "rnn_nade", 2) is None
    assert f"train.resume={source}" in processes[-1] and "train.max_minutes=60.0" in processes[-1]
    own = checkpoint("long60", 2)  # interrupted after its first checkpoint: it resumes from its own
    polyphonic.run_cell(continued_grid(), "musedata", "rnn_nade", 2)
    assert f"train.resume={own}" in processes[-1] and f"train.resume={source}" not in processes[-1]


def test_a_continued_cell_records_where_it_started_from_the_repository_root(tmp_path, monkeypatch):
    monkeypatch.setattr(polyphonic, "RESULTS", tmp_path / "bench" / "results")
    monkeypatch.setattr(common, "ROOT", tmp_path)  # the repository: a record names no checkout
    checkpoint("long", 0)  # the cell it continues
    folder = polyphonic.cell_dir("long60", "musedata", "rnn_nade", 0)

    def finish(*command, threads):
        """zoo.run and zoo.evaluate as far as run_cell reads them: their metrics files."""
        if command[0] == "zoo.run":
            folder.mkdir(parents=True)
            (folder / "metrics.json").write_text(json.dumps({"status": "trained", "minutes": 60.0, "epochs": 70}))
        else:
            (folder / "evaluation").mkdir()
            (folder / "evaluation" / "metrics.json").write_text(json.dumps({"figures": [{"kind": "exact"}]}))
        return SimpleNamespace(returncode=0)

    monkeypatch.setattr(common, "zoo_process", finish)
    cell = polyphonic.run_cell(continued_grid(), "musedata", "rnn_nade", 0)
    cells = "bench/results/polyphonic/long{}/musedata/rnn_nade/seed0"
    assert cell["commands"][0].endswith(f"hydra.run.dir={cells.format(60)} train.resume={cells.format('')}")
    assert cell["commands"][1].startswith(f"python -m zoo.evaluate run={cells.format(60)} ")
    assert str(tmp_path) not in " ".join(cell["commands"])


def test_a_cell_with_nothing_to_continue_is_refused_without_training(processes, caplog):
    assert polyphonic.run_cell(continued_grid(), "musedata", "rnn_nade", 1) is None
    assert processes == []
    assert "has no last.pt to continue; run that cell first" in caplog.text


def test_the_page_names_the_grid_a_continued_grid_grew_from(tmp_path, monkeypatch):
    monkeypatch.setattr(polyphonic, "RESULTS", tmp_path)
    monkeypatch.setattr(polyphonic, "DOCS_PAGE", tmp_path / "polyphonic.md")
    cell = row({"exact": 6.2}, 60.0, 72, command("train.resume=/elsewhere/long/musedata/rnn_nade/seed0"))
    payload = {"results": {"musedata": {"rnn_nade": {"0": cell}}}, "command": "python -m bench.polyphonic"}
    payload["args"] = {"tag": "long60", "minutes": 60.0, "threads": 1, "continue_from": "long"}
    (tmp_path / "polyphonic_long60.json").write_text(json.dumps(payload))
    polyphonic.write_page()
    text = (tmp_path / "polyphonic.md").read_text()
    assert "## `--tag long60`: at most 60 minutes of training per cell, continuing the cells of `--tag long`" in text
    assert "train.resume" not in text and "`model.net.dropout=0.3`" in text


def test_the_flop_count_of_a_step_sees_the_fused_lstm():
    """step_flops counts the LSTM's matrix products, which oneDNN's fused kernel hides from the
    counter: a step's products per frame are at least twice the LSTM's forward ones (forward and
    the weights' gradient), and far above what the output layer alone would give."""
    from guides.empty import NoLatents
    from tests.helpers import toy_rolls
    from zoo.models.char_lstm import CharLSTM
    from zoo.objectives import ELBO

    data = toy_rolls(num_sequences=4, dim=88)
    torch.manual_seed(0)
    network = CharLSTM(data.spec, hidden_size=32)
    batch = next(data.batches("train", 4))
    lstm_forward = 2 * 4 * 32 * (88 + 32)  # per step of the padded batch: W_ih x_t + W_hh h_{t-1}
    padded_per_frame = batch.x.shape[0] * batch.x.shape[1] / batch.num_steps
    flops = polyphonic.step_flops(ELBO(), network, NoLatents(network), batch)
    assert flops >= 2 * lstm_forward * padded_per_frame
    assert flops <= 3 * (lstm_forward + 2 * 32 * 88) * padded_per_frame  # forward, and two gradients at most
    assert all(p.grad is None or not p.grad.any() for p in network.parameters())  # leaves no gradient behind


def test_a_grid_whose_every_cell_failed_ends_in_one_line(processes, monkeypatch):
    monkeypatch.setattr(
        "sys.argv", ["bench.polyphonic", "--sets", "jsb_chorales", "--models", "srnn", "--tag", "failing"]
    )
    with pytest.raises(
        SystemExit,
        match="no cell of grid 'failing' has finished: each failed cell's error is logged above, and its run.log",
    ):
        polyphonic.main()
    assert len(processes) == 1  # the one training command, which failed


def test_the_standings_pick_the_best_well_seeded_cell_per_set_and_frame_rate():
    def grid(tag, cells):
        return {"args": {"tag": tag}, "results": {"jsb_chorales": cells}}

    three = {str(k): row({"exact": 5.4 + 0.01 * k}, 5.0, 9, command()) for k in range(3)}
    lucky = {"0": row({"exact": 5.0}, 5.0, 9, command())}  # one seed: not preferred over three
    eighths = {str(k): row({"exact": 2.9}, 5.0, 9, command("data.frame_repeat=2")) for k in range(3)}
    lines = polyphonic.standings([grid("a", {"rnn_nade": three, "vrnn": lucky}), grid("b", {"rnn_nade": eighths})])
    quarter, eighth = lines[2], lines[3]
    assert "5.41 ± 0.01 (exact, 3 seeds; rnn_nade, `--tag a`)" in quarter and quarter.endswith("| on another scale |")
    assert "`data.frame_repeat=2`" in eighth and "2.90 ± 0.00" in eighth and eighth.endswith("| 4.74 |")
