"""Pictures for a run folder: the training curve and piano rolls."""

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
    ax.plot(epochs, [h["valid_nats_per_step"] for h in history], marker="o",
            label=f"valid NLL ({history[-1]['valid_kind']})")
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
        ax.imshow(roll.T.numpy(), aspect="auto", origin="lower", cmap="Greys", interpolation="nearest",
                  extent=(0, roll.shape[0], lowest_midi, lowest_midi + roll.shape[1]))
        ax.set_ylabel("MIDI pitch")
        if titles:
            ax.set_title(titles[i], fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("frame")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_strokes(drawings: list[list], path: Path, titles: list[str] | None = None, ncols: int = 4,
                 row_labels: list[str] | None = None, given: list[list | None] | None = None) -> None:
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
