"""Compare trained runs: the test figures of every configuration over its seeds, paired
differences between configurations on the same test sequences, and the learning curves.

    python -m zoo.compare DIR... [out=PATH] [kind=KIND] [baseline=GROUP]

Each DIR is a multirun folder or run folders; runs are found below it by their metrics.json.
Runs whose configs differ only in the seed (train.seed) and in paths (train.resume, hydra.*,
output folders, and which run's weights train.init started from: each seed of an adversarial
run starts from its own seed's MLE run, so only whether it started from one counts) form a group, named by the options that differ between groups
(`model=vrnn`, `model.net.hidden_size=64`). For every group and kind of figure: the mean and
standard deviation of the test NLL per step over its seeds, and their number. For two groups
evaluated on the same test sequences (each run's test_sequences.npz), the difference per step
of the seed-averaged NLL of each sequence, with its standard error over sequences. Figures of
different kinds (exact, -ELBO, -IWAE (K=500), posterior predictive (S=10)) are never averaged
or subtracted across kinds.

Writes comparison.md, comparison.csv, differences.csv and learning_curves.png to `out`
(default: DIR/comparison of the first DIR).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import yaml

from zoo.cli import user_errors
from zoo.errors import ZooError
from zoo.options import build_record, check_fields, did_you_mean, unknown

SEQUENCES_FILE = "test_sequences.npz"
IGNORED = ("train.seed", "train.resume")  # the seed, and the run a run continues
STARTED_FROM = "train.init"  # the run whose weights a run started from: grouped by whether it is set
OUTPUT_FOLDERS = ("run_dir", "output_dir", "out_dir", "out", "save_dir")  # options naming where a run writes


@dataclass
class CompareOptions:
    """The options of zoo.compare, each `name=value` on its command line after the folders."""

    command: ClassVar[str] = "python -m zoo.compare DIR..."
    out: str | None = None  # the folder for the report; null: DIR/comparison of the first DIR
    kind: str | None = None  # the kind of figure to difference; null: every kind both groups have
    baseline: str | None = None  # a group's name: it against each other group; null: every pair

    def __post_init__(self):
        check_fields(self)


@dataclass
class TestSequences:
    """A run's per-sequence test NLL (test_sequences.npz): one row of nats per sequence per kind."""

    kinds: list[str]  # (F,)
    nll: np.ndarray  # (F, N) nats per sequence
    lengths: np.ndarray  # (N,) steps T_i
    split: str

    @classmethod
    def load(cls, path: Path) -> TestSequences:
        """Read kinds, nll, lengths and split from an .npz file; one that lacks them is refused."""
        try:
            with np.load(path, allow_pickle=False) as f:
                sequences = cls(
                    [str(k) for k in f["kinds"]],
                    f["nll"].astype(np.float64),
                    f["lengths"].astype(np.int64),
                    str(f["split"]),
                )
        except (OSError, KeyError, ValueError) as e:
            raise ZooError(f"{path} cannot be read as test sequences (kinds, nll, lengths, split): {e}") from None
        if sequences.nll.shape != (len(sequences.kinds), len(sequences.lengths)):
            raise ZooError(
                f"{path}: nll is {sequences.nll.shape}, not (kinds, sequences) = "
                f"({len(sequences.kinds)}, {len(sequences.lengths)})"
            )
        return sequences

    def of(self, kind: str) -> np.ndarray:
        """nll_i of every sequence for one kind of figure, (N,)."""
        return self.nll[self.kinds.index(kind)]


@dataclass
class Run:
    """One trained run: where it is, its comparable config, and its test figures."""

    path: Path
    data: str
    config: dict  # flattened dotted keys, minus the seed and paths
    choices: dict  # the config groups chosen (model=vrnn ...)
    seed: object
    figures: dict  # kind -> test nats per step
    sequences: TestSequences | None  # None without test_sequences.npz
    curve: list[dict]  # metrics.csv rows

    @property
    def key(self) -> tuple:
        """What the runs of one group share: their config, the seed and paths left out."""
        return tuple(sorted((k, repr(v)) for k, v in self.config.items()))


