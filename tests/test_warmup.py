"""train.warmup_steps: the step size rises linearly over the first optimiser steps, under any schedule."""

import math

import pytest
import torch

from tests.test_trainer import make_trainer
from zoo.errors import ZooError
from zoo.training.checkpoint import CheckpointError
from zoo.training.trainer import TrainOptions
from zoo.training.warmup import scaled_lr, warmup_factor


def rates_seen(trainer) -> list[float]:
    """The step size of the optimiser's first group at each of its steps."""
    seen = []
    trainer.optimizer.register_step_pre_hook(
        lambda optimizer, args, kwargs: seen.append(optimizer.param_groups[0]["lr"])
    )
    return seen


def test_the_factor_rises_linearly_to_one():
    assert [warmup_factor(k, 4) for k in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert warmup_factor(0, 0) == 1.0


def test_each_warmup_step_runs_at_its_share_of_the_rate_and_the_rate_is_put_back(tmp_path):
    trainer = make_trainer(tmp_path, max_epochs=2, steps_per_epoch=3, warmup_steps=4)
    seen = rates_seen(trainer)
    trainer.fit()
    assert seen == pytest.approx([0.0025, 0.005, 0.0075, 0.01, 0.01, 0.01])
    assert trainer.optimizer.param_groups[0]["lr"] == 0.01


def test_the_first_adam_step_moves_each_weight_by_at_most_the_warmed_rate(tmp_path):
    """Adam's first update is lr g / (|g| + eps) per weight: at most lr / N in size under warmup."""
    trainer = make_trainer(tmp_path, max_epochs=1, steps_per_epoch=1, warmup_steps=10)
    before = [p.detach().clone() for p in trainer.params]
    trainer.fit()
    moves = torch.cat([(p.detach() - b).abs().flatten() for p, b in zip(trainer.params, before)])
    assert moves.max() == pytest.approx(0.001, rel=1e-3)


def test_warmup_multiplies_the_cosine_schedule(tmp_path):
    trainer = make_trainer(tmp_path, max_epochs=2, steps_per_epoch=3, warmup_steps=3, lr_schedule="cosine")
    seen = rates_seen(trainer)
    trainer.fit()
    cosine = [0.005 * (1 + math.cos(math.pi * k / 6)) for k in range(6)]  # T_max = 6 steps
    warm = [1 / 3, 2 / 3, 1, 1, 1, 1]
    assert seen == pytest.approx([c * w for c, w in zip(cosine, warm)])


def test_a_resumed_run_continues_the_warmup_where_it_stopped(tmp_path):
    make_trainer(tmp_path / "first", max_epochs=1, steps_per_epoch=2, warmup_steps=4).fit()
    resumed = make_trainer(tmp_path / "second", max_epochs=2, steps_per_epoch=2, warmup_steps=4)
    seen = rates_seen(resumed)
    resumed.fit(resume=tmp_path / "first")
    assert seen == pytest.approx([0.0075, 0.01])


def test_the_rate_is_put_back_when_the_step_raises():
    optimizer = torch.optim.Adam([torch.zeros(2, requires_grad=True)], lr=0.1)
    with pytest.raises(RuntimeError), scaled_lr(optimizer, 0.5):
        raise RuntimeError
    assert optimizer.param_groups[0]["lr"] == 0.1


def test_a_negative_warmup_is_one_clear_line():
    with pytest.raises(ZooError, match="train.warmup_steps"):
        TrainOptions(warmup_steps=-1)


def test_metrics_record_the_warmed_step_size_the_next_step_takes(tmp_path):
    history = make_trainer(tmp_path, max_epochs=3, steps_per_epoch=2, warmup_steps=5).fit()
    assert [h["lr"] for h in history] == pytest.approx([0.006, 0.01, 0.01])  # after 2, 4 and 6 steps


def test_a_run_resumed_at_another_frame_rate_is_refused(tmp_path):
    first = make_trainer(tmp_path / "first", max_epochs=1, steps_per_epoch=1)
    first.config = {"data": {"frame_repeat": 2}}
    first.fit()
    with pytest.raises(CheckpointError, match=r"data.frame_repeat=2, this run has 1"):
        make_trainer(tmp_path / "second", max_epochs=2, steps_per_epoch=1).fit(resume=tmp_path / "first")
