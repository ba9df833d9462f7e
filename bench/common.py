"""Helpers the bench scripts share: interleaved timing, the command line, results files written
under a lock, zoo commands in their own processes, learning curves, per-row options."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from zoo.compare import read_curve
from zoo.training.checkpoint import load_checkpoint
from zoo.training.devices import describe_device

ROOT = Path(__file__).parents[1]  # zoo_process runs the commands here, so the paths they name are the repository's


def relative(path: Path) -> str:
    """A path as the commands name it: from the repository's root, so a record names no checkout;
    whole when it lies outside the repository."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def time_steps(steps: dict, repeats: int = 7, inner: int = 5, warmup: int = 3) -> dict[str, float]:
    """Median seconds per call of each zero-argument step, the contenders interleaved so that
    machine noise falls on all of them alike."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    samples = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(inner):
                step()
            samples[name].append((time.perf_counter() - start) / inner)
    return {name: statistics.median(s) for name, s in samples.items()}


def train_step(loss_fn, params, lr: float = 1e-3, clip_norm: float = 5.0):
    """A zero-argument training step as the trainer runs it: loss, backward, clipping, Adam."""
    optimizer = torch.optim.Adam(params, lr=lr)

    def step():
        loss = loss_fn()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip_norm)
        optimizer.step()

    return step


def reload_best(trainer) -> None:
    """After fit(): the trainer's best.pt back into its model and guide, both in evaluation mode."""
    trainer.load_state_dict(load_checkpoint(trainer.run_dir, "best.pt"))
    trainer.model.eval()
    trainer.guide.eval()


def command_line() -> str:
    """The command that is running, as `python -m bench.<script> <arguments>` (a package's
    `__main__.py` named by its folder)."""
    script = Path(sys.argv[0])
    name = script.parent.name if script.stem == "__main__" else script.stem
    return "python -m " + " ".join([f"bench.{name}", *sys.argv[1:]])


def write_json(name: str, payload: dict) -> Path:
    """bench/results/<name>.json, with the hardware it ran on and the command that made it."""
    out = Path(__file__).parent / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    payload = {**payload, "hardware": describe_device(device), "command": command_line()}
    out.write_text(json.dumps(payload, indent=2))
    return out


def update_json(out: Path, update: Callable[[dict], None]) -> dict:
    """Read `out` afresh under a lock, let `update` change it in place, write it back atomically:
    benches running side by side add their cells to one file. Returns the whole payload."""
    out.parent.mkdir(exist_ok=True)
    with open(out.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        payload = json.loads(out.read_text()) if out.exists() else {"results": {}}
        update(payload)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=2))
        tmp.replace(out)
    return payload


def zoo_process(*arguments: str, threads: int | None) -> subprocess.CompletedProcess:
    """`python -m <arguments>` (a zoo command) in its own process from the repository's root, on
    `threads` OpenMP threads when given; its error output goes to the log when it fails."""
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    result = subprocess.run([sys.executable, "-m", *arguments], env=env, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        logging.error(result.stderr[-2000:])
    return result


def learning_curve(folder: Path) -> tuple[list[tuple[float, float]], str | None]:
    """(training minutes, validation nats per step) of each epoch, from a run folder's metrics.csv,
    and the kind of its validation figure; ([], None) without one."""
    epochs = read_curve(folder / "metrics.csv")
    points = [(float(r["minutes"]), float(r["valid_nats_per_step"])) for r in epochs]
    return points, epochs[-1]["valid_kind"] if epochs else None


def resume_options(folder: Path, source: Path | None, cell: str) -> list[str] | None:
    """The `train.resume=` of a cell's unfinished training: the cell's own last.pt when it was
    interrupted, else that of `source`, the cell of another grid that it continues (with that
    cell's optimiser, step-size schedule, history and elapsed minutes); [] for a fresh start.
    None, logged with the cell's name, when `source` holds no last.pt. Paths are from the
    repository's root (`relative`)."""
    start = folder if (folder / "last.pt").exists() else source
    if start is None:
        return []
    if not (start / "last.pt").exists():
        logging.error(f"--- {cell}: {relative(start)} has no last.pt to continue; run that cell first")
        return None
    return [f"train.resume={relative(start)}"]


def recorded_commands(train: list[str], evaluate: list[str], source: Path | None) -> list[str]:
    """A cell's two commands as its record gives them: the training, with the `train.resume=` of
    `source` where the cell continues another grid's (its recipe starts there), then the evaluation."""
    origin = [f"train.resume={relative(source)}"] if source else []
    return ["python -m " + " ".join([*train, *origin]), "python -m " + " ".join(evaluate)]


def train_then_evaluate(
    folder: Path,
    train: list[str],
    evaluate: list[str],
    cell: str,
    source: Path | None,
    threads: int | None,
    *,
    finished: tuple[str, ...] = ("trained",),
    current=lambda result: True,
    stamp: dict | None = None,
    evaluating: str = "evaluating best.pt",
) -> tuple[dict, dict] | None:
    """One bench cell in `folder`: `python -m zoo.run` unless its metrics.json has a status in
    `finished` (resuming it, or starting from the cell `source` of another grid), then `python -m
    zoo.evaluate` of its best.pt unless the evaluation there is `current`. Returns the training's
    metrics and the evaluation's (with `stamp` and eval_minutes added), or None when a process
    failed or there is nothing to resume."""
    trained = folder / "metrics.json"
    if not (trained.exists() and json.loads(trained.read_text()).get("status") in finished):
        resume = resume_options(folder, source, cell)
        if resume is None:
            return None
        logging.info(f"--- {cell}: training{' (resumed)' if resume else ''}")
        if zoo_process(*train, *resume, threads=threads).returncode != 0:
            return None
    evaluation = folder / "evaluation" / "metrics.json"
    if not (evaluation.exists() and current(json.loads(evaluation.read_text()))):
        logging.info(f"--- {cell}: {evaluating}")
        began = time.perf_counter()
        if zoo_process(*evaluate, threads=threads).returncode != 0:
            return None
        result = json.loads(evaluation.read_text())
        result.update(stamp or {}, eval_minutes=(time.perf_counter() - began) / 60)
        evaluation.write_text(json.dumps(result, indent=2))
    return json.loads(trained.read_text()), json.loads(evaluation.read_text())


def options_for(options: list[str], name: str) -> list[str]:
    """The --options of row or model `name`: those without a prefix, and those written
    `<name>:key=value`."""
    chosen = []
    for option in options:
        prefix, colon, rest = option.partition(":")
        if not colon or "=" in prefix:
            chosen.append(option)
        elif prefix == name:
            chosen.append(rest)
    return chosen


def compose_config(overrides: list[str]):
    """The config zoo.run composes from these options."""
    from hydra import compose, initialize_config_dir

    from zoo.run import CONFIGS

    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        return compose("config", overrides=overrides)


def spread(values: list[float], digits: int = 3) -> str:
    """mean ± sd over seeds (the sd left out for one seed; a dash for none)."""
    if not values:
        return "—"
    mean = statistics.fmean(values)
    return f"{mean:.{digits}f}" + (f" ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else "")