@dataclass
class Group:
    """The runs of one config over seeds, named by the options that set it apart."""

    name: str
    runs: list[Run]

    @property
    def kinds(self) -> list[str]:
        """The kinds of test figure of any of its runs, in their order."""
        return list(dict.fromkeys(k for r in self.runs for k in r.figures))

    def over_seeds(self, kind: str) -> tuple[float, float, int]:
        """(mean, standard deviation with n - 1, n) of the test NLL per step over the seeds."""
        values = np.array([r.figures[kind] for r in self.runs if kind in r.figures])
        sd = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
        return float(np.mean(values)), sd, len(values)


@dataclass
class Difference:
    """first - second in nats per step for one kind, or why it was not computed (`note`)."""

    first: str
    second: str
    kind: str | None
    nats_per_step: float = math.nan
    stderr: float = math.nan
    num_sequences: int = 0
    num_steps: int = 0
    seeds: tuple[int, int] = (0, 0)
    note: str = ""


# -- reading runs -----------------------------------------------------------------------------------


def find_runs(dirs: list[Path]) -> list[Path]:
    """The run folders below `dirs`: those holding a metrics.json written by zoo.run (not the
    evaluation/metrics.json of zoo.evaluate). Refuses a folder that holds none, naming what it holds."""
    runs = []
    for d in dirs:
        if not d.is_dir():
            raise ZooError(f"{d} is not a folder; give run folders or a multirun folder")
        found = [p.parent for p in sorted(d.rglob("metrics.json")) if is_run_metrics(p)]
        if not found:
            entries = list(d.rglob("*"))
            files = sum(p.is_file() for p in entries)
            raise ZooError(
                f"no run under {d}: found {files} files and {len(entries) - files} folders, none "
                f"with a run's metrics.json (python -m zoo.run writes one in each run folder)"
            )
        runs += found
    return list(dict.fromkeys(runs))


def is_run_metrics(path: Path) -> bool:
    """A metrics.json of zoo.run: it has a status or test figures."""
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(metrics, dict) and ("status" in metrics or "test" in metrics)


def run_config(path: Path) -> dict:
    """The run's composed config: .hydra/config.yaml, else the one stored in its checkpoint."""
    saved = path / ".hydra" / "config.yaml"
    if saved.is_file():
        return yaml.safe_load(saved.read_text()) or {}
    for name in ("last.pt", "best.pt"):
        if (path / name).is_file():
            from zoo.training.checkpoint import load_checkpoint

            return load_checkpoint(path, name)["config"]
    raise ZooError(f"{path} has neither .hydra/config.yaml nor a checkpoint: its config is unknown")


def run_choices(path: Path, config: dict) -> dict:
    """The config groups chosen for the run (Hydra's runtime choices), or the model's name alone."""
    saved = path / ".hydra" / "hydra.yaml"
    if saved.is_file():
        choices = (yaml.safe_load(saved.read_text()) or {}).get("hydra", {}).get("runtime", {}).get("choices", {})
        return {k.replace("/", "."): v for k, v in choices.items() if not k.startswith("hydra/")}
    name = (config.get("model") or {}).get("name")
    return {"model": name} if name is not None else {}


def flatten(config: dict, prefix: str = "") -> dict:
    """Nested options as dotted keys: {"model.net.hidden_size": 64, ...}; lists become tuples."""
    flat = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = tuple(value) if isinstance(value, list) else value
    return flat


def is_comparable(key: str) -> bool:
    """Not the seed, nor a path of this run (hydra.*, train.resume, an output folder)."""
    return key not in IGNORED and key.split(".")[0] != "hydra" and key.rsplit(".", 1)[-1] not in OUTPUT_FOLDERS


def started_from(init) -> str | None:
    """train.init without its path: runs of several seeds each start from their own seed's run."""
    return None if init is None else "a trained run"


