"""Learning-rate warmup: the step size rises linearly over the first steps of a run.

Adam's first updates move every weight by about the step size in the sign of its gradient
(its second-moment estimate rests on one or two gradients), so thousands of weights of one
layer move together. In a latent chain such as the SRNN's or the DMM's,
z_t = mu(z_{t-1}, .) + ..., that can make the map from z_{t-1} to z_t expanding within two or
three steps, and along a 100-step chorale the path then overflows. Warming the step size up
from lr / N to lr over N steps lets the moment estimates settle first (Goyal et al. 2017,
arXiv 1706.02677, section 2.2; Liu et al. 2020, arXiv 1908.03265, on why Adam's early steps
are the risky ones).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


def warmup_factor(step: int, warmup_steps: int) -> float:
    """(step + 1) / warmup_steps for the first warmup_steps optimiser steps (0-based), then 1;
    always 1 when warmup_steps is 0."""
    return 1.0 if warmup_steps <= 0 else min(1.0, (step + 1) / warmup_steps)


@contextmanager
def scaled_lr(optimizer: torch.optim.Optimizer, factor: float):
    """Every parameter group's step size multiplied by `factor` inside the block and put back
    after it, so step-size schedules (plateau halving, cosine) keep acting on the unscaled
    rate."""
    if factor == 1.0:
        yield
        return
    rates = [group["lr"] for group in optimizer.param_groups]
    for group, lr in zip(optimizer.param_groups, rates):
        group["lr"] = lr * factor
    try:
        yield
    finally:
        for group, lr in zip(optimizer.param_groups, rates):
            group["lr"] = lr
