"""The training loop: any objective over any (model, guide), minibatch by minibatch.

Every loss is a differentiable scalar (Pyro's custom-objective style), stepped by a torch
optimiser over the model's and guide's parameters, so SVI and non-likelihood objectives
share one loop, one checkpoint format and one progress display.

The optimiser is torch's Adam; with `weight_decay` > 0 it is AdamW, Adam with decoupled
weight decay (Loshchilov & Hutter 2019, "Decoupled weight decay regularization", arXiv
1711.05101): each step shrinks every weight matrix by the factor 1 - lr * weight_decay beside
Adam's own update. An L2 penalty added to the loss would instead pass through Adam's
per-weight scaling, so weights with large past gradients would be decayed less than the others,
and the penalty would not be the weight decay it is named after (the paper's section 2). Only
matrices (parameters of two or more dimensions: the input, recurrent and output weights,
embeddings) decay; biases and other vectors do not. With variational weights
(`model.bayesian_weights=true`) the means of q(w) at the sites of matrices decay, as the
network's matrices would, and nothing else: not q's scales, nor the prior. The decay is then a
regulariser beside the ELBO, not part of it (as dropout is beside q(w) in a network that draws
its masks in training): the prior's own pull on the means, the KL's gradient divided by the
training set's size and scaled by Adam, is far weaker on a large text.

`fit="guide"` trains the guide alone: the model's weights stay as they are (no gradient is
taken for them, and the model stays in evaluation mode, so dropout is off) and only the guide's
parameters step. Started from a trained run (`train.init`), it refits the proposal to a model
that no longer changes, so a bound of that model's NLL (-ELBO, -IWAE, -FIVO) can only tighten
as the guide improves: the amortised guide of joint training is one point of the
inference-suboptimality trade-off (Cremer, Li & Duvenaud 2018, arXiv 1801.03558).

`swag_from` = M collects the network's weights every `swag_every` steps once training has run M
minutes (the interrupted run's minutes included), into SWAG's q(w) (guides.swag, Maddox et al.
2019): its moments travel in every checkpoint, and `python -m zoo.evaluate swag=true` gives the
posterior predictive over its draws and the exact figure of the SWA mean beside the network's own.
Validation, the step-size schedule, early stopping and best.pt follow the network as without it,
so a run with SWAG takes the steps one without takes (writing the moments, a few hundred MB for
a 2 x 512 LSTM, costs seconds per checkpoint under a time budget).

`average_from` = M likewise collects every `average_every` steps from minute M the parameters of
the model and the guide, whatever they are (a network's weights, the means and scales of q(w)),
into their running mean (zoo.training.averaging): it travels in every checkpoint, training follows
the iterates as without it, and `python -m zoo.evaluate averaged=true` gives the figures of
(model, guide) at the average.
"""

from __future__ import annotations

import csv
import itertools
import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyro
import torch
from tqdm.auto import tqdm

from guides.swag import SwagWeights
from zoo.data.dataset import DataSpec, SequenceData
from zoo.errors import ZooError
from zoo.evaluation.likelihood import AT_POSTERIOR_MEAN, held_out_figures, posterior_mean, posterior_mean_nll
from zoo.models.bayesian_weights import has_weight_latents
from zoo.objectives.base import TrainingObjective, check_objective
from zoo.options import check_at_least, check_choice, check_fields
from zoo.training.averaging import IterateAverage
from zoo.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_module_state,
    resolve_checkpoint,
    save_checkpoint,
)
from zoo.training.devices import check_device, resolve_device, seed_everything
from zoo.training.distributed import RanksLost, World, check_splits_by_sequence, current_world
from zoo.training.noise import global_noise
from zoo.training.precision import autocast, check_precision
from zoo.training.sites import first_nonfinite
from zoo.training.warmup import scaled_lr, warmup_factor

SCHEDULES = ("none", "plateau", "cosine")
NONFINITE = ("stop", "skip")
FITS = ("all", "guide")
log = logging.getLogger(__name__)


