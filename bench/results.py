"""The results page: one table of every measured model on every data set, generated from runs.

    python -m bench.results [--runs outputs ...] [--out docs/results.md]

Reads every bench JSON in bench/results/ and the metrics.json of every zoo.run run folder
under `--runs`, and writes a Markdown page: per data set, each test figure (nats per step,
the kind of figure with its K or S, training minutes, hardware, and the command that measured
it), then the published anchors each bench prints, with their sources. Nothing in the table
is typed by hand; rerun this after a bench to refresh the page. A page that would lose figures
(their JSON or run folder is not here) is left as it is unless --drop-missing is given.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
GRID_SCRIPTS = ("regularisers", "polyphonic", "seqgan")  # benches that add cells (row, seed) to one JSON
SKIP = {"train", "valid", "history", "anchors", "args", "references", "sample_statistics", "code"}
DATA = {  # bench file -> data set, where the payload does not say
    "jsb": "jsb_chorales",
    "oracle": "oracle",
    "handwriting": "lasa_handwriting",
    "bayes_vs_mle": "tiny_shakespeare, first 200k training characters",
    "gold_standard": "3-symbol Markov chain (a toy NUTS can sample)",
}
HYBRID_DATA = {
    "vrnn": "jsb_chorales",
    "bayes_vrnn": "jsb_chorales",
    "char_lstm": "tiny_shakespeare, first 200k training characters",
    "bayes_lstm": "tiny_shakespeare, first 200k training characters",
}
SOURCES = {  # where the published anchors come from
    "DMM": "Krishnan et al. 2017, arXiv 1609.09869",
    "Pyro DMM": "pyro-ppl examples/dmm",
    "RNN-NADE": "Boulanger-Lewandowski et al. 2012",
    "LSTM (Bai": "Bai et al. 2018, arXiv 1803.01271",
    "Yu et al.": "Yu et al. 2016, arXiv 1609.05473",
    "Graves": "Graves 2013, arXiv 1308.0850",
    "Chung": "Chung et al. 2015, arXiv 1506.02216",
    "Lin et al.": "Lin et al. 2017, arXiv 1705.11001",
    "Guo et al.": "Guo et al. 2018, arXiv 1709.08624",
    "Nie et al.": "Nie et al. 2019, openreview rJedV3R5tm",
}


def is_figure(x) -> bool:
    return isinstance(x, dict) and {"kind", "nats_per_step", "num_steps"} <= x.keys()


def figures(node, path=()):
    """(path, figure) for every test figure in a nested payload, skipping training curves and
    train/valid splits."""
    if is_figure(node):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key not in SKIP:
                yield from figures(value, path + (key,))
    elif isinstance(node, list):
        for value in node:
            yield from figures(value, path)


def data_of(name: str, payload: dict, model: str) -> str:
    """The data set of a bench file's figure: the payload's own word, else what the bench runs on."""
    if payload.get("data"):
        return payload["data"]
    if name == "hybrids":
        return HYBRID_DATA.get(model, name)
    if name.startswith("seq_autoencoders_"):
        return name.removeprefix("seq_autoencoders_")
    if name.startswith("seqgan_"):
        return name.removeprefix("seqgan_")
    if name.startswith("jsb_"):  # variants of bench.jsb (--tag)
        return "jsb_chorales"
    return DATA.get(name, name)


def script_of(name: str) -> str:
    return next((s for s in GRID_SCRIPTS + ("seq_autoencoders", "jsb") if name.startswith(s)), name)


def seed_index(path: tuple) -> int | None:
    """Where a grid cell's seed sits in a figure's path (results/<row>/<seed>/... or
    results/<data>/<model>/<seed>/... or results/<row>/seeds/<seed>/...), None outside a grid."""
    return next((i for i, key in enumerate(path) if i > 1 and key.isdigit()), None)


def grid_rows(file: Path, payload: dict) -> list[dict]:
    """One row per (data set, row of the grid, kind) of a bench JSON of cells (row, seed), as
    bench.regularisers, bench.polyphonic and bench.seqgan write them: the mean and standard
    deviation over the seeds, the cells' mean training minutes, and where each cell's own
    commands are; a cell's own figures only, not those of a sweep inside it (bench.seqgan's
    temperatures). Empty for a JSON of single runs."""
    script = script_of(file.stem)
    tag = file.stem.removeprefix(f"{script}_")
    groups: dict[tuple[str, str, str], list[tuple[float, dict]]] = {}
    for path, f in figures(payload):
        i = seed_index(path)
        if i is None or path[0] != "results" or len(path) > i + 2:  # deeper: a sweep inside a cell
            continue
        names = [key for key in path[1:i] if key != "seeds"]
        data, names = (payload["data"], names) if payload.get("data") else (names[0], names[1:])
        cell = payload
        for key in path[: i + 1]:
            cell = cell[key]
        kind = re.sub(r" of \d+ collections", "", f["kind"])  # SWAG's count of collections differs by seed
        groups.setdefault((data, " / ".join(names), kind), []).append((f["nats_per_step"], cell))
    rows = []
    for (data, model, kind), found in groups.items():
        values = [nats for nats, _ in found]
        minutes = [cell["minutes"] for _, cell in found if isinstance(cell.get("minutes"), (int, float))]
        rows.append(
            {
                "data": data,
                "model": f"{model} (grid {tag})",
                "nats_per_step": statistics.fmean(values),
                "spread": f" ± {statistics.stdev(values):.3f} (sd, {len(values)} seeds)"
                if len(values) > 1
                else " (1 seed)",
                "kind": kind,
                "minutes": statistics.fmean(minutes) if minutes else None,
                "hardware": "; ".join(sorted({cell.get("hardware", "not recorded") for _, cell in found})),
                "measured_by": f"`python -m bench.{script} ... --tag {tag}`: each cell's commands in bench/results/{file.name}",
            }
        )
    return rows


def bench_rows(file: Path) -> tuple[list[dict], list[dict]]:
    """Rows and anchors of one bench JSON."""
    payload = json.loads(file.read_text())
    name = file.stem
    anchors = [
        {"data": data_of(name, payload, ""), "name": k, "value": v} for k, v in (payload.get("anchors") or {}).items()
    ]
    grid = grid_rows(file, payload)
    if grid:
        return grid, anchors
    results = payload.get("results") if isinstance(payload.get("results"), dict) else {}
    rows = []
    for path, f in figures(payload):
        if name.startswith("seqgan_") and "mle" in payload:  # {"mle": ..., "seqgan": ...}: one generator, two trainings
            model, minutes = (
                f"char_lstm after {'MLE' if path[0] == 'mle' else 'SeqGAN'}",
                payload.get("mle_minutes" if path[0] == "mle" else "adversarial_minutes"),
            )
        else:
            key = path[1] if len(path) > 1 and path[0] == "results" else (path[-1] if path else name)
            checkpoint = next((p for p in path if p.endswith(".pt")), None)
            model = key + (f" ({checkpoint})" if checkpoint else "")
            minutes = results.get(key, {}).get("minutes", payload.get("minutes"))
            minutes = minutes.get(key) if isinstance(minutes, dict) else minutes  # per-method minutes
        rows.append(
            {
                "data": data_of(name, payload, model.split(" ")[0]),
                "model": model,
                "nats_per_step": f["nats_per_step"],
                "stderr": f.get("stderr"),
                "kind": f["kind"],
                "minutes": minutes,
                "hardware": payload.get("hardware", "not recorded"),
                "measured_by": "`"
                + (
                    results.get(model.split(" ")[0], {}).get("command")
                    or payload.get("command", f"python -m bench.{script_of(name)} (arguments not recorded)")
                )
                + "`",
            }
        )
    return rows, anchors


def run_rows(folder: Path) -> list[dict]:
    """Rows of one zoo.run run folder's metrics.json."""
    m = json.loads((folder / "metrics.json").read_text())
    return [
        {
            "data": m["data"],
            "model": m["model"],
            "nats_per_step": f["nats_per_step"],
            "stderr": f.get("stderr"),
            "kind": f["kind"],
            "minutes": m.get("minutes"),
            "hardware": m.get("hardware", "not recorded"),
            "measured_by": f"`python -m zoo.run` (run folder {folder.name})",
        }
        for f in m.get("test", []) + m.get("oracle", [])
    ]


