"""zoo.compare: runs grouped over seeds, figures per kind, paired differences on the same test
sequences, and the files it writes; on fake run folders and on two real runs."""

import csv
import json
import math

import numpy as np
import pytest
import torch
import yaml

from tests.helpers import QUICK, run_in_process
from zoo.compare import CompareOptions, compare, main, parse
from zoo.evaluation.likelihood import Figure

LENGTHS = np.random.default_rng(0).integers(5, 40, size=30)  # T_i of 30 test sequences


def sequence_nll(rate: float, seed: int, lengths=LENGTHS) -> np.ndarray:
    """Nats per sequence near `rate` per step, with noise of its own per seed."""
    rng = np.random.default_rng(seed)
    return lengths * (rate + 0.3 * rng.standard_normal(len(lengths)))


def fake_run(
    folder,
    seed: int,
    nll: dict,
    model="vrnn",
    hidden_size=64,
    data="jsb_chorales",
    lengths=LENGTHS,
    sequences=True,
    resume=None,
    init=None,
    shared=0.0,
):
    """A run folder as zoo.run writes it: .hydra/config.yaml and hydra.yaml, metrics.json with a test
    figure per kind of `nll` ({kind: (N,) nats per sequence}), plus `shared` nats per step common to
    all sequences (-ELBO's KL share), metrics.csv and test_sequences.npz."""
    folder.mkdir(parents=True)
    (folder / ".hydra").mkdir()
    config = {
        "model": {"name": model, "net": {"_target_": f"zoo.models.{model}.Net", "hidden_size": hidden_size}},
        "data": {"_target_": f"zoo.data.{data}.load", "data_dir": None},
        "train": {"seed": seed, "lr": 0.002, "resume": resume, "init": init, "max_epochs": 3},
        "evaluate": {"num_particles": None},
    }
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    hydra = {
        "hydra": {
            "run": {"dir": str(folder)},
            "runtime": {
                "output_dir": str(folder),
                "choices": {"model": model, "data": data, "train": "default", "hydra/launcher": "basic"},
            },
        }
    }
    (folder / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(hydra))
    figures = [Figure.from_sequences(kind, torch.from_numpy(v), torch.from_numpy(lengths)) for kind, v in nll.items()]
    for f in figures:
        f.nats_per_step += shared
    (folder / "metrics.json").write_text(
        json.dumps({"model": model, "data": data, "status": "trained", "test": [f.as_dict() for f in figures]})
    )
    with open(folder / "metrics.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", "step", "train_loss", "valid_nats_per_step", "valid_kind", "lr", "minutes"])
        for epoch in range(1, 4):
            writer.writerow([epoch, 10 * epoch, 9 - epoch, 8 - epoch / (seed + 2), next(iter(nll)), 0.002, epoch / 10])
    if sequences:
        np.savez(
            folder / "test_sequences.npz",
            kinds=np.array(list(nll)),
            nll=np.stack(list(nll.values())),
            lengths=lengths.astype(np.int64),
            split=np.array("test"),
        )
    return folder


