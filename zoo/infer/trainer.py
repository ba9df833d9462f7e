"""The training loop: any objective over any (model, guide), minibatch by minibatch.

Every loss is a differentiable scalar (Pyro's custom-objective style), stepped by a torch
optimiser over the model's and guide's parameters, so SVI and non-likelihood objectives
share one loop, one checkpoint format and one progress display.
"""

from __future__ import annotations

import csv
import itertools
import logging
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyro
import torch
from tqdm.auto import tqdm

from zoo.data.dataset import DataSpec, SequenceData
from zoo.infer.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from zoo.infer.likelihood import held_out_figures
from zoo.errors import ZooError

SCHEDULES = ("none", "plateau", "cosine")
log = logging.getLogger(__name__)


@dataclass
class TrainOptions:
    """How to train. Each field is one CLI option `train.<field>=...`."""

    max_epochs: int = 30  # validation rounds; an epoch is steps_per_epoch minibatches
    max_minutes: float | None = None  # stop (after validating) once training has run this long
    steps_per_epoch: int | None = None  # minibatches between validations (passes wrap); None = one pass
    batch_size: int = 64
    lr: float = 2e-3  # Adam's step size
    lr_schedule: str = "plateau"  # none | plateau (halve when validation stalls) | cosine (to 0 over the run)
    lr_patience: int = 2  # plateau: epochs without a better validation figure before halving
    clip_norm: float | None = 5.0  # gradient norm clipping (Graves 2013 clips too); None = off
    patience: int = 3  # early stopping: epochs without a better validation figure
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    eval_batch_size: int = 256
    valid_limit: int | None = None  # validate on the first N sequences only (quick runs)
    progress: bool = True  # a progress bar with the loss, steps/s and ETA

    def __post_init__(self):
        if self.lr_schedule not in SCHEDULES:
            raise ZooError(f"train.lr_schedule={self.lr_schedule!r} is not one of {SCHEDULES}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ZooError(f"train.device={self.device!r} is not one of auto, cpu, cuda")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ZooError("train.device=cuda but no CUDA device is visible; use train.device=auto")


def resolve_device(name: str) -> torch.device:
    return torch.device("cuda" if name == "auto" and torch.cuda.is_available() else ("cpu" if name == "auto" else name))


def describe_device(device: torch.device | str = "cpu") -> str:
    """Where figures were measured: the GPU's name, or the CPU threads torch uses."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    threads = torch.get_num_threads()
    return f"CPU, {threads} thread{'s' if threads > 1 else ''} ({os.cpu_count()} cores)"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    """Fits (model, guide) to `data` by minimising objective(model, guide, batch) per training step."""

    def __init__(self, model, guide, objective, data: SequenceData, options: TrainOptions, run_dir, config=None):
        self.options = options
        self.device = resolve_device(options.device)
        self.model, self.guide = model.to(self.device), guide.to(self.device)
        self.objective, self.data = objective, data
        self.run_dir = Path(run_dir)
        self.config = config or {}
        self.train_steps = data.num_steps("train")
        self.params = [p for m in (self.model, self.guide) for p in m.parameters() if p.requires_grad]
        if not self.params:
            raise ZooError("the model and guide have no trainable parameters")
        self.optimizer = torch.optim.Adam(self.params, lr=options.lr)
        self.scheduler = self._schedule()
        self.epoch, self.step, self.history = 0, 0, []
        self.best = math.inf

    def _schedule(self):
        o = self.options
        if o.lr_schedule == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(self.optimizer, factor=0.5, patience=o.lr_patience)
        if o.lr_schedule == "cosine":
            per_epoch = o.steps_per_epoch or self.data.num_batches("train", o.batch_size)
            return torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=o.max_epochs * per_epoch)
        return None

    # -- checkpoints ---------------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {
            "model": self.model.state_dict(),
            "guide": self.guide.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "epoch": self.epoch,
            "step": self.step,
            "best": self.best,
            "history": self.history,
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "config": self.config,
            "data_spec": self.data.spec.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        spec = self.data.spec.state_dict()
        if DataSpec.from_state_dict(state["data_spec"]).state_dict() != spec:  # older checkpoints lack new fields
            raise CheckpointError(
                f"the checkpoint was trained on data of kind {state['data_spec']['kind']} with "
                f"{state['data_spec']['dim']} symbols, this data set ({self.data.name}) has kind "
                f"{spec['kind']} with {spec['dim']}: resume with the data set it was trained on"
            )
        self.model.load_state_dict(state["model"])
        self.guide.load_state_dict(state["guide"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler and state["scheduler"]:
            self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.step, self.best = state["epoch"], state["step"], state["best"]
        self.history = list(state["history"])
        torch.set_rng_state(state["rng"])
        if state.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])

    def save(self, name: str) -> Path:
        path = self.run_dir / name
        save_checkpoint(self.state_dict(), path)
        return path

    # -- the loop ------------------------------------------------------------------------------

    def minibatches(self):
        """Shuffled training minibatches, pass after pass. The order depends only on
        (seed, epoch, pass), so a resumed run sees the batches an uninterrupted one would."""
        o = self.options
        for n in itertools.count():
            seed = (o.seed * 1_000_003 + self.epoch) * 1009 + n
            yield from self.data.batches("train", o.batch_size, shuffle=True, seed=seed)

    def train_epoch(self, deadline: float) -> float:
        """steps_per_epoch minibatches (or one pass when it is None); the mean loss in nats
        per step. Stops early at the deadline."""
        o = self.options
        self.model.train()
        self.guide.train()
        total = o.steps_per_epoch or self.data.num_batches("train", o.batch_size)
        bar = tqdm(total=total, desc=f"epoch {self.epoch}", disable=not o.progress, leave=False, unit="step")
        losses = []
        for _, batch in zip(range(total), self.minibatches()):
            loss = self.objective(self.model, self.guide, batch.to(self.device), step=self.step) / self.train_steps
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"the loss became {loss.item()} at step {self.step}: lower train.lr or set train.clip_norm"
                )
            self.optimizer.zero_grad()
            loss.backward()
            if o.clip_norm:
                torch.nn.utils.clip_grad_norm_(self.params, o.clip_norm)
            self.optimizer.step()
            if isinstance(self.scheduler, torch.optim.lr_scheduler.CosineAnnealingLR):
                self.scheduler.step()
            self.step += 1
            losses.append(loss.item())
            bar.update()
            bar.set_postfix(loss=f"{losses[-1]:.4f}", **getattr(self.objective, "progress", {}))
            if time.monotonic() > deadline:
                break
        bar.close()
        return sum(losses) / len(losses)

    def validate(self):
        """The figure models are selected by, on the validation split: exact, -ELBO, or -IWAE-K
        when the objective trains an IWAE-K bound."""
        o = self.options
        self.model.eval()
        self.guide.eval()
        particles = getattr(self.objective, "validation_particles", 1)  # IWAE-K for objective=iwae
        figures = held_out_figures(
            self.model, self.guide, self.data, "valid", num_samples=1, num_particles=particles,
            train_steps=self.train_steps, batch_size=o.eval_batch_size, device=self.device, limit=o.valid_limit,
        )
        return figures[-1] if particles > 1 else figures[0]

    def fit(self, resume: str | None = None) -> list[dict]:
        """Train until max_epochs, max_minutes or early stopping; returns the metric history.
        Checkpoints last.pt each epoch and best.pt at each better validation figure (at every
        epoch for an objective whose `selects_by_likelihood` is false)."""
        o = self.options
        if resume:
            self.load_state_dict(load_checkpoint(resume))
        else:
            seed_everything(o.seed)
        start = time.monotonic()
        deadline = start + 60 * o.max_minutes if o.max_minutes else math.inf
        elapsed_before = self.history[-1]["minutes"] if self.history else 0.0
        while self.epoch < o.max_epochs:
            self.epoch += 1
            # Distributions' argument checks cost a fifth of a small step; the guide check
            # before training has already run the model and guide with them on.
            with pyro.validation_enabled(False):
                train_loss = self.train_epoch(deadline)
            valid = self.validate()
            # An adversarial objective past its likelihood phase is not judged by validation NLL:
            # its latest checkpoint is its best, and the NLL neither anneals nor stops it.
            selecting = getattr(self.objective, "selects_by_likelihood", True)
            if selecting and isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                self.scheduler.step(valid.nats_per_step)
            self.history.append({
                "epoch": self.epoch,
                "step": self.step,
                "train_loss": train_loss,
                "valid_nats_per_step": valid.nats_per_step,
                "valid_kind": valid.kind,
                "lr": self.optimizer.param_groups[0]["lr"],
                "minutes": elapsed_before + (time.monotonic() - start) / 60,
            })
            self.log(self.history[-1])
            if not selecting:
                self.save("best.pt")
            elif valid.nats_per_step < self.best:
                self.best = valid.nats_per_step
                self.save("best.pt")
            self.save("last.pt")
            self.write_metrics_csv()
            if (selecting and self.stalled()) or time.monotonic() > deadline:
                break
        return self.history

    def stalled(self) -> bool:
        """No better validation figure in the last `patience` epochs."""
        figures = [h["valid_nats_per_step"] for h in self.history]
        best_epoch = figures.index(min(figures))
        return len(figures) - 1 - best_epoch >= self.options.patience

    def log(self, row: dict) -> None:
        log.info(
            f"epoch {row['epoch']:3d}  step {row['step']:6d}  train {row['train_loss']:.4f}  "
            f"valid {row['valid_nats_per_step']:.4f} nats/step ({row['valid_kind']})  "
            f"lr {row['lr']:.2g}  {row['minutes']:.1f} min"
        )

    def write_metrics_csv(self) -> None:
        with open(self.run_dir / "metrics.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(self.history[0]))
            writer.writeheader()
            writer.writerows(self.history)
