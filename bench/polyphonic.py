"""The polyphonic music table: every state-space model on the four Boulanger-Lewandowski sets.

    python -m bench.polyphonic [--sets jsb_chorales nottingham] [--models vrnn srnn] [--minutes 5]
                               [--seeds 0 1 2] [--particles 500] [--tag short]
    python -m bench.polyphonic --speed [--sets musedata]      # training frames per second

Each cell (data set, model, seed, budget) is one command, `python -m zoo.run model=... data=...
train.max_minutes=... train.seed=...`, followed by `python -m zoo.evaluate` of its best
checkpoint on the whole test pieces with K particles: -ELBO, -IWAE (K) and, for a filtering
guide, -FIVO (K), in nats per frame, with the share of test pieces whose importance weights
have Pareto k >= 0.7 and the median effective sample size. Cells live in
bench/results/polyphonic/<tag>/<set>/<model>/seed<k>/; a finished cell is skipped, an
interrupted one resumes, so the table accumulates over several invocations. `--continue-from
TAG` starts each new cell from the last checkpoint of the same cell in grid TAG (its optimiser,
step-size schedule and elapsed minutes), so a finished grid's budget can grow without training
its first minutes again: `--minutes` is the whole run's. Every cell
records its commands, budget, hardware and learning curve in bench/results/polyphonic_<tag>.json,
and docs/polyphonic.md is generated from it with the published figures beside ours and each
set's learning curves (docs/images/polyphonic_<tag>_<set>.png).

--speed trains each model for a fixed number of steps on the same training windows and
prints frames per second next to char_lstm's (a ratio measured in the same run), with the
FLOPs per frame of the matrix products of one step and their ratio to char_lstm's: a cost
ratio above the FLOPs ratio is what the model's loop and small tensors add.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import re
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

from bench.common import (
    command_line,
    compose_config,
    options_for,
    recorded_commands,
    relative,
    spread,
    train_then_evaluate,
    update_json,
    write_json,
)
from bench.common import learning_curve as run_curve
from zoo.training.devices import describe_device

RESULTS = Path(__file__).parent / "results"
DOCS_PAGE = Path(__file__).parents[1] / "docs" / "polyphonic.md"
SETS = ("jsb_chorales", "nottingham", "musedata", "piano_midi")

# model name -> the zoo.run options that make it
MODELS = {
    "char_lstm": ["model=char_lstm", "model.net.emission=bernoulli"],
    "rnn_nade": ["model=char_lstm", "model.net.emission=nade"],
    "vrnn": ["model=vrnn", "guide=vrnn_filtering"],
    "vrnn_nade": ["model=vrnn", "guide=vrnn_filtering", "model.net.emission=nade"],
    "vrnn_nade_smoothing": ["model=vrnn", "guide=vrnn_smoothing", "model.net.emission=nade"],
    "vrnn_fivo": ["model=vrnn", "guide=vrnn_filtering", "objective=fivo"],
    "srnn": ["model=srnn", "guide=srnn_smoothing"],
    "srnn_nade": ["model=srnn", "guide=srnn_smoothing", "model.net.emission=nade"],
    "dmm": ["model=dmm", "guide=dmm"],
    "dmm_iaf1": ["model=dmm", "guide=dmm", "guide.flows=1"],
    "dmm_iaf": ["model=dmm", "guide=dmm", "guide.flows=2"],
}

# Published test NLL, nats per frame: JSB / Nottingham / MuseData / Piano-midi. SRNN's JSB figure
# is per eighth-note frame (zoo.data.frame_rate), the scale of cells run with data.frame_repeat=2.
SRNN = "SRNN (Fraccaro et al. 2016, polyphonic music table; JSB per eighth-note frame)"
PUBLISHED = {
    "RNN-RBM (Boulanger-Lewandowski et al. 2012)": (6.27, 2.39, 6.01, 7.09),
    "RNN-NADE (Boulanger-Lewandowski et al. 2012)": (5.56, None, None, None),
    "STORN (Bayer & Osendorfer 2014)": (6.91, 2.85, 6.16, 7.13),
    SRNN: (4.74, 2.94, 6.28, 8.20),
    "DMM, importance sampled (Krishnan et al. 2017)": (6.39, None, None, None),
}


def cell_dir(tag: str, data: str, model: str, seed: int) -> Path:
    return RESULTS / "polyphonic" / tag / data / model / f"seed{seed}"


def run_cell(args, data: str, model: str, seed: int) -> dict | None:
    """Train (or resume, or skip) one cell, evaluate its best checkpoint, and return its row."""
    folder = cell_dir(args.tag, data, model, seed)
    train = [
        "zoo.run",
        *MODELS[model],
        f"data={data}",
        f"train.max_minutes={args.minutes}",
        "train.max_epochs=100000",
        f"train.seed={seed}",
        "train.progress=false",
        f"train.steps_per_epoch={args.steps_per_epoch}",
        f"train.patience={args.patience}",
        "evaluate.num_particles=2",
        "evaluate.test_limit=2",
        f"hydra.run.dir={relative(folder)}",
        *options_for(args.options, model),
    ]
    evaluate = [
        "zoo.evaluate",
        f"run={relative(folder)}",
        f"num_particles={args.particles}",
        f"num_samples={args.samples}",
        f"batch_size={args.eval_batch}",
    ]
    # a continued cell's recipe starts from the same cell of the other grid; it stays in its command
    source = cell_dir(args.continue_from, data, model, seed) if args.continue_from else None
    done = train_then_evaluate(
        folder,
        train,
        evaluate,
        f"{data} / {model} / seed {seed}",
        source,
        args.threads,
        current=lambda result: result.get("num_particles") == args.particles,
        stamp={"num_particles": args.particles},
        evaluating=f"evaluating with K={args.particles}",
    )
    if done is None:
        return None
    metrics, result = done
    diagnostics = result.get("diagnostics") or {}
    ess = diagnostics.get("ess")
    return {
        "test": result["figures"],
        "minutes": metrics["minutes"],
        "epochs": metrics["epochs"],
        "status": metrics["status"],
        "eval_minutes": result.get("eval_minutes"),
        "share_k_over_0.7": diagnostics.get("fraction_k_over_0.7"),
        "median_ess": statistics.median(ess) if ess else None,
        "commands": recorded_commands(train, evaluate, source),
        "hardware": metrics.get("hardware"),
        **learning_curve(folder),
    }


def learning_curve(folder: Path) -> dict:
    """{"curve": [(training minutes, validation nats per frame)] of each epoch, "valid_kind"} from
    a cell's metrics.csv; {} when the cell's folder is gone."""
    curve, valid_kind = run_curve(folder)
    return {"curve": curve, "valid_kind": valid_kind} if curve else {}


def best_figure(row: dict) -> dict:
    """The tightest bound of a cell (lowest NLL): exact, -IWAE or -FIVO."""
    return min(row["test"], key=lambda f: f["nats_per_step"])


def extra_options(row: dict) -> list[str]:
    """The zoo.run options a cell was trained with beyond the grid's own (--options); and
    `train.patience=3` for a cell that stopped early before the grid named its patience, since
    3 was the default then (and stopped each run at the epoch its step size first halved)."""
    train = row["commands"][0].split()
    after = next((i + 1 for i, token in enumerate(train) if token.startswith("hydra.run.dir=")), len(train))
    budget = next(float(t.split("=")[1]) for t in train if t.startswith("train.max_minutes="))
    early = row["minutes"] < 0.9 * budget and row["epochs"] > 3  # patience 3 stops at the 4th epoch at the soonest
    old_patience = early and not any(t.startswith("train.patience=") for t in train)
    beyond = [t for t in train[after:] if not t.startswith("train.resume=")]  # the header names a continued grid
    return ["train.patience=3"] * old_patience + beyond


def over_seeds(rows: list[dict]) -> tuple[float, str]:
    """The mean of a cell's tightest figure over its seeds, and its text: "mean ± sd (kind, n seeds"."""
    values = [best_figure(r)["nats_per_step"] for r in rows]
    seeds = f"{len(values)} seed{'s' if len(values) > 1 else ''}"
    return statistics.mean(values), f"{spread(values, 2)} ({best_figure(rows[0])['kind']}, {seeds}"