def refusal(capsys, *argv) -> str:
    """The one line zoo.compare ends with on bad input, exit status 2."""
    with pytest.raises(SystemExit) as exit_:
        main([str(a) for a in argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ")
    return err


def read_csv(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def by_name(comparison):
    return {g.name: g for g in comparison.groups}


def test_grouping_ignores_the_seed_and_the_paths_and_names_groups_by_what_differs(tmp_path):
    for seed in range(3):  # each its own folder, and one resumed from another
        fake_run(
            tmp_path / "multi" / f"a{seed}",
            seed,
            {"-ELBO": sequence_nll(6.0, seed)},
            resume=str(tmp_path / "multi" / "a0") if seed == 2 else None,
        )
    for seed in range(2):
        fake_run(tmp_path / "multi" / f"b{seed}", seed, {"-ELBO": sequence_nll(6.2, 10 + seed)}, hidden_size=128)
        fake_run(tmp_path / "multi" / f"c{seed}", seed, {"-ELBO": sequence_nll(7.0, 20 + seed)}, model="char_lstm")
    groups = compare([tmp_path / "multi"], CompareOptions()).groups
    assert [(g.name, len(g.runs)) for g in groups] == [
        ("model=char_lstm model.net.hidden_size=64", 2),
        ("model=vrnn model.net.hidden_size=64", 3),
        ("model=vrnn model.net.hidden_size=128", 2),
    ]
    assert sorted(r.seed for r in groups[1].runs) == [0, 1, 2]


def test_runs_started_from_each_seeds_own_run_group_together_apart_from_fresh_ones(tmp_path):
    for seed in range(3):  # an adversarial run per seed, each from its seed's MLE run
        init = str(tmp_path / "mle" / f"seed{seed}")
        fake_run(tmp_path / "gan" / f"s{seed}", seed, {"exact": sequence_nll(6.0, seed)}, init=init)
        fake_run(tmp_path / "fresh" / f"s{seed}", seed, {"exact": sequence_nll(6.1, 10 + seed)})
    groups = compare([tmp_path / "gan", tmp_path / "fresh"], CompareOptions()).groups
    assert sorted(len(g.runs) for g in groups) == [3, 3]
    assert sorted(g.name for g in groups) == ["train.init=a trained run", "train.init=null"]


def test_an_option_one_config_group_sets_is_named_by_the_group_alone(tmp_path):
    fake_run(tmp_path / "a", 0, {"exact": sequence_nll(7, 0)}, model="char_lstm", hidden_size=256)
    fake_run(tmp_path / "b", 0, {"exact": sequence_nll(7, 1)}, model="vrnn", hidden_size=128)
    assert list(by_name(compare([tmp_path], CompareOptions()))) == ["model=char_lstm", "model=vrnn"]


def test_mean_sd_and_n_over_seeds_are_numpys(tmp_path):
    for seed in range(4):
        fake_run(
            tmp_path / f"a{seed}", seed, {"-ELBO": sequence_nll(6.0, seed), "-IWAE (K=500)": sequence_nll(5.8, seed)}
        )
    fake_run(tmp_path / "b0", 0, {"-ELBO": sequence_nll(6.5, 9)}, hidden_size=128)
    comparison = compare([tmp_path], CompareOptions())
    group = by_name(comparison)["model.net.hidden_size=64"]
    for kind in ("-ELBO", "-IWAE (K=500)"):
        values = [json.loads((tmp_path / f"a{s}" / "metrics.json").read_text())["test"] for s in range(4)]
        values = np.array([f["nats_per_step"] for v in values for f in v if f["kind"] == kind])
        mean, sd, n = group.over_seeds(kind)
        assert (mean, sd, n) == (
            pytest.approx(np.mean(values), abs=1e-12),
            pytest.approx(np.std(values, ddof=1), abs=1e-12),
            4,
        )
    mean, sd, n = by_name(comparison)["model.net.hidden_size=128"].over_seeds("-ELBO")
    assert n == 1 and math.isnan(sd)


def test_the_paired_difference_is_the_ratio_estimate_of_seed_averaged_differences(tmp_path):
    a = [sequence_nll(6.0, seed) for seed in (0, 1)]
    b = [sequence_nll(6.1, seed) for seed in (5, 6, 7)]
    for seed, nll in enumerate(a):
        fake_run(tmp_path / f"a{seed}", seed, {"-ELBO": nll})
    for seed, nll in enumerate(b):
        fake_run(tmp_path / f"b{seed}", seed, {"-ELBO": nll}, hidden_size=128)
    comparison = compare([tmp_path], CompareOptions())
    [d] = comparison.differences
    assert (d.first, d.second, d.kind, d.seeds) == (
        "model.net.hidden_size=64",
        "model.net.hidden_size=128",
        "-ELBO",
        (2, 3),
    )
    diff = (a[0] + a[1]) / 2 - (b[0] + b[1] + b[2]) / 3  # d_i, per sequence
    steps = LENGTHS.sum()
    rate = diff.sum() / steps
    stderr = np.sqrt(np.sum((diff - rate * LENGTHS) ** 2) / (len(diff) - 1)) * np.sqrt(len(diff)) / steps
    assert d.nats_per_step == pytest.approx(rate, abs=1e-12)
    assert d.stderr == pytest.approx(stderr, abs=1e-12)
    assert (d.num_sequences, d.num_steps) == (30, steps)
    first, second = comparison.groups  # a difference of per-sequence sums is the difference of the means
    assert d.nats_per_step == pytest.approx(first.over_seeds("-ELBO")[0] - second.over_seeds("-ELBO")[0], abs=1e-12)


def test_a_term_shared_by_all_sequences_enters_the_difference_but_not_its_error(tmp_path):
    a, b = sequence_nll(6.0, 0), sequence_nll(6.0, 1)
    fake_run(tmp_path / "a", 0, {"-ELBO": a}, shared=0.05)  # KL(q(w) || p(w)) over the training steps
    fake_run(tmp_path / "b", 0, {"-ELBO": b}, hidden_size=128, shared=0.01)
    [d] = compare([tmp_path], CompareOptions()).differences
    plain = Figure.from_sequences("-ELBO", torch.from_numpy(a - b), torch.from_numpy(LENGTHS))
    assert d.nats_per_step == pytest.approx(plain.nats_per_step + 0.04, abs=1e-12)
    assert d.stderr == pytest.approx(plain.stderr, abs=1e-12)


def test_every_pair_or_the_baseline_against_each_other(tmp_path):
    for i, hidden in enumerate((32, 64, 128)):
        fake_run(tmp_path / f"r{i}", 0, {"exact": sequence_nll(7.0 + i / 10, i)}, hidden_size=hidden)
    every = compare([tmp_path], CompareOptions()).differences
    assert [(d.first[-3:], d.second[-3:]) for d in every] == [("=32", "=64"), ("=32", "128"), ("=64", "128")]
    against = compare([tmp_path], CompareOptions(baseline="model.net.hidden_size=128")).differences
    assert [(d.first, d.second) for d in against] == [
        ("model.net.hidden_size=128", "model.net.hidden_size=32"),
        ("model.net.hidden_size=128", "model.net.hidden_size=64"),
    ]


def test_kinds_are_never_averaged_or_subtracted_across(tmp_path):
    fake_run(tmp_path / "lstm", 0, {"exact": sequence_nll(7.0, 0)}, model="char_lstm")
    for seed, k in enumerate((500, 100)):  # the same config, evaluated with different K
        fake_run(
            tmp_path / f"vrnn{seed}",
            seed,
            {"-ELBO": sequence_nll(6.5, seed), f"-IWAE (K={k})": sequence_nll(6.2, seed)},
        )
    comparison = compare([tmp_path], CompareOptions())
    assert comparison.kinds == ["exact", "-ELBO", "-IWAE (K=500)", "-IWAE (K=100)"]
    vrnn = by_name(comparison)["model=vrnn"]
    assert [vrnn.over_seeds(k)[2] for k in ("-ELBO", "-IWAE (K=500)", "-IWAE (K=100)")] == [2, 1, 1]
    [d] = comparison.differences
    assert d.kind is None and math.isnan(d.nats_per_step)
    assert "different kinds of figure (exact against -ELBO, -IWAE (K=500), -IWAE (K=100))" in d.note
    [d] = compare([tmp_path], CompareOptions(kind="exact")).differences
    assert math.isnan(d.nats_per_step) and "model=vrnn has no exact figure" in d.note


def test_only_the_shared_kinds_are_differenced(tmp_path):
    fake_run(tmp_path / "a", 0, {"-ELBO": sequence_nll(6, 0), "-IWAE (K=100)": sequence_nll(5.9, 0)})
    fake_run(tmp_path / "b", 0, {"-ELBO": sequence_nll(6, 1), "-IWAE (K=500)": sequence_nll(5.9, 1)}, hidden_size=8)
    [d] = compare([tmp_path], CompareOptions()).differences
    assert d.kind == "-ELBO" and not d.note


def test_runs_on_different_sequences_are_not_paired(tmp_path):
    fake_run(tmp_path / "a", 0, {"exact": sequence_nll(7, 0)})
    fake_run(tmp_path / "b", 0, {"exact": sequence_nll(7, 1, LENGTHS[:20])}, hidden_size=8, lengths=LENGTHS[:20])
    [d] = compare([tmp_path], CompareOptions()).differences
    assert "not compared: evaluated on different sequences (test, 20 sequences against test, 30)" in d.note


def test_runs_of_different_data_sets_are_refused_in_one_line(tmp_path, capsys):
    fake_run(tmp_path / "a", 0, {"exact": sequence_nll(7, 0)})
    fake_run(tmp_path / "b", 0, {"exact": sequence_nll(7, 1)}, data="nottingham")
    err = refusal(capsys, tmp_path)
    assert "different data sets" in err and "jsb_chorales (1 run" in err and "nottingham (1 run" in err


def test_a_folder_without_runs_is_refused_in_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert "no run under" in refusal(capsys, tmp_path / "empty")
    (tmp_path / "other" / "evaluation").mkdir(parents=True)  # zoo.evaluate's metrics.json is not a run's
    (tmp_path / "other" / "evaluation" / "metrics.json").write_text(json.dumps({"run": "x", "figures": []}))
    assert "found 1 files and 1 folders" in refusal(capsys, tmp_path / "other")
    assert "is not a folder" in refusal(capsys, tmp_path / "missing")


def test_bad_options_are_refused_in_one_line(tmp_path, capsys):
    fake_run(tmp_path / "a", 0, {"-IWAE (K=500)": sequence_nll(7, 0)})
    assert "did you mean baseline" in refusal(capsys, tmp_path, "baselin=x")
    assert "did you mean -IWAE (K=500)" in refusal(capsys, tmp_path, "kind=-IWAE (K=50)")
    assert "the groups are model=vrnn" in refusal(capsys, tmp_path, "baseline=vrnn")
    assert "give the runs to compare" in refusal(capsys, "out=x")
    dirs, options = parse([str(tmp_path), "kind=-IWAE (K=500)", "baseline=model=vrnn"])
    assert (dirs, options.kind, options.baseline) == ([tmp_path], "-IWAE (K=500)", "model=vrnn")


def test_the_report_is_written_as_markdown_csv_and_png(tmp_path, capsys):
    for seed in range(2):
        fake_run(tmp_path / "runs" / f"a{seed}", seed, {"exact": sequence_nll(7.0, seed)})
        fake_run(tmp_path / "runs" / f"b{seed}", seed, {"exact": sequence_nll(7.2, 5 + seed)}, hidden_size=128)
    main([str(tmp_path / "runs"), f"out={tmp_path / 'report'}"])
    out = tmp_path / "report"
    page = (out / "comparison.md").read_text()
    assert page == capsys.readouterr().out.split("wrote ")[0].rstrip("\n") + "\n"
    assert "| model.net.hidden_size=64 | " in page and "(n=2)" in page and "learning_curves.png" in page
    rows = read_csv(out / "comparison.csv")
    assert [r["group"] for r in rows] == ["model.net.hidden_size=64", "model.net.hidden_size=128"]
    assert rows[0]["exact n"] == "2" and float(rows[0]["exact mean"]) < float(rows[1]["exact mean"])
    [pair] = read_csv(out / "differences.csv")
    assert pair["kind"] == "exact" and float(pair["nats_per_step"]) < 0 and float(pair["stderr"]) > 0
    assert (out / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "runs" / "comparison").exists()


def test_without_test_sequences_the_means_are_still_reported(tmp_path):
    fake_run(tmp_path / "a", 0, {"exact": sequence_nll(7, 0)}, sequences=False)
    fake_run(tmp_path / "b", 0, {"exact": sequence_nll(7, 1)}, hidden_size=8)
    comparison = compare([tmp_path], CompareOptions())
    assert [g.over_seeds("exact")[2] for g in comparison.groups] == [1, 1]
    [d] = comparison.differences
    assert "needs test_sequences.npz" in d.note and math.isnan(d.nats_per_step)
    assert "paired differences need test_sequences.npz beside metrics.json: missing in 1 of 2 runs" in comparison.notes


def test_two_real_runs_over_seeds_end_to_end(tmp_path, capsys, one_thread):
    for seed in (0, 1):
        run_in_process(
            tmp_path / "multi" / str(seed),
            "model=char_lstm",
            "data=jsb_chorales",
            *QUICK,
            "model.net.hidden_size=8",
            f"train.seed={seed}",
        )
    main([str(tmp_path / "multi")])
    [group] = compare([tmp_path / "multi"], CompareOptions()).groups
    figures = [json.loads((tmp_path / "multi" / str(s) / "metrics.json").read_text())["test"][0] for s in (0, 1)]
    values = [f["nats_per_step"] for f in figures]
    assert group.name == "model=char_lstm" and figures[0]["kind"] == "exact" and values[0] != values[1]
    assert group.over_seeds("exact") == (pytest.approx(np.mean(values)), pytest.approx(np.std(values, ddof=1)), 2)
    page = (tmp_path / "multi" / "comparison" / "comparison.md").read_text()
    assert "| model=char_lstm | " in page and "(n=2)" in page
    for run, figure in zip(group.runs, figures):
        if run.sequences is None:  # runs written before zoo.run saved test_sequences.npz
            assert "paired differences need test_sequences.npz" in page
        else:
            assert run.sequences.split == "test" and run.sequences.lengths.sum() == figure["num_steps"]
            rate = run.sequences.of("exact").sum() / figure["num_steps"]
            assert rate == pytest.approx(figure["nats_per_step"], abs=1e-9)
    assert (tmp_path / "multi" / "comparison" / "learning_curves.png").stat().st_size > 0
