"""What tests share: small synthetic data sets, and the commands run as a user runs them."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import torch

from zoo.data.dataset import DataSpec, SequenceData
from zoo.data.vocab import Vocabulary


def toy_text(num_sequences: int = 12, seed: int = 0) -> SequenceData:
    """Sequences of a 5-letter alphabet, ragged lengths 3..9."""
    g = torch.Generator().manual_seed(seed)
    vocab = Vocabulary(list("abcde"))
    seqs = [
        torch.randint(0, 5, (int(torch.randint(3, 10, (1,), generator=g)),), generator=g) for _ in range(num_sequences)
    ]
    return SequenceData("toy_text", DataSpec("categorical", 5, vocab), seqs, seqs[:4], seqs[4:8])


def toy_rolls(num_sequences: int = 8, dim: int = 6, seed: int = 0) -> SequenceData:
    """Binary frames of `dim` notes, ragged lengths 2..7."""
    g = torch.Generator().manual_seed(seed)
    seqs = [
        (torch.rand(int(torch.randint(2, 8, (1,), generator=g)), dim, generator=g) < 0.3).float()
        for _ in range(num_sequences)
    ]
    return SequenceData("toy_rolls", DataSpec("bernoulli", dim), seqs, seqs[:3], seqs[3:6])


def toy_strokes(num_sequences: int = 8, seed: int = 0) -> SequenceData:
    """Pen drawings of 2..7 steps (dx, dy, end of stroke), the last step ending the stroke."""
    from zoo.data.strokes import stroke_data

    g = torch.Generator().manual_seed(seed)
    seqs = []
    for _ in range(num_sequences):
        T = int(torch.randint(2, 8, (1,), generator=g))
        steps = torch.cat([torch.randn(T, 2, generator=g), torch.zeros(T, 1)], -1)
        steps[-1, 2] = 1
        seqs.append(steps.double().numpy())
    return stroke_data("toy_strokes", seqs, seqs[:3], seqs[3:6])


# -- the commands, as a user runs them -----------------------------------------------------------

CONFIGS = str(Path(__file__).resolve().parents[1] / "configs")

# A run that trains for a few steps and evaluates on a slice: every end-to-end test starts here.
QUICK = [
    "train.max_epochs=2",
    "train.steps_per_epoch=3",
    "train.max_minutes=null",
    "train.progress=false",
    "model.net.hidden_size=32",
    "train.valid_limit=40",
    "evaluate.test_limit=40",
    "evaluate.num_samples=3",
    "sample.length=50",
]


# One step of training and a glance at the test split: a command run end to end in seconds.
SHORT = [
    "train.max_epochs=1",
    "train.steps_per_epoch=1",
    "train.progress=false",
    "train.valid_limit=5",
    "evaluate.test_limit=5",
    "sample.length=5",
]

# A random oracle small enough for an adversarial objective's few steps.
TINY_ORACLE = [
    "data=oracle",
    "data.vocab_size=50",
    "data.length=8",
    "data.num_train=200",
    "data.num_valid=50",
    "data.num_test=50",
    "evaluate.oracle_samples=50",
    "sample.length=8",
]


def command(module: str, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python -m module args...` in a fresh process on one thread; with check, it must succeed."""
    result = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=timeout,
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def refused_in_process(monkeypatch, capfd, *argv: str) -> tuple[int, list[str]]:
    """zoo.run's own main on `argv` in this process (a fresh interpreter costs seconds a call),
    which must exit: its exit status and the lines it wrote to stderr."""
    import pytest

    import zoo.run

    capfd.readouterr()
    monkeypatch.setattr(sys, "argv", ["zoo.run", *argv])
    with pytest.raises(SystemExit) as exit:
        zoo.run.main()
    return exit.value.code, capfd.readouterr().err.strip().splitlines()


def run_zoo(run_dir: Path, *overrides: str, check: bool = True) -> subprocess.CompletedProcess:
    """`python -m zoo.run` writing its run folder to `run_dir`."""
    return command("zoo.run", f"hydra.run.dir={run_dir}", *overrides, check=check)


def composed(*overrides: str):
    """The config `python -m zoo.run overrides...` would compose, without running anything."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=CONFIGS, version_base="1.3"):
        return compose("config", overrides=list(overrides))


def loss_and_draw(model, guide, batch, objective=None, step: int | None = None, seed: int = 0):
    """An objective's loss of one minibatch (by default -ELBO with the closed-form KL) and the
    draw of the guide's latents it used: the same seed before each."""
    from zoo.objectives import ELBO

    objective = objective or ELBO(analytic_kl=True)
    torch.manual_seed(seed)
    loss = objective(model, guide, batch, step=step)
    torch.manual_seed(seed)
    with torch.no_grad():
        return loss, guide()


# -- a linear-Gaussian state space model, whose exact likelihood the Kalman filter gives -----------


def kalman(x: torch.Tensor, mask: torch.Tensor, A: float, Q: float, R: float):
    """z_1 ~ N(0, 1), z_t = A z_{t-1} + N(0, Q^2), x_t = z_t + N(0, R^2): the filtering means and
    variances of p(z_t | x_{1:t}), (B, T) each, and the exact log p(x) of every sequence, (B,),
    run over a padded batch."""
    B, T = x.shape
    mean, var, log_p = torch.zeros(B, dtype=torch.float64), torch.ones(B, dtype=torch.float64), 0.0
    means, variances = [], []
    for t in range(T):
        if t > 0:
            mean, var = A * mean, A * A * var + Q * Q
        s = var + R * R
        log_p = log_p + mask[:, t] * -0.5 * (torch.log(2 * math.pi * s) + (x[:, t] - mean) ** 2 / s)
        gain = var / s
        mean, var = mean + gain * (x[:, t] - mean), (1 - gain) * var
        means.append(mean)
        variances.append(var)
    return torch.stack(means, 1), torch.stack(variances, 1), log_p


def run_in_process(run_dir: Path, *overrides: str) -> dict:
    """What `python -m zoo.run overrides...` computes and writes (zoo.run.train_and_report), in
    this process on one thread, sparing a start-up; its metrics."""
    from zoo.run import train_and_report

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train_and_report(composed(*overrides), Path(run_dir))
    finally:
        torch.set_num_threads(threads)
