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