def read_curve(path: Path) -> list[dict]:
    """The rows of the run's metrics.csv ([] without one)."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_run(path: Path) -> Run:
    """A run folder's metrics.json, config, test_sequences.npz and metrics.csv."""
    metrics = json.loads((path / "metrics.json").read_text())
    config = run_config(path)
    flat = flatten(config)
    sequences = path / SEQUENCES_FILE
    return Run(
        path=path,
        data=str(metrics.get("data")),
        config={k: started_from(v) if k == STARTED_FROM else v for k, v in flat.items() if is_comparable(k)},
        choices=run_choices(path, config),
        seed=flat.get("train.seed"),
        figures={f["kind"]: f["nats_per_step"] for f in metrics.get("test", [])},
        sequences=TestSequences.load(sequences) if sequences.is_file() else None,
        curve=read_curve(path / "metrics.csv"),
    )


def one_data_set(runs: list[Run]) -> str:
    """The data set all runs share; runs of several are refused, naming each with its runs."""
    by_data = {}
    for r in runs:
        by_data.setdefault(r.data, []).append(r)
    if len(by_data) > 1:
        found = ", ".join(
            f"{d} ({len(rs)} run{'s' * (len(rs) > 1)}: {rs[0].path}{' ...' * (len(rs) > 1)})"
            for d, rs in by_data.items()
        )
        raise ZooError(f"the runs are on different data sets, {found}; compare the runs of one data set at a time")
    return runs[0].data


# -- groups and their names -------------------------------------------------------------------------


def group_runs(runs: list[Run]) -> list[Group]:
    """Runs of the same config, the seed and paths aside, as named groups in the order of their names."""
    by_key = {}
    for r in runs:
        by_key.setdefault(r.key, []).append(r)
    members = list(by_key.values())
    names = group_names([rs[0].config for rs in members], [rs[0].choices for rs in members])
    groups = [Group(n, rs) for n, rs in zip(names, members)]
    return sorted(groups, key=lambda g: natural_key(g.name))


def group_names(configs: list[dict], choices: list[dict]) -> list[str]:
    """Each config named by what differs between them: the config groups chosen (model=vrnn), then
    each option whose value the choices do not already explain (model.net.hidden_size=64)."""
    differ_choice = [c for c in ordered_choices(choices) if len({str(ch.get(c)) for ch in choices}) > 1]
    keys = list(dict.fromkeys(k for c in configs for k in c))
    differ_value = [
        k
        for k in keys
        if len({repr(c.get(k)) for c in configs}) > 1
        and not any(explained(k, c, configs, choices) for c in differ_choice)
    ]
    names = []
    for config, chosen in zip(configs, choices):
        words = [f"{c}={shown(chosen.get(c))}" for c in differ_choice]
        words += [f"{k}={shown(config.get(k))}" for k in differ_value]
        names.append(" ".join(words) or default_name(config, chosen))
    return names


def ordered_choices(choices: list[dict]) -> list[str]:
    """The config groups chosen in any run, the model first."""
    names = list(dict.fromkeys(c for ch in choices for c in ch))
    return sorted(names, key=lambda c: (c != "model", names.index(c)))


def explained(key: str, choice: str, configs: list[dict], choices: list[dict]) -> bool:
    """Whether an option inside a config group has one value wherever that group's choice is the same."""
    if not key.startswith(f"{choice}."):
        return False
    seen = {}
    for config, chosen in zip(configs, choices):
        value = seen.setdefault(str(chosen.get(choice)), repr(config.get(key)))
        if value != repr(config.get(key)):
            return False
    return True


def default_name(config: dict, choices: dict) -> str:
    """The name of a group that nothing sets apart: its model."""
    model = choices.get("model", config.get("model.name"))
    return f"model={model}" if model is not None else "all runs"


