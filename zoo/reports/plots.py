"""Pictures for a run folder: the training curve, piano rolls, pen strokes and reliability diagrams."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def plot_curve(history: list[dict], path: Path) -> None:
    """Training loss and validation NLL (nats per step) against epoch."""
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(epochs, [h["train_loss"] for h in history], marker="o", label="train loss (objective)")
    ax.plot(
        epochs,
        [h["valid_nats_per_step"] for h in history],
        marker="o",
        label=f"valid NLL ({history[-1]['valid_kind']})",
    )
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per step")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_piano_rolls(rolls: torch.Tensor, path: Path, lowest_midi: int = 21, titles: list[str] | None = None) -> None:
    """rolls (N, T, 88) binary -> one panel per roll, time across, pitch up; optional panel titles."""
    n = rolls.shape[0]
    fig, axes = plt.subplots(n, 1, figsize=(10, 2.2 * n), squeeze=False)
    for i, (roll, ax) in enumerate(zip(rolls, axes[:, 0])):
        ax.imshow(
            roll.T.numpy(),
            aspect="auto",
            origin="lower",
            cmap="Greys",
            interpolation="nearest",
            extent=(0, roll.shape[0], lowest_midi, lowest_midi + roll.shape[1]),
        )
        ax.set_ylabel("MIDI pitch")
        if titles:
            ax.set_title(titles[i], fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("frame")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_strokes(
    drawings: list[list],
    path: Path,
    titles: list[str] | None = None,
    ncols: int = 4,
    row_labels: list[str] | None = None,
    given: list[list | None] | None = None,
) -> None:
    """Drawings (each a list of (N_k, 2) pen positions, one line per stroke, strokes in alternating
    colours) on a grid, ncols across, equal axes; optional panel titles, row labels (for example
    the sampling bias of a row), and per panel a `given` drawing laid over it in thick grey (the
    prime of a continuation)."""
    n = len(drawings)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols, 2.4 * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.axis("off")
            continue
        for k, stroke in enumerate(drawings[i]):
            ax.plot(stroke[:, 0], stroke[:, 1], color="C0" if k % 2 == 0 else "C3", linewidth=1.2)
        for stroke in (given[i] or []) if given else []:
            ax.plot(stroke[:, 0], stroke[:, 1], color="0.6", linewidth=3, zorder=0)
        ax.set_aspect("equal", adjustable="datalim")
        if titles:
            ax.set_title(titles[i], fontsize=8)
        if row_labels and i % ncols == 0:
            ax.set_ylabel(row_labels[i // ncols], fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_reliability(calibration: dict, path: Path, title: str | None = None) -> None:
    """A reliability diagram (Guo et al. 2017, figure 1) from zoo.evaluation.calibration's bins: the
    accuracy of each confidence bin against the diagonal of perfect calibration, the gap to the
    bin's mean confidence shaded, and below it the share of predictions in each bin."""
    edges = calibration["edges"]
    width = edges[1] - edges[0]
    lefts = edges[:-1]
    filled = [i for i, a in enumerate(calibration["accuracies"]) if a is not None]
    accuracy = [calibration["accuracies"][i] for i in filled]
    confidence = [calibration["confidences"][i] for i in filled]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.bar(
        [lefts[i] for i in filled],
        accuracy,
        width=width,
        align="edge",
        color="C0",
        edgecolor="k",
        linewidth=0.5,
        label="accuracy",
    )
    top.bar(
        [lefts[i] for i in filled],
        [c - a for c, a in zip(confidence, accuracy)],
        bottom=accuracy,
        width=width,
        align="edge",
        color="C3",
        alpha=0.3,
        edgecolor="C3",
        linewidth=0.5,
        label="gap to mean confidence",
    )
    top.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    top.set_ylabel("accuracy of top-1 prediction")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.legend(loc="upper left", fontsize=8)
    top.set_title(title or f"ECE {calibration['ece']:.4f} ({calibration.get('kind', '')})", fontsize=10)
    share = [c / max(1, calibration["num_predictions"]) for c in calibration["counts"]]
    bottom.bar(lefts, share, width=width, align="edge", color="0.5", edgecolor="k", linewidth=0.5)
    bottom.set_xlabel("confidence of top-1 prediction")
    bottom.set_ylabel("share of steps")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_learning_curves(
    curves: dict[str, list[list[tuple[float, float]]]],
    path: Path,
    ylabel: str,
    title: str | None = None,
    xlabel: str = "training minutes",
    markersize: float = 3,
) -> None:
    """Validation figures against training time: per name one colour, and one line of
    (minutes, figure) points, or (step, figure) with xlabel="training step", for each of its
    runs (seeds)."""
    plot_learning_curve_panels({ylabel: curves}, path, title, xlabel, markersize)


def plot_learning_curve_panels(
    panels: dict[str, dict[str, list[list[tuple[float, float]]]]],
    path: Path,
    title: str | None = None,
    xlabel: str = "training minutes",
    markersize: float = 3,
) -> None:
    """plot_learning_curves with one panel per kind of figure, side by side, each named by its y
    label (exact NLL beside -ELBO, whose scale would flatten it): a name keeps its colour in
    every panel."""
    colour = {name: f"C{i % 10}" for i, name in enumerate(dict.fromkeys(n for c in panels.values() for n in c))}
    fig, axes = plt.subplots(1, len(panels), figsize=(7 if len(panels) == 1 else 6 * len(panels), 4.5), squeeze=False)
    for ax, (ylabel, curves) in zip(axes[0], panels.items()):
        for name, runs in curves.items():
            for j, points in enumerate(r for r in runs if r):
                minutes, figures = zip(*points)
                ax.plot(
                    minutes,
                    figures,
                    marker="o",
                    markersize=markersize,
                    color=colour[name],
                    alpha=0.9 if j == 0 else 0.5,
                    label=name if j == 0 else None,
                )
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if curves:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    if title and len(panels) == 1:
        axes[0][0].set_title(title, fontsize=10)
    elif title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