def source(anchor: str, data: str) -> str:
    if data == "oracle":
        return SOURCES["Yu et al."]  # SeqGAN's table, on their own oracle
    keys = sorted(SOURCES, key=len, reverse=True)  # "Pyro DMM" before "DMM"
    return next((SOURCES[k] for k in keys if k in anchor), "as printed by the bench")


def page(rows: list[dict], anchors: list[dict]) -> str:
    lines = [
        "# Results",
        "",
        "Every measured test figure, in nats per step (per character, frame, token or pen point: the "
        "sum over test sequences divided by their total steps), with its kind. Generated by "
        "`python -m bench.results` from bench/results/*.json and run folders; not typed by hand. "
        "Figures of different kinds are not interchangeable: an exact NLL, a bound (-ELBO, -IWAE-K: "
        "the true NLL is at most this), a posterior predictive over S weight draws, a reconstruction "
        "(not a likelihood of x), NLL-oracle (the oracle's NLL of the model's samples). "
        "See [Evaluation](evaluation.md). A single run's figure is given ± its standard error over the "
        "test sequences; a row of a bench grid (named with its `--tag`) is the mean over the grid's "
        "seeds of that row, ± their standard deviation.",
        "",
    ]
    for data in sorted({r["data"] for r in rows}):
        lines += [
            f"## {data}",
            "",
            "| model | test NLL (nats/step) | kind | training minutes | hardware | measured by |",
            "|---|---|---|---|---|---|",
        ]
        for r in sorted((r for r in rows if r["data"] == data), key=lambda r: (r["model"], r["kind"])):
            se = f" ± {r['stderr']:.3f}" if r.get("stderr") is not None else ""
            minutes = f"{r['minutes']:.1f}" if isinstance(r.get("minutes"), (int, float)) else "—"
            lines.append(
                f"| {r['model']} | {r['nats_per_step']:.3f}{r.get('spread', se)} | {r['kind']} | {minutes} | "
                f"{r['hardware']} | {r['measured_by']} |"
            )
        lines.append("")
    if anchors:
        lines += [
            "## Published anchors",
            "",
            "As each bench prints them, beside its own figures.",
            "",
            "| data set | figure | value | source |",
            "|---|---|---|---|",
        ]
        for a in anchors:
            lines.append(f"| {a['data']} | {a['name']} | {a['value']} | {source(a['name'], a['data'])} |")
        lines.append("")
    return "\n".join(lines)