@dataclass
class TrainOptions:
    """How to train. Each field is one CLI option `train.<field>=...`."""

    max_epochs: int = 30  # validation rounds; an epoch is steps_per_epoch minibatches
    max_minutes: float | None = None  # stop (after validating) once training has run this long
    steps_per_epoch: int | None = None  # minibatches between validations (passes wrap); None = one pass
    batch_size: int = 64
    length_pool: int = 1  # bucket by length: sort each pool of this many batches' shuffled sequences; 1 = off
    lr: float = 2e-3  # Adam's step size
    weight_decay: float = 0.0  # AdamW's decoupled decay of weight matrices per unit step size; 0 = plain Adam
    lr_schedule: str = "plateau"  # none | plateau (halve when validation stalls) | cosine (to 0 over the run)
    lr_patience: int = 2  # plateau: epochs without a better validation figure before halving
    warmup_steps: int = 0  # the step size rises linearly from lr / N to lr over the first N steps; 0 = off
    clip_norm: float | None = 5.0  # gradient norm clipping (Graves 2013 clips too); None = off
    patience: int = 6  # early stopping: epochs without a better validation figure; test figures are best.pt's
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda (each torchrun rank takes the GPU of its LOCAL_RANK)
    precision: str = "fp32"  # fp32 | bf16: training steps under CUDA autocast to bfloat16 (GPU only)
    threads: int | None = (
        None  # torch's intra-op threads, set by zoo.run; None = the cores shared out (zoo.training.threads)
    )
    eval_batch_size: int = 256
    valid_limit: int | None = None  # validate on the first N sequences only (quick runs)
    valid_samples: int = 1  # weight latents: S > 1 selects by the posterior predictive with S draws of w, not -ELBO
    valid_at_mean: bool = False  # weight latents: select by the exact NLL of the network at the guide's mean
    progress: bool = True  # a progress bar with the loss, steps/s and ETA
    on_nonfinite: str = "stop"  # a NaN or inf loss or gradient: stop (naming where) | skip the step and count it
    fit: str = "all"  # all | guide: the guide's parameters alone, the model's fixed (see the module's docstring)
    swag_from: float | None = None  # SWAG (guides.swag) collects the weights from this minute on; None = off
    swag_every: int = 50  # SWAG: steps between collections
    swag_rank: int = 20  # SWAG: K, the last K deviations from the running mean that span q's low-rank part
    average_from: float | None = None  # average the model's and guide's parameters from this minute on; None = off
    average_every: int = 50  # iterate averaging: steps between collections

    def __post_init__(self):
        check_fields(self, "train.")
        check_at_least(
            self,
            {
                "max_epochs": 1,
                "steps_per_epoch": 1,
                "batch_size": 1,
                "length_pool": 1,
                "eval_batch_size": 1,
                "valid_limit": 1,
                "valid_samples": 1,
                "patience": 1,
                "lr_patience": 0,
                "warmup_steps": 0,
                "threads": 1,
                "swag_every": 1,
                "swag_rank": 2,
                "average_every": 1,
            },
            "train.",
        )
        for name in ("lr", "max_minutes", "clip_norm"):
            value = getattr(self, name)
            if value is not None and not 0 < value < math.inf:
                raise ZooError(
                    f"train.{name}={value:g} must be a positive number"
                    + (
                        ""
                        if name == "lr"
                        else f" (or null for {'no limit' if name == 'max_minutes' else 'no clipping'})"
                    )
                )
        for name in ("swag_from", "average_from"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < math.inf:
                raise ZooError(f"train.{name}={value:g} must be a number of minutes >= 0 (or null for none)")
        if not 0 <= self.weight_decay < math.inf:
            raise ZooError(f"train.weight_decay={self.weight_decay:g} must be a number >= 0 (0 = no weight decay)")
        check_choice(self, "on_nonfinite", NONFINITE, "train.")
        check_choice(self, "fit", FITS, "train.")
        check_choice(self, "lr_schedule", SCHEDULES, "train.")
        if self.lr_schedule == "plateau" and self.patience <= self.lr_patience + 1:
            raise ZooError(
                f"train.patience={self.patience} stops training at the epoch train.lr_patience={self.lr_patience} "
                "first halves the step size, so the halved rate would never train: set "
                f"train.patience >= {self.lr_patience + 2} (or train.lr_schedule=none)"
            )
        check_device(self.device, "train.device")
        check_precision(self.precision, resolve_device(self.device))


def frame_repeat_of(config: dict | None) -> int:
    """data.frame_repeat of a run's config (1 where it names none: older runs, other data)."""
    return ((config or {}).get("data") or {}).get("frame_repeat") or 1


def decayed_matrices(model, guide, params: list) -> list:
    """What AdamW decays among `params`: the matrices (two or more dimensions) and, with
    variational weights, the means mu_j of q(w) at the sites of matrices (flat, one dimension)."""
    decayed = [p for p in params if p.dim() >= 2]
    if has_weight_latents(model):
        trained = {id(p) for p in params}
        means = posterior_mean(guide) or {}
        decayed += [mu for site, mu in means.items() if len(model.shapes[site]) >= 2 and id(mu) in trained]
    return decayed


def make_optimizer(model, guide, params: list, options: TrainOptions) -> torch.optim.Optimizer:
    """Adam over `params`; with options.weight_decay > 0, AdamW decaying decayed_matrices (see
    the module's docstring)."""
    if not options.weight_decay:
        return torch.optim.Adam(params, lr=options.lr)
    decayed = decayed_matrices(model, guide, params)
    decayed_ids = {id(p) for p in decayed}
    kept = [p for p in params if id(p) not in decayed_ids]
    groups = [{"params": decayed, "weight_decay": options.weight_decay}, {"params": kept, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=options.lr)


class TrainingFault(ZooError):
    """Training cannot go on: a non-finite loss, or a validation figure that diverged."""


def check_valid_at_mean(model, guide, options: TrainOptions) -> None:
    """train.valid_at_mean needs a network p(x | w) with no other latents and a weight guide with a mean."""
    if not (has_weight_latents(model) and hasattr(model.net, "log_prob")):
        raise ZooError(
            "train.valid_at_mean=true validates the network at the mean of its variational weights, and this "
            "model has none (or has latents besides them): use model=bayes_lstm, or leave train.valid_at_mean=false"
        )
    if posterior_mean(guide) is None:
        raise ZooError(
            f"train.valid_at_mean=true needs the weight guide's mean, and {type(guide).__name__} has none: "
            "use weight_guide=mean_field, low_rank or sharpened"
        )
    if options.valid_samples > 1:
        raise ZooError(
            f"train.valid_at_mean=true (model=bayes_lstm's default) and train.valid_samples={options.valid_samples} "
            "choose two validation figures: add train.valid_at_mean=false to validate by the posterior predictive"
        )


def check_draws(model, options: TrainOptions, world: World) -> None:
    """K > 1 draws of w per minibatch (model.weights.draws) are drawn while the model trains, in
    one process: the model's training mode is what turns them on, and ranks that each split their
    own shard among the same K draws would not be one process's estimate."""
    K = model.draws if has_weight_latents(model) else 1
    if K > 1 and options.fit == "guide":
        raise ZooError(
            f"model.weights.draws={K} draws w per training minibatch of the model, and train.fit=guide holds the "
            "model fixed (in evaluation mode, one draw): set model.weights.draws=1, or train.fit=all"
        )
    if K > 1 and world.distributed:
        raise ZooError(
            f"model.weights.draws={K} splits each minibatch among {K} draws of w, and with {world.size} processes "
            "each would split its own shard among the same draws: set model.weights.draws=1, or train in one process"
        )


def swag_collector(model, options: TrainOptions) -> SwagWeights | None:
    """SWAG's q(w) to collect the model's weights into when train.swag_from is set, else None. A model with
    variational weights, or one held fixed (train.fit=guide), has no one trajectory of weights to
    collect and is refused."""
    if options.swag_from is None:
        return None
    if has_weight_latents(model) or options.fit == "guide":
        why = "has variational weights already" if has_weight_latents(model) else "is not trained (train.fit=guide)"
        raise ZooError(
            f"train.swag_from={options.swag_from:g} collects the weights of a network as it trains, and this "
            f"model {why}: train a deterministic network (model=char_lstm, ...), or leave train.swag_from=null"
        )
    if not hasattr(model, "log_prob"):
        raise ZooError(
            f"train.swag_from={options.swag_from:g}: SWAG's posterior predictive (zoo.evaluate swag=true) averages "
            f"exact likelihoods, which {type(model).__name__} has not (char_lstm has); leave train.swag_from=null"
        )
    return SwagWeights(model, options.swag_rank)


class Trainer:
    """Fits (model, guide) to `data` by minimising objective(model, guide, batch) per training step.

    In a process group (torchrun) each rank trains on its shard of every minibatch and the ranks'
    gradients are summed (zoo.training.distributed); rank 0 alone validates, logs and writes
    checkpoints, and the loss curve is the one a single process draws."""

    def __init__(
        self,
        model,
        guide,
        objective: TrainingObjective,
        data: SequenceData,
        options: TrainOptions,
        run_dir,
        config=None,
        world: World | None = None,
        monitor: Callable[[object, object], dict[str, float]] | None = None,
    ):
        check_objective(objective)
        if options.valid_samples > 1 and not has_weight_latents(model):
            raise ZooError(
                f"train.valid_samples={options.valid_samples} averages the validation likelihood over draws of "
                "variational weights, and this model has none: set model.bayesian_weights=true, or leave "
                "train.valid_samples=1"
            )
        if options.valid_at_mean:
            check_valid_at_mean(model, guide, options)
        self.options = options
        self.world = world or current_world()
        if self.world.distributed:
            check_splits_by_sequence(objective)
        check_draws(model, options, self.world)
        self.device = resolve_device(options.device, self.world)
        self.model, self.guide = model.to(self.device), guide.to(self.device)
        self.objective, self.data = objective, data
        self.run_dir = Path(run_dir)
        self.config = config or {}
        self.monitor = monitor  # more figures after each validation (NLL-oracle), columns of metrics.csv
        self.train_steps = data.num_steps("train")
        fixed = {id(p) for p in self.model.parameters()} if options.fit == "guide" else set()
        params = [p for m in (self.model, self.guide) for p in m.parameters() if p.requires_grad]
        self.params = [p for p in params if id(p) not in fixed]
        if not self.params:
            raise ZooError(
                "train.fit=guide trains the guide alone, but this guide has no parameters: choose a guide "
                "with latents to fit (guide=...), or train.fit=all"
                if options.fit == "guide"
                else "the model and guide have no trainable parameters"
            )
        self.optimizer = make_optimizer(self.model, self.guide, self.params, options)
        self.scheduler = self._schedule()
        self.epoch, self.step, self.history = 0, 0, []
        self.best = math.inf
        self.untrained = math.nan  # the validation figure before the first step, to tell divergence by
        self.skipped = 0  # steps skipped for a non-finite loss or gradient (train.on_nonfinite=skip)
        self.diverged: dict | None = None  # epoch and figures of a validation that diverged
        self.swag = swag_collector(self.model, options)  # SWAG's q(w), collected along the way; None: off
        self.average = IterateAverage() if options.average_from is not None else None  # theta_bar; None: off
        self.started, self.minutes_before = time.monotonic(), 0.0  # this process's start, the resumed run's minutes

    def _schedule(self):
        o = self.options
        if o.lr_schedule == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(self.optimizer, factor=0.5, patience=o.lr_patience)
        if o.lr_schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=self.total_steps())
        return None

    def total_steps(self) -> int:
        """Training steps in max_epochs full epochs: the horizon of the cosine schedule."""
        o = self.options
        return o.max_epochs * (o.steps_per_epoch or self.data.num_batches("train", o.batch_size))

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
            "untrained": self.untrained,
            "skipped": self.skipped,
            "history": self.history,
            "objective": self.objective.state_dict(),  # a discriminator, its optimiser, counters
            "swag": self.swag.state_dict() if self.swag is not None and self.swag.collected else None,
            "average": self.average.state_dict() if self.average is not None and self.average.count else None,
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
        saved_repeat, repeat = (frame_repeat_of(c) for c in (state.get("config"), self.config))
        if saved_repeat != repeat:
            raise CheckpointError(
                f"the checkpoint was trained with data.frame_repeat={saved_repeat}, this run has {repeat}: its "
                "figures would be on another frame rate; resume with the same data.frame_repeat"
            )
        self.check_validated_as(state["history"])
        load_module_state(self.model, state["model"], "model")
        load_module_state(self.guide, state["guide"], "guide")
        saved_groups = state["optimizer"]["param_groups"]
        saved_decay = max(g.get("weight_decay", 0.0) for g in saved_groups)
        decay = max(g["weight_decay"] for g in self.optimizer.param_groups)
        if len(saved_groups) != len(self.optimizer.param_groups) or saved_decay != decay:
            raise CheckpointError(
                f"the checkpoint was trained with train.weight_decay={saved_decay:g}, this run has "
                f"{self.options.weight_decay:g}: resume with the same train.weight_decay"
            )
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler and state["scheduler"]:
            self.scheduler.load_state_dict(state["scheduler"])
            if isinstance(self.scheduler, torch.optim.lr_scheduler.CosineAnnealingLR):
                self.scheduler.T_max = self.total_steps()  # the horizon of this run's max_epochs
        self.epoch, self.step, self.best = state["epoch"], state["step"], state["best"]
        self.untrained, self.skipped = state.get("untrained", math.nan), state.get("skipped", 0)
        self.history = list(state["history"])
        self.objective.load_state_dict(state.get("objective", {}))  # older checkpoints lack it
        self.load_swag(state.get("swag"))
        self.load_average(state.get("average"))
        torch.set_rng_state(state["rng"])
        if state.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])

    def check_validated_as(self, history: list[dict]) -> None:
        """A resumed run validates as the run it continues did: its best figure, step-size schedule
        and early stopping compare this run's figures with the ones in `history`."""
        if not history:
            return
        saved = history[-1]["valid_kind"] == AT_POSTERIOR_MEAN
        if saved != self.options.valid_at_mean:
            raise CheckpointError(
                f"the checkpoint's run chose its best epoch by its {history[-1]['valid_kind']} figure, and this "
                f"one would choose by {AT_POSTERIOR_MEAN if self.options.valid_at_mean else 'its objective'}: best.pt, "
                "the step-size schedule and early stopping would compare two figures; resume with "
                f"train.valid_at_mean={str(saved).lower()}"
            )

    def load_swag(self, moments: dict | None) -> None:
        """SWAG's moments from a checkpoint: kept where this run collects at the same rank, refused
        where it would drop them; a checkpoint without them starts the collection afresh."""
        if not moments:
            return
        rank = SwagWeights.rank_of(moments)
        if self.swag is None:
            raise CheckpointError(
                f"the checkpoint holds SWAG's moments of {int(moments['count'])} collections and this run has "
                "train.swag_from=null, which would drop them: resume with the run's own train.swag_from, or start "
                "a new run from its weights with train.init"
            )
        if rank != self.swag.rank:
            raise CheckpointError(
                f"the checkpoint's SWAG moments were collected with train.swag_rank={rank}, this run has "
                f"{self.swag.rank}: resume with train.swag_rank={rank}"
            )
        load_module_state(self.swag, moments, "SWAG posterior")

    def load_average(self, average: dict | None) -> None:
        """The iterate average of a checkpoint: kept where this run averages too, refused where it
        would drop it; a checkpoint without one starts the average afresh."""
        if not average:
            return
        if self.average is None:
            raise CheckpointError(
                f"the checkpoint holds the average of {int(average['count'])} collections of the parameters and "
                "this run has train.average_from=null, which would drop it: resume with the run's own "
                "train.average_from, or start a new run from its weights with train.init"
            )
        self.average.load_state_dict(average)

    def save(self, name: str) -> Path:
        """Write a checkpoint into the run folder (rank 0 alone writes)."""
        path = self.run_dir / name
        if self.world.is_main:
            save_checkpoint(self.state_dict(), path)
        return path

    # -- the loop ------------------------------------------------------------------------------

    def minibatches(self):
        """Shuffled training minibatches, pass after pass. The order depends only on
        (seed, epoch, pass), so a resumed run sees the batches an uninterrupted one would."""
        o = self.options
        for n in itertools.count():
            seed = (o.seed * 1_000_003 + self.epoch) * 1009 + n
            yield from self.data.batches("train", o.batch_size, shuffle=True, seed=seed, pool=o.length_pool)

    def train_epoch(self, deadline: float) -> float:
        """steps_per_epoch minibatches (or one pass when it is None); the mean loss in nats
        per step. Stops early at the deadline (rank 0's clock decides for every rank)."""
        o = self.options
        self.model.train(o.fit == "all")  # a fixed model is the one evaluated: no dropout
        self.guide.train()
        total = o.steps_per_epoch or self.data.num_batches("train", o.batch_size)
        bar = tqdm(
            total=total,
            desc=f"epoch {self.epoch}",
            disable=not (o.progress and self.world.is_main),
            leave=False,
            unit="step",
        )
        losses = []
        for minibatch, batch in zip(range(total), self.minibatches()):
            loss, past_deadline = self.train_step(batch, deadline)
            grad_norm = None
            if torch.isfinite(loss):
                grad_norm = torch.nn.utils.clip_grad_norm_(self.params, o.clip_norm or math.inf)
            if grad_norm is None or not torch.isfinite(grad_norm):
                what = f"the loss is {loss.item()}" if grad_norm is None else f"the gradient norm is {grad_norm.item()}"
                self.nonfinite(what, minibatch, batch.to(self.device))
                bar.update()
                continue
            with scaled_lr(self.optimizer, warmup_factor(self.step, o.warmup_steps)):
                self.optimizer.step()
            if isinstance(self.scheduler, torch.optim.lr_scheduler.CosineAnnealingLR):
                self.scheduler.step()
            self.step += 1
            if self.swag is not None and self.step % o.swag_every == 0 and self.minutes() >= o.swag_from:
                self.swag.collect(self.model)
            if self.average is not None and self.step % o.average_every == 0 and self.minutes() >= o.average_from:
                self.average.collect(self.model, self.guide)
            losses.append(loss.item())
            bar.update()
            bar.set_postfix(loss=f"{losses[-1]:.4f}", **self.objective.progress)
            if past_deadline:
                break
        bar.close()
        if not losses:
            raise TrainingFault(
                f"every step of epoch {self.epoch} had a non-finite loss or gradient "
                f"({self.skipped} skipped in all): {self.steadier()} or set train.clip_norm"
            )
        return sum(losses) / len(losses)

    def train_step(self, batch, deadline: float):
        """The loss of one minibatch in nats per training step, its gradients left in the
        parameters, and whether the deadline has passed. A rank computes its shard's share
        (zoo.training.distributed) with the random draws one process makes for those rows
        (zoo.training.noise); the shares, gradients and deadline are then summed over the ranks."""
        shard = self.world.shard(batch)
        part = shard.batch.to(self.device)
        buffers = [(b, b.detach().clone()) for b in self.float_buffers()] if self.world.distributed else []
        self.optimizer.zero_grad()
        with global_noise(shard.rows, batch.dataset_size), autocast(self.options.precision, self.device):
            loss = self.objective(self.model, self.guide, part, step=self.step) / self.train_steps
        if shard.weight != 1.0:
            loss = shard.weight * loss
        if torch.isfinite(loss):
            loss.backward()
        return self.world.sum_step(self.params, loss.float(), time.monotonic() > deadline, buffers, shard.weight)

    def float_buffers(self) -> list[torch.Tensor]:
        """The model's and guide's floating-point buffers (running statistics a step may update)."""
        found = {id(b): b for m in (self.model, self.guide) for b in m.buffers() if b.is_floating_point()}
        return list(found.values())

    def steadier(self) -> str:
        """The first fixes every fault message offers: a smaller step size, or a warmed-up one."""
        o = self.options
        return (
            f"lower train.lr (now {o.lr:g}), warm it up over the first steps (train.warmup_steps, now {o.warmup_steps})"
        )

    def nonfinite(self, what: str, minibatch: int, batch) -> None:
        """A step whose loss or gradient is not finite: skipped and counted with
        train.on_nonfinite=skip, else training stops naming the step, the batch and the first
        parameter or sample site that is not finite."""
        o = self.options
        if o.on_nonfinite == "skip":
            self.skipped += 1
            return
        sequences = (
            ""
            if batch.index is None
            else f": training sequences {batch.index[:5].tolist()}" + ("..." if batch.batch_size > 5 else "")
        )
        raise TrainingFault(
            f"{what} at step {self.step} (epoch {self.epoch}, minibatch {minibatch}{sequences}); "
            f"{first_nonfinite(self.model, self.guide, batch)}; {self.steadier()}, set train.clip_norm, or skip "
            "such steps with train.on_nonfinite=skip"
        )

    def validate(self):
        """The figure models are selected by, on the validation split: exact, -ELBO, or the
        K-particle bound the objective trains (-IWAE-K, or -FIVO-K for objective=fivo); for
        weight latents with train.valid_samples = S > 1, the posterior predictive with S draws
        of w (early stopping on the figure the test reports, whatever KL weight trained it);
        with train.valid_at_mean, the exact NLL of the network at the guide's mean (Fortunato
        et al. 2017's released code validates and tests its Bayesian LSTM so).
        Computed by rank 0 alone; every rank receives it (and rank 0's random state after it)."""
        return self.world.from_main(self.validate_here, self.device)

    def validate_here(self):
        """The validation figure, computed in this process."""
        o = self.options
        self.model.eval()
        self.guide.eval()
        kw = {"batch_size": o.eval_batch_size, "device": self.device, "limit": o.valid_limit}
        if o.valid_at_mean:
            return posterior_mean_nll(self.model, self.guide, self.data, "valid", **kw)
        particles = self.objective.validation_particles
        bound = self.objective.validation_bound
        figures = held_out_figures(
            self.model,
            self.guide,
            self.data,
            "valid",
            num_samples=o.valid_samples,
            num_particles=particles,
            train_steps=self.train_steps,
            fivo=bound == "-FIVO",
            **kw,
        )
        if o.valid_samples > 1:
            bound = "posterior predictive"
        elif particles < 2:
            return figures[0]
        chosen = [f for f in figures if f.kind.startswith(bound)]
        return chosen[0] if chosen else figures[0]

    def fit(self, resume: str | None = None) -> list[dict]:
        """Train until max_epochs, max_minutes or early stopping; returns the metric history.
        Checkpoints last.pt each epoch and best.pt at each better validation figure (at every
        epoch for an objective whose `selects_by_likelihood` is false). A validation figure
        that explodes (`exploded`) stops training as diverged: the checkpoints keep the last
        sane epoch, and TrainingFault is raised when there is none. A rank that loses the
        others raises RanksLost, naming the checkpoint to resume from."""
        model_weights = [p for p in self.model.parameters() if p.requires_grad] if self.options.fit == "guide" else []
        for p in model_weights:
            p.requires_grad_(False)  # train.fit=guide: the model is fixed, no gradient is taken for it
        try:
            return self.fit_epochs(resume)
        except RanksLost as lost:
            last = self.run_dir / "last.pt"
            if not last.is_file():
                raise
            raise RanksLost(
                f"{lost}; the last whole checkpoint is {last}: continue with train.resume={self.run_dir}"
            ) from lost
        finally:
            for p in model_weights:
                p.requires_grad_(True)  # the caller's model trains again after this fit

    def fit_epochs(self, resume: str | None = None) -> list[dict]:
        """The epochs of `fit`, from a fresh start or from `resume`."""
        o = self.options
        if resume:
            self.load_state_dict(load_checkpoint(resume))
            if self.world.is_main:
                self.keep_best_of(resume)
            self.world.share_random_state(self.device)
        else:
            seed_everything(o.seed)
            self.untrained = self.validate().nats_per_step
        self.world.broadcast_modules(self.model, self.guide)
        self.started = time.monotonic()
        self.minutes_before = self.history[-1]["minutes"] if self.history else 0.0
        # the budget is the whole run's: a resumed run spends what the interrupted one left
        deadline = self.started + 60 * (o.max_minutes - self.minutes_before) if o.max_minutes else math.inf
        while self.epoch < o.max_epochs and not (self.history and self.past(deadline)):
            self.epoch += 1
            # Distributions' argument checks cost a fifth of a small step; the guide check
            # before training has already run the model and guide with them on.
            with pyro.validation_enabled(False), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Encountered NaN")  # handled by on_nonfinite
                train_loss = self.train_epoch(deadline)
            valid = self.validate()
            if self.exploded(valid.nats_per_step):
                self.diverge(valid)
                break
            # An adversarial objective past its likelihood phase is not judged by validation NLL:
            # its latest checkpoint is its best, and the NLL neither anneals nor stops it.
            selecting = self.objective.selects_by_likelihood
            if selecting and isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                self.scheduler.step(valid.nats_per_step)
            row = {
                "epoch": self.epoch,
                "step": self.step,
                "train_loss": train_loss,
                "valid_nats_per_step": valid.nats_per_step,
                "valid_kind": valid.kind,
                # the step size the next step takes: the schedule's, times the warmup's factor
                "lr": self.optimizer.param_groups[0]["lr"] * warmup_factor(self.step, self.options.warmup_steps),
                "minutes": self.minutes(),
            }
            monitored = self.monitored()
            self.history.append({**row, **monitored})
            self.log(self.history[-1], monitored)
            if not selecting:
                self.save("best.pt")
            elif valid.nats_per_step < self.best:
                self.best = valid.nats_per_step
                self.save("best.pt")
            self.save("last.pt")
            self.write_metrics_csv()
            if (selecting and self.stalled()) or self.past(deadline):
                break
        return self.history

    def minutes(self) -> float:
        """Minutes of training so far, those of the run it resumes included."""
        return self.minutes_before + (time.monotonic() - self.started) / 60

    def monitored(self) -> dict[str, float]:
        """The monitor's figures of the model as it is after this epoch (rank 0 alone), drawn with
        their own random numbers, seeded by (seed, epoch): training's stream is left as it was."""
        if self.monitor is None or not self.world.is_main:
            return {}
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(self.options.seed * 1_000_003 + self.epoch)
            return self.monitor(self.model, self.guide)

    def past(self, deadline: float) -> bool:
        """Whether the time budget is spent, by rank 0's clock, on every rank."""
        return self.world.broadcast(time.monotonic() > deadline)

    def keep_best_of(self, resume) -> None:
        """A run resumed into a new folder starts with the best checkpoint of the one it
        continues, so best.pt is there even if no later epoch beats it."""
        source = resolve_checkpoint(resume).parent / "best.pt"
        target = self.run_dir / "best.pt"
        if source.is_file() and not target.exists():
            save_checkpoint(load_checkpoint(source), target)

    def exploded(self, figure: float) -> bool:
        """A validation figure not finite, or worse than the untrained model's by more than
        the untrained figure's own size (and at least 1 nat per step): an explosion, not the
        slow rise of overfitting. Without an untrained figure (older checkpoints), only a
        figure that is not finite."""
        if math.isnan(self.untrained):
            return not math.isfinite(figure)
        return not figure - self.untrained <= max(abs(self.untrained), 1.0)  # true for NaN too

    def diverge(self, valid) -> None:
        """Record a diverged validation figure; the checkpoints stay at the last sane epoch.
        Raises TrainingFault when no epoch was sane."""
        self.diverged = {
            "epoch": self.epoch,
            "valid_nats_per_step": valid.nats_per_step,
            "untrained_nats_per_step": self.untrained,
            "kind": valid.kind,
        }
        what = (
            f"training diverged at epoch {self.epoch}: the validation figure is {valid.nats_per_step:.4g} "
            f"nats/step ({valid.kind}), worse than the untrained model's {self.untrained:.4g}"
        )
        fix = f"{self.steadier()} or set train.clip_norm"
        if not self.history:
            raise TrainingFault(f"{what}; no epoch is worth keeping: {fix}")
        log.warning(f"{what}; stopped, keeping the checkpoints of epoch {self.history[-1]['epoch']}: {fix}")

    def stalled(self) -> bool:
        """No better validation figure in the last `patience` epochs."""
        figures = [h["valid_nats_per_step"] for h in self.history]
        best_epoch = figures.index(min(figures))
        return len(figures) - 1 - best_epoch >= self.options.patience

    def log(self, row: dict, monitored: dict[str, float]) -> None:
        """One line per epoch, with the monitor's figures (rank 0 alone logs)."""
        if not self.world.is_main:
            return
        log.info(
            f"epoch {row['epoch']:3d}  step {row['step']:6d}  train {row['train_loss']:.4f}  "
            f"valid {row['valid_nats_per_step']:.4f} nats/step ({row['valid_kind']})  "
            f"lr {row['lr']:.2g}  {row['minutes']:.1f} min"
            + "".join(f"  {name} {value:.4f}" for name, value in monitored.items())
        )

    def write_metrics_csv(self) -> None:
        """The history as metrics.csv in the run folder (rank 0 alone writes)."""
        if not self.world.is_main:
            return
        with open(self.run_dir / "metrics.csv", "w", newline="") as f:
            columns = dict.fromkeys(name for row in self.history for name in row)  # a monitor may come in later
            writer = csv.DictWriter(f, fieldnames=list(columns))
            writer.writeheader()
            writer.writerows(self.history)
