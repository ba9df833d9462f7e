"""SeqGAN's table: the oracle's grid trained and measured cell by cell, printed in Markdown with
the published figures beside it, its JSON and its pictures."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import torch

from bench.common import command_line, compose_config, spread, update_json
from bench.seqgan.cells import LABELS, ROWS, grid_file, mle_overrides, train_cell, warmup_steps
from bench.seqgan.frontier import frontier_table, plot_frontier
from bench.seqgan.measure import BLEU_ORDERS, measure_cell, oracle_rows, settings
from zoo.training.devices import describe_device

# NLL-oracle on SeqGAN's released oracle, nats per token, as published. `checked` says where a
# figure was confirmed: no stored copy of the papers' tables was found, only a results aggregator
# (wizwand.com) that lists each paper's synthetic-data result; "as cited" figures are quoted as
# they are commonly cited, unconfirmed.
PUBLISHED = [
    {
        "name": "random (Yu et al. 2017, Table 1)",
        "value": 10.310,
        "source": "Yu et al. 2017, arXiv 1609.05473",
        "checked": "as cited",
    },
    {
        "name": "MLE (Yu et al. 2017, Table 1)",
        "value": 9.038,
        "source": "Yu et al. 2017, arXiv 1609.05473",
        "checked": "as cited",
    },
    {
        "name": "scheduled sampling (Yu et al. 2017, Table 1)",
        "value": 8.985,
        "source": "Yu et al. 2017, arXiv 1609.05473",
        "checked": "as cited",
    },
    {
        "name": "PG-BLEU (Yu et al. 2017, Table 1)",
        "value": 8.946,
        "source": "Yu et al. 2017, arXiv 1609.05473",
        "checked": "as cited",
    },
    {
        "name": "SeqGAN (Yu et al. 2017, Table 1)",
        "value": 8.736,
        "source": "Yu et al. 2017, arXiv 1609.05473",
        "checked": "8.736 listed for SeqGAN's synthetic data (length 20) on wizwand.com; not in a copy of the paper",
    },
    {
        "name": "RankGAN (Lin et al. 2017)",
        "value": 8.247,
        "source": "Lin et al. 2017, arXiv 1705.11001",
        "checked": "8.247 listed for RankGAN's synthetic data on wizwand.com; not in a copy of the paper",
    },
    {
        "name": "LeakGAN (Guo et al. 2018), sequences of 20",
        "value": 7.038,
        "source": "Guo et al. 2018, arXiv 1709.08624",
        "checked": "as cited; the paper reports lengths 20 and 40, and its released length-20 log falls to "
        "about 7.0, but the table itself was not found",
    },
    {
        "name": "RelGAN (Nie et al. 2019)",
        "value": 6.680,
        "source": "Nie et al. 2019, ICLR, openreview rJedV3R5tm",
        "checked": "as cited",
    },
]


def plot_curves(payload: dict, path: Path) -> None:
    """NLL-oracle against generator updates, a colour per row and a line per seed."""
    from zoo.reports.plots import plot_learning_curves

    curves = {
        LABELS.get(row, row): [cell.get("curve") or [] for cell in entry["seeds"].values()]
        for row, entry in payload["results"].items()
    }
    curves = {name: runs for name, runs in curves.items() if any(runs)}
    if curves:
        plot_learning_curves(curves, path, "NLL-oracle, nats per token", xlabel="generator updates")


def bleus(cells: list[dict], prefix: str) -> str:
    return " / ".join(f"{statistics.fmean(c['bleu'][f'{prefix}{n}'] for c in cells):.3f}" for n in BLEU_ORDERS)


def budget_lines(args) -> list[str]:
    """What the rows were given, in words, for the table's header."""
    cap = f", capped at {args.mle_minutes:g} minutes of wall time" if args.mle_minutes else ""
    if args.mle_schedule == "paper":
        mle = (
            f"budget: MLE on SeqGAN's schedule, 120 epochs (18,720 steps of 64, Adam 0.01, no early stop{cap}, "
            f"last checkpoint{', weights drawn from N(0, 0.1^2)' if args.paper else ''})"
        )
    else:
        mle = (
            f"budget: MLE at most {args.mle_steps:,} steps of {args.batch} (Adam {args.lr:g}, halved on a plateau, "
            f"early stop on {args.valid_limit} validation sequences{cap}, best checkpoint)"
        )
    given = [f"--options, which override the above where they meet: {' '.join(args.options)}"] if args.options else []
    if args.paper:
        return [
            f"{mle}. Every adversarial row starts from it at its own paper's schedule. "
            f"SeqGAN rows: D warm-up {warmup_steps(args)} steps (fills the pool), then SeqGAN's D schedule "
            "(Adam 1e-4; 50 rounds of 10,000 fresh negatives x 3 epochs, then 5 such rounds before each "
            f"generator step), 200 generator steps, Adam 0.01, {args.rollouts} rollouts, rewards without a "
            "baseline. gumbel_gan: RelGAN's 3,000 steps, 5 D steps each, Adam 1e-4, beta_max 100.",
            *given,
        ]
    if args.adversarial_steps:
        each = f"{args.adversarial_steps} generator updates each"
    else:
        each = f"{args.adversarial_minutes:g} minutes of wall time each (train.max_minutes, D's warm-up included)"
    return [
        f"{mle}; every adversarial row starts from its seed's MLE checkpoint (train.init) with {each}, "
        f"Adam {args.adversarial_lr:g}.",
        f"SeqGAN: D alone for {warmup_steps(args)} steps, then 1 D step (Adam 1e-3) per generator step "
        f"with {args.rollouts} rollouts; gumbel_gan ({args.gumbel_discriminator} D): 5 D steps (Adam 1e-4) "
        "per generator step, beta rising from 1 towards 1000 over 5,000 steps. SeqGAN's own schedule "
        "(--paper: 18,720 MLE steps; 200 generator steps, each after 4,680 D updates) is far larger.",
        *given,
    ]