def shown(value) -> str:
    """An option's value as written on zoo.run's command line: null, true, 64, vrnn."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def natural_key(name: str) -> tuple:
    """Sort names with their numbers as numbers: hidden_size=64 before hidden_size=128."""
    parts = []
    for word in name.split(" "):
        key, _, value = word.partition("=")
        try:
            parts.append((key, 0, float(value), ""))
        except ValueError:
            parts.append((key, 1, 0.0, value))
    return tuple(parts)


# -- paired differences -----------------------------------------------------------------------------


def seed_averaged_nll(group: Group, kind: str) -> tuple[np.ndarray, np.ndarray, float, str]:
    """(nll_i averaged over the group's seeds (N,), T_i (N,), the figure's per-step term shared by
    all sequences (such as -ELBO's KL(q(w) || p(w)) over the training steps), the split); raises
    ZooError naming what is missing."""
    runs = [r for r in group.runs if kind in r.figures]
    missing = [r for r in runs if r.sequences is None or kind not in r.sequences.kinds]
    if missing:
        raise ZooError(f"needs {SEQUENCES_FILE} with {kind} (missing in {len(missing)} of {group.name}'s runs)")
    first = runs[0].sequences
    if any(r.sequences.split != first.split or not np.array_equal(r.sequences.lengths, first.lengths) for r in runs):
        raise ZooError(f"the runs of {group.name} were evaluated on different test sequences")
    nll = np.mean([r.sequences.of(kind) for r in runs], axis=0)  # (N,)
    shared = np.mean([r.figures[kind] - r.sequences.of(kind).sum() / first.lengths.sum() for r in runs])
    return nll, first.lengths, float(shared), first.split


def paired_difference(first: Group, second: Group, kind: str) -> Difference:
    """first - second per step on the same test sequences: d_i the difference of the seed-averaged
    NLL of sequence i, sum_i d_i / sum_i T_i with the ratio estimator's standard error
    (Figure.from_sequences), plus the difference of terms shared by all sequences."""
    import torch

    from zoo.evaluation.likelihood import Figure

    pair = Difference(first.name, second.name, kind)
    try:
        nll_a, lengths_a, shared_a, split_a = seed_averaged_nll(first, kind)
        nll_b, lengths_b, shared_b, split_b = seed_averaged_nll(second, kind)
    except ZooError as e:
        return dataclasses.replace(pair, note=f"not compared: {e}")
    if split_a != split_b or not np.array_equal(lengths_a, lengths_b):
        return dataclasses.replace(
            pair,
            note=f"not compared: evaluated on different sequences ({split_a}, "
            f"{len(lengths_a)} sequences against {split_b}, {len(lengths_b)})",
        )
    d = Figure.from_sequences(kind, torch.from_numpy(nll_a - nll_b), torch.from_numpy(lengths_a))
    seeds = (sum(kind in r.figures for r in first.runs), sum(kind in r.figures for r in second.runs))
    return dataclasses.replace(
        pair,
        nats_per_step=d.nats_per_step + shared_a - shared_b,
        stderr=d.stderr,
        num_sequences=d.num_sequences,
        num_steps=d.num_steps,
        seeds=seeds,
    )


def pair_differences(first: Group, second: Group, kind: str | None) -> list[Difference]:
    """The differences of two groups in the kind asked for, or in every kind both have; a pair
    with no kind in common is one Difference whose note says so."""
    if kind is not None:
        lacking = [g for g in (first, second) if kind not in g.kinds]
        if lacking:
            g = lacking[0]
            return [
                Difference(
                    first.name,
                    second.name,
                    kind,
                    note=f"not compared: {g.name} has no {kind} figure (its kinds: {', '.join(g.kinds)})",
                )
            ]
        return [paired_difference(first, second, kind)]
    shared = [k for k in first.kinds if k in second.kinds]
    if not shared:
        return [
            Difference(
                first.name,
                second.name,
                None,
                note=f"not compared: different kinds of figure ({', '.join(first.kinds)} against "
                f"{', '.join(second.kinds)}), never subtracted across kinds",
            )
        ]
    return [paired_difference(first, second, k) for k in shared]


def pairs(groups: list[Group], baseline: str | None) -> list[tuple[Group, Group]]:
    """Every pair of groups, or the baseline against each other group."""
    if baseline is None:
        return [(a, b) for i, a in enumerate(groups) for b in groups[i + 1 :]]
    names = [g.name for g in groups]
    if baseline not in names:
        raise ZooError(
            f"baseline={baseline} is not a group{did_you_mean(baseline, names)}; the groups are {', '.join(names)}"
        )
    base = groups[names.index(baseline)]
    return [(base, g) for g in groups if g is not base]


# -- the comparison and its files -------------------------------------------------------------------


@dataclass
class Comparison:
    """Groups of runs on one data set, their figures over seeds, and paired differences."""

    data: str
    groups: list[Group]
    differences: list[Difference]
    notes: list[str]

    @property
    def kinds(self) -> list[str]:
        """The kinds of test figure of any group: the columns of the table."""
        return list(dict.fromkeys(k for g in self.groups for k in g.kinds))


def compare(dirs: list[Path], options: CompareOptions) -> Comparison:
    """Read the runs below `dirs`, group them, and difference the groups."""
    runs = [read_run(p) for p in find_runs(dirs)]
    tested = [r for r in runs if r.figures]
    if not tested:
        raise ZooError(
            f"found {len(runs)} run{'s' * (len(runs) > 1)} under {', '.join(map(str, dirs))}, "
            "none with test figures (failed before evaluating)"
        )
    notes = [f"{r.path}: no test figures, left out" for r in runs if not r.figures]
    data = one_data_set(tested)
    groups = group_runs(tested)
    kinds = list(dict.fromkeys(k for g in groups for k in g.kinds))
    if options.kind is not None and options.kind not in kinds:
        raise ZooError(
            f"kind={options.kind} is not a kind of these runs' figures"
            f"{did_you_mean(options.kind, kinds)}; their kinds are {', '.join(kinds)}"
        )
    without = [r for r in tested if r.sequences is None]
    if without:
        notes.append(
            f"paired differences need {SEQUENCES_FILE} beside metrics.json: missing in {len(without)} "
            f"of {len(tested)} runs"
        )
    for g in groups:
        seeds = [r.seed for r in g.runs]
        if len(set(map(repr, seeds))) < len(seeds):
            notes.append(f"{g.name}: runs share a seed ({', '.join(map(shown, seeds))}), not independent draws")
    differences = [d for a, b in pairs(groups, options.baseline) for d in pair_differences(a, b, options.kind)]
    return Comparison(data, groups, differences, notes)


def number(value: float, digits: int = 4) -> str:
    """A figure to `digits` decimals, or '–' when undefined."""
    return "–" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def markdown(c: Comparison) -> str:
    """The report: figures over seeds, paired differences, notes and the learning curves."""
    runs = sum(len(g.runs) for g in c.groups)
    configs = f"{len(c.groups)} configuration{'s' * (len(c.groups) > 1)}"
    lines = [
        f"# {runs} run{'s' * (runs > 1)} of {configs} on {c.data}",
        "",
        (
            "Test NLL in nats per step: mean ± standard deviation over seeds (n seeds); "
            "each kind of figure has its own column."
        ),
        "",
        "| group | " + " | ".join(c.kinds) + " |",
        "|---" * (len(c.kinds) + 1) + "|",
    ]
    for g in c.groups:
        cells = []
        for kind in c.kinds:
            if kind not in g.kinds:
                cells.append("")
                continue
            mean, sd, n = g.over_seeds(kind)
            cells.append(f"{mean:.4f} (n=1)" if n == 1 else f"{mean:.4f} ± {sd:.4f} (n={n})")
        lines.append(f"| {g.name} | " + " | ".join(cells) + " |")
    computed = [d for d in c.differences if not d.note]
    lines += ["", "## Paired differences"]
    if computed:
        lines += [
            "",
            (
                "First minus second, per step: d_i the difference of sequence i's NLL averaged over "
                "each group's seeds, sum_i d_i / sum_i T_i, with its standard error over sequences (a "
                "ratio estimator); negative favours the first."
            ),
            "",
            "| first | second | kind | nats/step | ± s.e. | sequences | steps | seeds |",
            "|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {d.first} | {d.second} | {d.kind} | {d.nats_per_step:+.4f} | {number(d.stderr)} | "
            f"{d.num_sequences} | {d.num_steps} | {d.seeds[0]} and {d.seeds[1]} |"
            for d in computed
        ]
    lines += [""] + [
        f"- {d.first} against {d.second}{f' ({d.kind})' if d.kind else ''}: {d.note}" for d in c.differences if d.note
    ]
    if not c.differences:
        lines.append("- one group: nothing to difference")
    lines += [f"- {note}" for note in c.notes]
    lines += ["", "## Learning curves", "", "![validation NLL per step of every seed](learning_curves.png)"]
    return "\n".join(lines) + "\n"


def write_csv(c: Comparison, out: Path) -> None:
    """comparison.csv (a row per group: mean, sd, n of each kind) and differences.csv (a row per
    pair and kind, with a note where not computed)."""
    with open(out / "comparison.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["group", "runs"] + [f"{k} {s}" for k in c.kinds for s in ("mean", "sd", "n")])
        for g in c.groups:
            cells = []
            for kind in c.kinds:
                cells += list(g.over_seeds(kind)) if kind in g.kinds else ["", "", 0]
            writer.writerow(
                [g.name, len(g.runs)] + ["" if isinstance(x, float) and math.isnan(x) else x for x in cells]
            )
    with open(out / "differences.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "first",
                "second",
                "kind",
                "nats_per_step",
                "stderr",
                "num_sequences",
                "num_steps",
                "seeds_first",
                "seeds_second",
                "note",
            ]
        )
        for d in c.differences:
            writer.writerow(
                [
                    d.first,
                    d.second,
                    d.kind or "",
                    "" if d.note else d.nats_per_step,
                    "" if d.note or math.isnan(d.stderr) else d.stderr,
                    d.num_sequences,
                    d.num_steps,
                    *d.seeds,
                    d.note,
                ]
            )


def plot_learning_curves(groups: list[Group], path: Path) -> None:
    """Validation NLL per step against training step from each run's metrics.csv, one line per
    seed, one colour per group (zoo.reports.plots)."""
    from zoo.reports.plots import plot_learning_curves as plot

    curves = {}
    for g in groups:
        runs = [r.curve for r in g.runs if r.curve]
        if runs:
            seeds = f"{len(runs)} seed{'s' * (len(runs) > 1)}"
            curves[f"{g.name} ({runs[0][0].get('valid_kind', 'valid')}, {seeds})"] = [
                [(float(row["step"]), float(row["valid_nats_per_step"])) for row in run] for run in runs
            ]
    plot(curves, path, "validation nats per step", xlabel="training step")


def write_report(c: Comparison, out: Path) -> str:
    """comparison.md, comparison.csv, differences.csv and learning_curves.png in `out`; the markdown."""
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(c)
    (out / "comparison.md").write_text(text)
    write_csv(c, out)
    plot_learning_curves(c.groups, out / "learning_curves.png")
    return text


# -- the command line -------------------------------------------------------------------------------


def parse(argv: list[str]) -> tuple[list[Path], CompareOptions]:
    """Folders, then name=value options (the fields of CompareOptions, taken as typed)."""
    names = [f.name for f in dataclasses.fields(CompareOptions)]
    dirs, options = [], {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key in names:
            options[key] = value
        elif sep and not Path(arg).exists():
            raise unknown(key, key, names, CompareOptions.command)
        else:
            dirs.append(Path(arg))
    if not dirs:
        raise ZooError(f"give the runs to compare: {CompareOptions.command} [out=PATH] [kind=KIND] [baseline=GROUP]")
    return dirs, build_record(CompareOptions, options, owner=CompareOptions.command)


def main(argv: list[str] | None = None) -> None:
    """The command: compare the runs below the folders given, print the report and write its files."""
    argv = sys.argv[1:] if argv is None else argv
    if {"-h", "--help"} & set(argv):
        print(__doc__)
        return
    with user_errors():
        dirs, options = parse(argv)
        comparison = compare(dirs, options)
        out = Path(options.out) if options.out else dirs[0] / "comparison"
        print(write_report(comparison, out))
        print(f"wrote {out / 'comparison.md'}, comparison.csv, differences.csv and learning_curves.png")


if __name__ == "__main__":
    main()
