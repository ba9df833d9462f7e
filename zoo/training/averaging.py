"""Iterate averaging: the mean of the parameters an optimiser passed through (Polyak & Juditsky
1992; stochastic weight averaging, Izmailov et al. 2018, arXiv 1803.05407).

From a chosen point of training (train.average_from), every c steps the trained parameters
theta_i of the model and of the guide are collected, i = 1..n, into

    theta_bar_n = (1/n) sum_i theta_i = theta_bar_{n-1} + (theta_n - theta_bar_{n-1}) / n

For a deterministic network theta_bar is the SWA network (SWAG's mean, guides.swag). For
variational weights theta are the parameters of q(w) themselves, q's means mu and the
unconstrained parameters of its scales, as the optimiser moves them: q_bar = q(w | theta_bar)
is one mean-field Gaussian again, a variational posterior whose parameters are averaged along
the path instead of read at its last point. Nothing is drawn and nothing steps differently, so
a run that averages takes the steps one without takes; `python -m zoo.evaluate averaged=true`
reads the average into the model and guide and reports every figure of (model, guide) at
theta_bar, beside the figures of the iterate itself.

torch.optim.swa_utils.AveragedModel keeps the same running mean in a deep copy of one module;
here the mean is kept for two modules (model and guide) by parameter name, as the checkpoint
stores them, and starts at the first collection, once lazily built parameters exist.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo.errors import ZooError

MODULES = ("model", "guide")


class IterateAverage:
    """theta_bar over the named parameters of the model and guide collected so far."""

    def __init__(self):
        self.count = 0  # n
        self.means: dict[str, dict[str, Tensor]] = {name: {} for name in MODULES}  # module -> parameter -> theta_bar

    @torch.no_grad()
    def collect(self, model: nn.Module, guide: nn.Module) -> None:
        """theta_{n+1}: every parameter of `model` and `guide` now, into the running means."""
        weight = 1 / (self.count + 1)
        for means, module in zip(self.means.values(), (model, guide)):
            for name, theta in module.named_parameters():
                if name in means:  # theta_bar += (theta - theta_bar) / (n + 1), where theta lives
                    means[name] = means[name].to(theta).lerp_(theta.detach(), weight)
                else:
                    means[name] = theta.detach().clone()
        self.count += 1

    def state_dict(self) -> dict:
        return {"count": self.count, **{name: dict(means) for name, means in self.means.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.count = int(state["count"])
        self.means = {name: {k: v.clone() for k, v in state[name].items()} for name in MODULES}


def averaged_states(state: dict) -> dict[str, dict[str, Tensor]]:
    """The model's and guide's state dicts of a checkpoint `state`, their parameters replaced by
    the iterate average it holds; a ZooError naming zoo.evaluate's averaged=true when it holds none."""
    average = state.get("average")
    if not average:
        raise ZooError(
            "averaged=true reads the average of the parameters from the checkpoint, and this one holds none: it was "
            "written before minute train.average_from (evaluate a later one, checkpoint=last.pt), or its run had "
            "train.average_from=null (train with train.average_from=M, the minute averaging starts)"
        )
    states = {}
    for name in MODULES:
        saved, means = state[name], average[name]
        unknown = sorted(set(means) - set(saved))
        if unknown:
            raise ZooError(f"the checkpoint's average names {name} parameters its {name} lacks: {unknown[:3]}")
        states[name] = {**saved, **{k: v.to(saved[k]) for k, v in means.items()}}
    return states
