"""What the trainer asks of an objective, written down once (as Pyro's SMCFilter writes down the
init/step contract of its model and guide, and FIVO's base class what makes a model trainable).

    loss = objective(model, guide, batch, step)   a differentiable scalar: the minibatch's loss
                                                   scaled to the data set (the trainer divides it
                                                   by the training steps)
    objective.validation_particles                 K of the bound checkpoints are selected by;
                                                   1: -ELBO (or the exact NLL)
    objective.validation_bound                     which K-particle bound: "-IWAE" or "-FIVO"
    objective.selects_by_likelihood                whether the validation NLL selects checkpoints,
                                                   halves the step size and stops the run (an
                                                   adversarial objective past pre-training: no)
    objective.progress                             {name: text} shown beside the loss
    objective.state_dict() / load_state_dict()     what it keeps across steps (a discriminator, its
                                                   optimiser, counters), saved in every checkpoint so
                                                   that a resumed run continues exactly

`Objective` gives every member its default; `TrainingObjective` is the same contract as a
Protocol, for objectives that are not subclasses (a wrapper that forwards its attributes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Protocol

import torch
from torch import Tensor, nn

from zoo.contracts import missing_members
from zoo.data.batch import Batch
from zoo.errors import ZooError


class TrainingObjective(Protocol):
    """The members the trainer reads; see the module's docstring."""

    validation_particles: int
    validation_bound: str
    selects_by_likelihood: bool
    progress: Mapping[str, str]

    def __call__(self, model, guide, batch: Batch, step: int | None = None) -> Tensor: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class Objective:
    """A loss over (model, guide, batch[, step]) with the defaults of the trainer's contract:
    selected by -ELBO (or the exact NLL) on validation, no progress figures, no state."""

    validation_particles: int = 1
    validation_bound: str = "-IWAE"
    selects_by_likelihood: bool = True
    progress: Mapping[str, str] = MappingProxyType(
        {}
    )  # replaced, never changed in place, by objectives that show figures

    def __call__(self, model, guide, batch: Batch, step: int | None = None) -> Tensor:
        raise NotImplementedError

    def state_dict(self) -> dict:
        """What this objective keeps across training steps; {} for a stateless one."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Continue from `state_dict()`'s value of the run being resumed."""


def check_objective(objective) -> None:
    """A ZooError naming the members of the contract that `objective` lacks."""
    missing = missing_members(objective, TrainingObjective)
    if missing:
        raise ZooError(
            f"objective {type(objective).__name__} lacks {', '.join(missing)} of the trainer's contract: "
            "derive it from zoo.objectives.base.Objective"
        )


def lazy_module_state(module: nn.Module | None, optimizer) -> dict | None:
    """The state of a network an objective builds at its first use (a discriminator, a critic)
    and of its optimiser; None before it is built."""
    if module is None:
        return None
    return {"module": module.state_dict(), "optimizer": optimizer.state_dict()}


def build_lazy_module(build: Callable[[], tuple[nn.Module, torch.optim.Optimizer]], state: dict | None):
    """(network, optimiser) = build(), with lazy_module_state's value `state` of a checkpoint loaded
    into them. A network built to receive a checkpoint's weights is built without drawing from the
    global random stream (its initial weights are replaced at once), so the stream goes on as in
    the run that wrote the checkpoint."""
    if state is None:
        return build()
    with torch.random.fork_rng(devices=[]):
        module, optimizer = build()
    module.load_state_dict(state["module"])
    optimizer.load_state_dict(state["optimizer"])
    return module, optimizer