def figure_keys(text: str) -> set[tuple[str, str, str]]:
    """(data set, model, kind) of every figure row of a results page."""
    keys, section = set(), ""
    for line in text.splitlines():
        if line.startswith("## "):
            section = line.removeprefix("## ")
        elif line.startswith("| ") and section != "Published anchors":
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if cells[0] != "model":
                keys.add((section, cells[0], cells[2]))
    return keys


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="*", default=[], help="folders searched for zoo.run metrics.json files")
    parser.add_argument("--out", default=str(Path(__file__).parents[1] / "docs" / "results.md"))
    parser.add_argument(
        "--drop-missing", action="store_true", help="write the page even where it loses figures whose source is gone"
    )
    args = parser.parse_args()
    rows, anchors = [], []
    for file in sorted(RESULTS.glob("*.json")):
        r, a = bench_rows(file)
        rows += r
        anchors += [x for x in a if (x["data"], x["name"]) not in {(y["data"], y["name"]) for y in anchors}]
    for root in args.runs:
        for metrics in sorted(Path(root).rglob("metrics.json")):
            rows += run_rows(metrics.parent)
    out, text = Path(args.out), page(rows, anchors)
    lost = sorted(figure_keys(out.read_text()) - figure_keys(text)) if out.exists() else []
    if lost and not args.drop_missing:
        shown = "; ".join(f"{model}, {kind} on {data}" for data, model, kind in lost[:3])
        raise SystemExit(
            f"{out} is left as it is: {len(lost)} of its figures have no bench JSON or run folder here "
            f"({shown}{', ...' if len(lost) > 3 else ''}); name their run folders with --runs, or pass "
            "--drop-missing to drop them from the page"
        )
    out.write_text(text)
    print(
        f"wrote {args.out}: {len(rows)} figures on {len({r['data'] for r in rows})} data sets, {len(anchors)} anchors"
    )


if __name__ == "__main__":
    main()