def table(payload: dict, args) -> list[str]:
    """The table, in Markdown: our rows (mean ± sd over seeds), the oracle's and the
    uniform generator's, then the published figures."""
    results, refs = payload["results"], payload["references"]
    two = args.two_sample
    head = ["generator", "NLL-oracle", "NLL-test (exact)", "BLEU-2/3/4/5", "self-BLEU-2/3/4/5"]
    head += [f"2-sample acc. (N={two})"] if two else []
    head += ["its own D: acc. held out (train reals called real)", "G updates", "minutes", "seeds"]

    def markdown(cells: list[str]) -> str:  # a table row, blank in the columns after `cells`
        return "| " + " | ".join(cells + [""] * (len(head) - len(cells))) + " |"

    lines = [markdown(head), "|" + "---|" * len(head)]
    for row in ROWS:  # the cells measured as this invocation measures (others are redone when their seeds run)
        seeds = {k: c for k, c in results.get(row, {}).get("seeds", {}).items() if c.get("settings") == settings(args)}
        cells = list(seeds.values())
        if not cells:
            continue
        line = [
            LABELS[row],
            spread([c["nll_oracle"]["nats_per_step"] for c in cells]),
            spread([c["nll_test"]["nats_per_step"] for c in cells]),
            bleus(cells, "bleu_"),
            bleus(cells, "self_bleu_"),
        ]
        if two:
            accuracies = [c["two_sample"]["accuracy"] for c in cells if "two_sample" in c]
            line.append(spread(accuracies) if accuracies else "—")
        critics = [c["critic"] for c in cells if "critic" in c]
        own_d = f"{spread([c['accuracy'] for c in critics])} ({spread([c['train_called_real'] for c in critics])})"
        line += [
            own_d if critics else "—",
            spread([c["generator_updates"] for c in cells], 0),
            spread([c["minutes"] for c in cells], 1),
            " ".join(sorted(seeds, key=int)),
        ]
        lines.append(markdown(line))
    own = refs["oracle"]
    line = [
        f"the oracle's own held-out sequences ({own['n']})",
        f"{own['nll_oracle']['nats_per_step']:.3f}",
        f"{own['nll_test']['nats_per_step']:.3f}",
        " / ".join(f"{own['bleu'][f'bleu_{n}']:.3f}" for n in BLEU_ORDERS),
        " / ".join(f"{own['bleu'][f'self_bleu_{n}']:.3f}" for n in BLEU_ORDERS),
    ]
    lines.append(markdown(line + ["0.5 by construction"] * bool(two)))
    uniform = refs["uniform"]
    line = [
        "uniform tokens",
        f"{uniform['nll_oracle']['nats_per_step']:.3f}",
        f"{uniform['nll_test']['nats_per_step']:.3f}",
        "",
        "",
    ]
    lines.append(markdown(line))
    return lines


