"""The docs site builds with no warning, and its results page is generated from runs."""

import json
import sys
from pathlib import Path

import pytest

from bench import results
from tests.helpers import command

ROOT = Path(__file__).resolve().parents[1]


def test_the_site_builds_strictly(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # mkdocs.yml's snippet paths are relative to the working directory
    command("mkdocs", "build", "--strict", "-d", str(tmp_path / "site"))
    for page in (
        "index.html",
        "tutorial-dmm/index.html",
        "results/index.html",
        "api/models/index.html",
        "models/handwriting/index.html",
        "models/adversarial/index.html",
    ):
        assert (tmp_path / "site" / page).is_file(), page
    assert "class DMMGuide" in (tmp_path / "site" / "tutorial-dmm" / "index.html").read_text().replace(
        '<span class="w"> </span>', " "
    ).replace('<span class="nc">', "").replace("</span>", "").replace('<span class="k">', "")


def figure(kind, nats):
    return {"kind": kind, "nats_per_step": nats, "stderr": 0.01, "num_steps": 100, "num_sequences": 4}


def test_the_results_page_is_built_from_bench_files_and_run_folders(tmp_path, monkeypatch):
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "jsb.json").write_text(
        json.dumps(
            {
                "results": {
                    "vrnn_filtering": {"test": [figure("-ELBO", 6.8), figure("-IWAE (K=500)", 6.5)], "minutes": 7.0}
                },
                "anchors": {"DMM-Aug": 6.29},
                "hardware": "CPU, 2 threads (2 cores)",
                "command": "python -m bench.jsb",
            }
        )
    )
    (bench / "seqgan_oracle.json").write_text(
        json.dumps(
            {
                "mle": {
                    "nll_test": figure("exact", 7.9),
                    "nll_oracle": figure("NLL-oracle", 9.9),
                    "sample_statistics": {"bleu_2": 0.3},
                },
                "seqgan": {"nll_test": figure("exact", 8.1), "nll_oracle": figure("NLL-oracle", 9.7)},
                "mle_minutes": 2.0,
                "adversarial_minutes": 10.0,
            }
        )
    )
    run = tmp_path / "runs" / "vrnn-jsb" / "2026-01-01"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(
        json.dumps(
            {
                "model": "vrnn",
                "data": "jsb_chorales",
                "minutes": 30.0,
                "test": [figure("-IWAE (K=100)", 6.6)],
                "hardware": "NVIDIA H200",
            }
        )
    )
    monkeypatch.setattr(results, "RESULTS", bench)
    out = tmp_path / "results.md"
    monkeypatch.setattr(sys, "argv", ["results", "--runs", str(tmp_path / "runs"), "--out", str(out)])
    results.main()
    page = out.read_text()
    assert (
        "| vrnn_filtering | 6.500 ± 0.010 | -IWAE (K=500) | 7.0 | CPU, 2 threads (2 cores) | `python -m bench.jsb` |"
        in page
    )
    assert "| vrnn | 6.600 ± 0.010 | -IWAE (K=100) | 30.0 | NVIDIA H200 |" in page
    assert "| char_lstm after SeqGAN | 9.700 ± 0.010 | NLL-oracle | 10.0 | not recorded |" in page
    assert "| jsb_chorales | DMM-Aug | 6.29 | Krishnan et al. 2017" in page
    assert page.index("## jsb_chorales") < page.index("## oracle")


def test_a_grid_of_cells_is_one_row_per_row_and_kind_with_the_spread_over_its_seeds(tmp_path, monkeypatch):
    """bench.regularisers keeps results/<row>/<seed>, bench.polyphonic results/<data>/<model>/<seed>:
    each (row, kind) is the mean over the seeds ± their standard deviation, whatever SWAG's count of
    collections in each seed's kind."""
    bench = tmp_path / "bench"
    bench.mkdir()

    def cell(minutes, *tests):
        return {"test": list(tests), "minutes": minutes, "commands": ["python -m zoo.run ..."], "hardware": "CPU"}

    swag = "posterior predictive (S=10, SWAG of {} collections)"
    regularisers = {
        "data": "tiny_shakespeare",
        "results": {
            "char_lstm_dropout_swag": {
                "1": cell(60.0, figure("exact", 1.55), figure(swag.format(18), 1.528)),
                "2": cell(62.0, figure("exact", 1.56), figure(swag.format(22), 1.532)),
            }
        },
    }
    polyphonic = {"results": {"nottingham": {"rnn_nade": {"0": cell(30.0, figure("exact", 2.37))}}}}
    (bench / "regularisers_full512_swag.json").write_text(json.dumps(regularisers))
    (bench / "polyphonic_long.json").write_text(json.dumps(polyphonic))
    monkeypatch.setattr(results, "RESULTS", bench)
    out = tmp_path / "results.md"
    monkeypatch.setattr(sys, "argv", ["results", "--out", str(out)])
    results.main()
    page = out.read_text()
    grid = "`python -m bench.regularisers ... --tag full512_swag`: each cell's commands in bench/results/regularisers_full512_swag.json"
    assert (
        f"| char_lstm_dropout_swag (grid full512_swag) | 1.555 ± 0.007 (sd, 2 seeds) | exact | 61.0 | CPU | {grid} |"
        in page
    )
    assert (
        "| char_lstm_dropout_swag (grid full512_swag) | 1.530 ± 0.003 (sd, 2 seeds) | posterior predictive (S=10, SWAG) |"
        in page
    )
    assert "## nottingham" in page and "| rnn_nade (grid long) | 2.370 (1 seed) | exact | 30.0 |" in page


def test_the_results_page_is_not_rewritten_without_figures_whose_source_is_gone(tmp_path, monkeypatch, capsys):
    """A bench JSON that is gone would silently drop its rows: the page stays until --drop-missing."""
    bench = tmp_path / "bench"
    bench.mkdir()
    for name, nats in (("jsb", 6.8), ("oracle", 9.9)):
        payload = {"results": {"vrnn_filtering": {"test": [figure("-ELBO", nats)], "minutes": 7.0}}}
        (bench / f"{name}.json").write_text(json.dumps(payload))
    monkeypatch.setattr(results, "RESULTS", bench)
    out = tmp_path / "results.md"
    monkeypatch.setattr(sys, "argv", ["results", "--out", str(out)])
    results.main()
    written = out.read_text()
    (bench / "oracle.json").unlink()
    with pytest.raises(SystemExit) as stop:
        results.main()
    assert "1 of its figures have no bench JSON or run folder here (vrnn_filtering, -ELBO on oracle)" in str(stop.value)
    assert out.read_text() == written
    monkeypatch.setattr(sys, "argv", ["results", "--out", str(out), "--drop-missing"])
    results.main()
    assert "## oracle" not in out.read_text() and "## jsb_chorales" in out.read_text()