def frame_repeat(row: dict) -> int:
    """The data.frame_repeat a cell was trained with (1 unless its command names one)."""
    named = [t for t in row["commands"][0].split() if t.startswith("data.frame_repeat=")]
    return int(named[-1].split("=")[1]) if named else 1


def standings(payloads: list[dict]) -> list[str]:
    """Markdown rows: for each set and frame rate, the best cell of every grid (lowest mean test
    figure among cells of at least 3 seeds, or of any when none has 3), beside SRNN's figure
    where it is on the same scale."""
    best = {}  # (set, frame_repeat) -> (enough seeds, mean, its cell's text)
    for payload in payloads:
        for data, models in payload["results"].items():
            for model, seeds in models.items():
                rows = list(seeds.values())
                mean, figure = over_seeds(rows)
                text = f"{figure}; {model}, `--tag {payload['args']['tag']}`)"
                key, rank = (data, frame_repeat(rows[0])), (len(rows) < 3, mean)
                if key not in best or rank < best[key][0]:
                    best[key] = (rank, text)
    srnn = dict(zip(SETS, PUBLISHED[SRNN]))
    lines = ["| set | frames | our best cell | SRNN (Fraccaro et al. 2016) |", "|---|---|---|---|"]
    for (data, repeat), (_, text) in sorted(best.items(), key=lambda kv: (SETS.index(kv[0][0]), kv[0][1])):
        frames = (
            "as published" if repeat == 1 else f"each published frame {repeat} times (`data.frame_repeat={repeat}`)"
        )
        theirs = on_scale(SRNN, data, srnn[data], {repeat}) or "on another scale"
        lines.append(f"| {data} | {frames} | {text} | {theirs} |")
    return lines