def published_lines(oracle: str) -> list[str]:
    where = "the same oracle" if oracle == "seqgan" else "SeqGAN's oracle, not this one: compare in scale only"
    lines = [
        f"Published NLL-oracle, nats per token ({where}; their budgets, their generators):",
        "",
        "| method | NLL-oracle | source | checked |",
        "|---|---|---|---|",
    ]
    lines += [f"| {p['name']} | {p['value']:.3f} | {p['source']} | {p['checked']} |" for p in PUBLISHED]
    return lines


def add_cell(out: Path, args, row: str, seed: int, cell: dict, extra: dict) -> dict:
    """One cell into the bench's JSON, so invocations add to one file; returns the whole payload."""

    def update(payload: dict) -> None:
        row_entry = payload["results"].setdefault(row, {"seeds": {}})
        row_entry["seeds"][str(seed)] = cell
        row_entry["minutes"] = statistics.fmean(c["minutes"] for c in row_entry["seeds"].values())
        row_entry["command"] = cell["command"]
        payload.update(extra, args=vars(args), command=command_line(), hardware=describe_device("cpu"))

    return update_json(out, update)


def oracle_table(args) -> None:
    from hydra.utils import instantiate

    from zoo.data.oracle import oracle_for
    from zoo.evaluation.sample_stats import NgramMaxima

    torch.set_num_threads(args.threads)
    data = instantiate(compose_config(mle_overrides(args, args.seeds[0])).data)
    args.num_train = len(data.train)
    oracle = oracle_for(data)
    references = NgramMaxima([s.tolist() for s in data.test], max(BLEU_ORDERS))
    out = grid_file(args)
    name = (
        "SeqGAN's oracle (LantaoYu/SeqGAN target_params_py3.pkl)"
        if args.oracle == "seqgan"
        else f"a random N(0, 1) oracle (seed {data.info['oracle'].get('seed')})"
    )
    drawn = "" if args.oracle == "seqgan" else f" (data.seed={data.info['oracle'].get('seed')})"
    extra = {
        "data": f"oracle, data.oracle={args.oracle}{drawn}",
        "references": oracle_rows(args, data, oracle, references),
        "budget": budget_lines(args),
        "published": PUBLISHED,
        "anchors": {p["name"]: p["value"] for p in PUBLISHED},
    }
    if out.exists() and json.loads(out.read_text()).get("budget") != extra["budget"]:
        raise SystemExit(
            f"error: {out} holds cells trained on another budget ("
            f"{' '.join(json.loads(out.read_text()).get('budget') or ['none recorded'])}); "
            f"give this budget another --tag"
        )
    grids = {tag: grid_file(args, tag) for tag in args.frontier_also}
    missing = [str(path) for path in grids.values() if not path.exists()]
    if missing:  # before any cell trains, not after
        raise SystemExit(f"error: --frontier-also names grids that are not there: {', '.join(missing)}")
    payload = json.loads(out.read_text()) if out.exists() else {"results": {}, **extra}
    for seed in args.seeds:
        for row in args.rows:
            if row != "untrained" and not train_cell(args, row, seed):
                continue
            cell = measure_cell(args, row, seed, data, oracle, references)
            if cell is not None:
                payload = add_cell(out, args, row, seed, cell, extra)
    T, V = oracle.length, oracle.vocab_size
    print(
        f"\n{name}: V={V}, T={T}; {len(data.train):,} training, {len(data.test):,} test sequences. "
        f"char_lstm (embedding {args.embedding}, hidden {args.hidden}), batch {args.batch}, each cell on "
        f"{args.threads} CPU thread(s); nats per token, mean ± sd over seeds."
    )
    for line in payload.get("budget", []):
        print(line)
    print(
        f"NLL-oracle of {args.samples:,} drawn sequences; NLL-test on the {args.test_limit or len(data.test):,} "
        f"test sequences; BLEU of {args.bleu_samples} drawn sequences against the {len(data.test):,} test "
        "sequences as references, self-BLEU among the drawn ones.\n"
    )
    print("\n".join(table(payload, args)))
    print()
    frontier_lines = frontier_table(payload, args)
    if frontier_lines:
        print("\n".join(frontier_lines))
        print()
    print("\n".join(published_lines(args.oracle)))
    plot_curves(payload, out.with_suffix(".png"))
    print(f"\nwrote {out} and its NLL-oracle curves, {out.with_suffix('.png').name}")
    frontier = out.with_name(f"{out.stem}_frontier.png")
    others = {tag: json.loads(path.read_text()) for tag, path in grids.items()}  # as they are now
    if plot_frontier(payload, args, frontier, others):
        print(f"and NLL-oracle against NLL-test beside the temperature frontier, {frontier.name}")
