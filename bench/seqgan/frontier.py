"""SeqGAN's table against the MLE generator's temperature frontier (Caccia et al. 2018): an
adversarial row gains over MLE only where it lies below the curve of the MLE generator sampled at
temperature tau."""

from __future__ import annotations

from pathlib import Path

import numpy

from bench.common import spread
from bench.seqgan.cells import LABELS, ROWS
from bench.seqgan.measure import frontier_of, settings


def traced_cells(payload: dict, args) -> dict[str, dict]:
    """{seed: MLE cell} of the seeds whose frontier was traced at --temperatures."""
    cells = payload["results"].get("mle", {}).get("seeds", {})
    return {seed: c for seed, c in cells.items() if args.temperatures and frontier_of(c) == args.temperatures}


def adversarial_cells(payload: dict, args):
    """(row, seed, cell) of every adversarial cell measured as this invocation measures."""
    for row in ROWS:
        if row in ("untrained", "mle"):
            continue
        for seed, cell in payload["results"].get(row, {}).get("seeds", {}).items():
            if cell.get("settings") == settings(args):
                yield row, seed, cell


def efficient_branch(frontier: list[dict]) -> list[tuple[float, float]]:
    """(NLL-test, NLL-oracle) of the traced temperatures from the coldest up to the one with the
    lowest NLL-test, in increasing NLL-test: the part of the curve that trades one for the other
    (a warmer tau than that one is worse on both)."""
    points = sorted(frontier, key=lambda p: p["temperature"])
    tests = [p["nll_test"]["nats_per_step"] for p in points]
    warmest = tests.index(min(tests))
    return sorted((p["nll_test"]["nats_per_step"], p["nll_oracle"]["nats_per_step"]) for p in points[: warmest + 1])


def frontier_gains(payload: dict, args) -> dict[str, dict[str, tuple[float, float, float | None]]]:
    """{row: {seed: (NLL-test, NLL-oracle, the curve's NLL-oracle at that NLL-test)}} for every
    adversarial cell of a seed whose MLE curve was traced, the curve's value linear between its
    traced points on the efficient branch; None for a cell outside the branch's NLL-test range."""
    curves = {seed: efficient_branch(c["frontier"]) for seed, c in traced_cells(payload, args).items()}
    out = {}
    for row, seed, cell in adversarial_cells(payload, args):
        if seed not in curves:
            continue
        test, oracle = cell["nll_test"]["nats_per_step"], cell["nll_oracle"]["nats_per_step"]
        xs, ys = zip(*curves[seed])
        curve = float(numpy.interp(test, xs, ys)) if xs[0] <= test <= xs[-1] else None
        out.setdefault(row, {})[seed] = (test, oracle, curve)
    return out


def frontier_table(payload: dict, args) -> list[str]:
    """The MLE generator sampled at each temperature tau (zoo.evaluation.temperature), mean ± sd
    over the seeds that traced it at --temperatures, and each adversarial row against it; []
    when no seed traced it."""
    cells = list(traced_cells(payload, args).values())
    if not cells:
        return []
    lines = [
        f"The MLE generator at sampling temperature tau (Caccia et al. 2018): NLL-oracle of {args.samples:,} "
        "draws from softmax(logits / tau), and that tempered model's exact NLL-test; an adversarial row gains "
        f"over MLE only where it lies below this curve. {len(cells)} seed(s).",
        "",
        "| tau | NLL-oracle | NLL-test (exact, tempered) |",
        "|---|---|---|",
    ]
    for i, tau in enumerate(args.temperatures):
        oracle = spread([c["frontier"][i]["nll_oracle"]["nats_per_step"] for c in cells])
        test = spread([c["frontier"][i]["nll_test"]["nats_per_step"] for c in cells])
        lines.append(f"| {tau:g} | {oracle} | {test} |")
    gains = frontier_gains(payload, args)
    if not gains:
        return lines
    lines += [
        "",
        "Each adversarial cell against its own seed's curve at the cell's NLL-test (linear between the traced "
        "temperatures up to the one of lowest NLL-test; below 0: a lower NLL-oracle than a temperature of the MLE "
        "generator gives):",
        "",
        "| generator | NLL-test | NLL-oracle | the curve's NLL-oracle there | difference | seeds |",
        "|---|---|---|---|---|---|",
    ]
    outside = []
    for row, points in gains.items():
        inside = {seed: p for seed, p in points.items() if p[2] is not None}
        outside += [f"{LABELS[row]}, seed {seed} (NLL-test {p[0]:.3f})" for seed, p in points.items() if p[2] is None]
        if inside:
            test, oracle, curve = map(list, zip(*inside.values()))
            difference = spread([o - c for o, c in zip(oracle, curve)])
            lines.append(
                f"| {LABELS[row]} | {spread(test)} | {spread(oracle)} | {spread(curve)} | {difference} | "
                f"{' '.join(inside)} |"
            )
    if outside:
        lines += ["", f"Outside the traced temperatures' NLL-test range: {'; '.join(outside)}."]
    return lines


def plot_frontier(payload: dict, args, path: Path, others: dict[str, dict] | None = None) -> bool:
    """NLL-oracle against NLL-test: the MLE generator's temperature curve, a line per seed, and
    every adversarial cell as a point (lower left is better on both), with those of `others`
    ({tag: payload} of grids on the same MLE generators) labelled by their tag. False when no
    seed traced the curve."""
    from zoo.reports.plots import plot_learning_curves

    def point(cell: dict) -> tuple[float, float]:
        return cell["nll_test"]["nats_per_step"], cell["nll_oracle"]["nats_per_step"]

    mle = traced_cells(payload, args)
    if not mle:
        return False
    curves = {"MLE at temperature tau (Caccia et al. 2018)": [[point(p) for p in c["frontier"]] for c in mle.values()]}
    for tag, grid in {args.tag: payload, **(others or {})}.items():
        for row, _, cell in adversarial_cells(grid, args):
            curves.setdefault(f"{LABELS[row]} ({tag})", []).append([point(cell)])
    plot_learning_curves(
        curves, path, "NLL-oracle, nats per token", xlabel="NLL-test (exact), nats per token", markersize=6
    )
    return True