def in_table_order(model: str) -> tuple[int, str]:
    """Sort key of a model's row: MODELS' order; a model a grid holds but MODELS no longer lists
    comes after them, by name."""
    order = list(MODELS)
    return (order.index(model) if model in order else len(order), model)


def table(results: dict, sets) -> list[str]:
    """Markdown rows: each model's tightest test figure per set, mean ± sd over seeds."""
    lines = ["| model | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets)]
    models = sorted({m for s in results.values() for m in s}, key=in_table_order)
    for model in models:
        cells = []
        for data in sets:
            rows = list(results.get(data, {}).get(model, {}).values())
            if not rows:
                cells.append("")
                continue
            k = [r["share_k_over_0.7"] for r in rows if r.get("share_k_over_0.7") is not None]
            ess = [r["median_ess"] for r in rows if r.get("median_ess") is not None]
            share = f"; k≥0.7: {100 * statistics.mean(k):.0f}%" if k else ""
            share += f", median ESS {statistics.mean(ess):.1f}" if ess else ""
            minutes = statistics.mean(r["minutes"] for r in rows)
            extra = " ".join(f"`{o}`" for o in extra_options(rows[0]))
            cells.append(f"{over_seeds(rows)[1]}, {minutes:.0f} min{share}{'; ' + extra if extra else ''})")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    repeats = {data: {frame_repeat(r) for m in results.get(data, {}).values() for r in m.values()} for data in sets}
    for name, figures in PUBLISHED.items():
        shown = [on_scale(name, data, figures[SETS.index(data)], repeats[data]) for data in sets]
        if any(shown):
            lines.append(f"| {name} | " + " | ".join(shown) + " |")
    return lines


def on_scale(name: str, data: str, figure: float | None, repeats: set[int]) -> str:
    """A published figure as its cell shows it beside ours at the frame rates `repeats`: blank
    when it is on none of them (only SRNN's JSB figure is per eighth-note frame)."""
    scale = 2 if (name, data) == (SRNN, "jsb_chorales") else 1
    return "" if figure is None or scale not in repeats else f"{figure:.2f}"


def plot_curves(results: dict, tag: str, data: str) -> Path | None:
    """docs/images/polyphonic_<tag>_<set>.png: validation NLL against training minutes, one
    colour per model and one line per seed; None when no cell of the set kept its curve."""
    from zoo.reports.plots import plot_learning_curves

    curves = {}
    for model, seeds in sorted(results.get(data, {}).items(), key=lambda item: in_table_order(item[0])):
        for seed, row in seeds.items():
            found = row if "curve" in row else learning_curve(cell_dir(tag, data, model, int(seed)))
            if found.get("curve"):
                curves.setdefault(f"{model} ({found['valid_kind']})", []).append(found["curve"])
    if not curves:
        return None
    path = DOCS_PAGE.parent / "images" / f"polyphonic_{tag}_{data}.png"
    plot_learning_curves(curves, path, "validation NLL, nats per frame", f"{data}, --tag {tag}")
    return path


def tags_on_page() -> set[str]:
    """The grids docs/polyphonic.md has a section of: the tags of its `## `--tag <tag>`` headings."""
    if not DOCS_PAGE.exists():
        return set()
    return set(re.findall(r"^## `--tag ([^`]+)`", DOCS_PAGE.read_text(), flags=re.MULTILINE))


def write_page() -> bool:
    """docs/polyphonic.md from every grid's JSON (bench/results/polyphonic_<tag>.json), one
    section per tag, with each set's learning curves. A page with a grid whose JSON is not here
    is left as it is (rewriting it would drop that grid's table): returns whether it was written."""
    grids = [g for g in sorted(RESULTS.glob("polyphonic_*.json")) if not g.stem.startswith("polyphonic_speed")]
    missing = tags_on_page() - {grid.stem.removeprefix("polyphonic_") for grid in grids}
    if missing:
        logging.error(
            f"{DOCS_PAGE} is left as it is: it shows the grids {', '.join(sorted(missing))}, whose "
            f"polyphonic_<tag>.json are not in {RESULTS}; put them back, or delete those sections from "
            "the page, and run the bench again to regenerate it"
        )
        return False
    lines = [
        "# Polyphonic music",
        "",
        "Test negative log-likelihood in nats per frame on the four sets of Boulanger-Lewandowski et al. "
        "(2012), whole test pieces, the sum over the split divided by its frames. Each of our cells is the "
        "tightest bound measured (exact for char_lstm and RNN-NADE; -IWAE or -FIVO with the K the cell "
        "names for the latent-variable models), mean ± standard deviation over "
        "seeds, with the minutes it trained (early stopping may end it before its budget) and the share of "
        "test pieces whose importance weights have Pareto k ≥ 0.7 (the bound is unreliable there). "
        "Published figures below ours, with their sources. The VRNN trained with FIVO (Maddison et al. "
        "2017, Table 1) is not among them yet: its figures will be printed once checked against the "
        "paper's own table.",
        "",
        "SRNN's JSB figure is on another scale than every other JSB figure. The data file the authors' "
        "released code trains and scores on holds each published quarter-note frame twice in a row "
        "(9,396 test frames against 4,725; every other frame of each of its test chorales is ours "
        "exactly), so 4.74 is a figure per eighth-note frame, half of which repeat the frame before. It "
        "compares with cells run with `data.frame_repeat=2` (zoo.data.frame_rate), which divide by 9,450 "
        "frames, and the tables show it beside those alone; the other published JSB figures stand beside "
        "the quarter-note cells. Its other three figures come from files of the authors' own, "
        "with 5% more (MuseData) and 17% and 9% fewer (Nottingham, Piano-midi.de) test frames than the "
        "published rolls.",
    ]
    payloads = [json.loads(grid.read_text()) for grid in grids]
    lines += [
        "",
        "## Standings",
        "",
        "For each set and frame rate, the best cell across all grids below: the lowest mean test figure "
        "among cells of at least 3 seeds (of any number of seeds where no cell has 3). SRNN's figures on "
        "Nottingham, MuseData and Piano-midi.de come from the authors' own files, near the published "
        "rolls but not the same (see above).",
        "",
        *standings(payloads),
    ]
    for grid, payload in zip(grids, payloads):
        sets = [s for s in SETS if s in payload["results"]]
        if not sets:
            continue
        args = payload["args"]
        continued = f", continuing the cells of `--tag {args['continue_from']}`" if args.get("continue_from") else ""
        lines += [
            "",
            f"## `--tag {args['tag']}`: at most {args['minutes']:g} minutes of training per cell{continued}",
            "",
            *table(payload["results"], sets),
            "",
            f"Last generated by `{payload['command']}`; each cell ran on {args['threads']} CPU thread(s) "
            f"and its figure is what its budget bought. Each cell's commands and hardware are in "
            f"bench/results/{grid.name}.",
        ]
        for data in sets:
            path = plot_curves(payload["results"], args["tag"], data)
            if path is not None:
                lines += [
                    "",
                    f"![{data}, --tag {args['tag']}: validation NLL against training minutes]"
                    f"({path.relative_to(DOCS_PAGE.parent)})",
                ]
    DOCS_PAGE.write_text("\n".join(lines) + "\n")
    return True


def step_flops(objective, network, guide, batch) -> float:
    """Floating-point operations of the matrix products in one training step (loss and its
    gradient) per frame of `batch`, as torch.utils.flop_counter counts them. oneDNN is off while
    counting: its fused LSTM hides its products from the counter."""
    from torch.utils.flop_counter import FlopCounterMode

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="TF32 acceleration")  # the flags' context names every backend
        with torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as counter:
            objective(network, guide, batch, step=0).backward()
    for module in (network, guide):
        module.zero_grad()
    return counter.get_total_flops() / batch.num_steps


def speed(args) -> dict:
    """Training frames per second of each model on the same windows, and the matrix products'
    FLOPs per frame of one step, each over char_lstm's: the cost ratio over the FLOPs ratio is
    what a model's step costs beyond its arithmetic (its loop over t, small tensors)."""
    from zoo.run import build

    rates, flops = {}, {}
    for data in args.sets:
        for model in args.models:
            cfg = compose_config([*MODELS[model], f"data={data}", *options_for(args.options, model)])
            sequences, network, guide, objective = build(cfg)
            params = [p for m in (network, guide) for p in m.parameters()]
            optimizer = torch.optim.Adam(params, lr=1e-3)
            passes = (sequences.batches("train", cfg.train.batch_size, shuffle=True, seed=n) for n in itertools.count())
            batches = itertools.chain.from_iterable(passes)  # pass after pass: a small set has few batches a pass
            frames, seconds = 0, 0.0
            for step, batch in zip(range(args.speed_steps + 2), batches):
                if step == 0:
                    flops.setdefault(data, {})[model] = step_flops(objective, network, guide, batch)
                start = time.perf_counter()
                loss = objective(network, guide, batch, step=step)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if step >= 2:  # the first steps warm up allocators and caches
                    seconds += time.perf_counter() - start
                    frames += batch.num_steps
            rates.setdefault(data, {})[model] = frames / seconds
            logging.info(
                f"{data} {model}: {frames / seconds:,.0f} frames/s, {flops[data][model] / 1e6:,.1f} MFLOP/frame"
            )
    for data, by_model in rates.items():
        base, base_flops = by_model.get("char_lstm"), flops[data].get("char_lstm")
        for model, rate in by_model.items():
            ratio = ""
            if base:
                cost, work = base / rate, flops[data][model] / base_flops
                ratio = (
                    f"  cost per frame {cost:.2f}x char_lstm's, FLOPs per frame {work:.2f}x,"
                    f" time per FLOP {cost / work:.2f}x"
                )
            print(f"{data:13s} {model:20s} {rate:9,.0f} frames/s {flops[data][model] / 1e6:8.1f} MFLOP/frame{ratio}")
    return {"frames_per_second": rates, "flops_per_frame": flops}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="training budget of each cell")
    parser.add_argument("--steps-per-epoch", type=int, default=50)
    parser.add_argument("--patience", type=int, default=6, help="early stopping: validations without improvement")
    parser.add_argument("--particles", type=int, default=500, help="K of the test bounds")
    parser.add_argument("--samples", type=int, default=10, help="S weight draws, for variational weights")
    parser.add_argument("--eval-batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each cell's process")
    parser.add_argument("--tag", default="short", help="names the grid: bench/results/polyphonic_<tag>.json")
    parser.add_argument(
        "--continue-from",
        metavar="TAG",
        help="start each new cell from the same cell of grid TAG; --minutes counts that cell's minutes too",
    )
    parser.add_argument(
        "--options",
        nargs="*",
        default=[],
        help="more zoo.run options for every cell; `<model>:key=value` for one model's cells",
    )
    parser.add_argument("--speed", action="store_true", help="measure training frames per second instead")
    parser.add_argument("--speed-steps", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if args.speed:
        torch.set_num_threads(args.threads)
        write_json(f"polyphonic_speed_{args.tag}", {"args": vars(args), **speed(args)})
        return
    out = RESULTS / f"polyphonic_{args.tag}.json"
    for data in args.sets:
        for model in args.models:
            for seed in args.seeds:
                row = run_cell(args, data, model, seed)
                if row is not None:
                    add_cell(out, args, data, model, seed, row)
    if not out.exists():
        sys.exit(
            f"no cell of grid {args.tag!r} has finished: each failed cell's error is logged above, and its "
            f"run.log is in {RESULTS / 'polyphonic' / args.tag}"
        )
    payload = json.loads(out.read_text())
    print("\n".join(table(payload["results"], [s for s in SETS if s in payload["results"]])))
    if not write_page():
        sys.exit(1)


def add_cell(out: Path, args, data: str, model: str, seed: int, row: dict) -> None:
    """One cell into the grid's JSON, so that benches running side by side on other sets or
    models add to one file."""

    def update(payload: dict) -> None:
        payload["results"].setdefault(data, {}).setdefault(model, {})[str(seed)] = row
        payload.update(args=vars(args), command=command_line(), hardware=describe_device("cpu"))

    update_json(out, update)


if __name__ == "__main__":
    main()
