"""Training on a GPU: train.device=cuda gives the CPU's losses from the same seed and draws, in fp32
and (within bf16's precision) under train.precision=bf16; the command trains on CUDA, and two
torchrun ranks each on a GPU of their own (nccl) draw one process's curve. Skipped without CUDA,
but for what must hold on any machine: bf16 refused on the CPU in one line, and the GPU check
stopping in one line where there is no CUDA."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

from bench import gpu_check
from tests.helpers import QUICK, command, run_in_process, run_zoo
from zoo.errors import ZooError
from zoo.training.devices import resolve_device
from zoo.training.distributed import World
from zoo.training.trainer import TrainOptions

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device is visible")
needs_two_gpus = pytest.mark.skipif(torch.cuda.device_count() < 2, reason="fewer than two CUDA devices")


def check_options(**changes) -> argparse.Namespace:
    """bench.gpu_check's options for a short check: 4 steps of a 16-unit network."""
    options = dict(steps=4, batch=8, length=12, hidden=16, tolerance=1e-3, bf16_tolerance=5e-2, device="cuda")
    return argparse.Namespace(**{**options, **changes})


# -- on any machine ------------------------------------------------------------------------------


def test_bf16_on_the_cpu_is_refused_in_one_line(tmp_path):
    with pytest.raises(ZooError, match="train.precision=bf16 is CUDA autocast"):
        TrainOptions(device="cpu", precision="bf16")
    with pytest.raises(ZooError, match="did you mean"):
        TrainOptions(precision="bf61")
    result = run_zoo(tmp_path, *QUICK, "train.device=cpu", "train.precision=bf16", check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: train.precision=bf16 is CUDA autocast and this run trains on the CPU: use train.precision=fp32, "
        "or train.device=cuda on a machine with a GPU"
    ]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible")
def test_the_gpu_check_stops_in_one_line_without_cuda():
    result = command("bench.gpu_check", check=False)
    assert result.returncode == 1 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "no CUDA device is visible" in result.stderr


def test_the_gpu_check_compares_devices_step_by_step(tmp_path):
    """Its comparison, run CPU against CPU: the same seed and draws give the same losses."""
    for name in ("bayes_lstm", "seq_vae"):
        row = gpu_check.check(name, check_options(device="cpu", steps=2, hidden=8), str(tmp_path))
        assert row["ok"] and row["fp32_gap"] == 0 and len(row["cpu_losses"]) == 2


def pretend_gpus(monkeypatch, count: int) -> None:
    """Pretend `count` CUDA devices are visible (devices are named, never touched)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_auto_gives_every_rank_its_own_gpu_or_puts_them_all_on_the_cpu(monkeypatch):
    two_ranks = [World(rank, 2, rank, 2) for rank in (0, 1)]
    pretend_gpus(monkeypatch, 2)
    assert [resolve_device("auto", w) for w in two_ranks] == [torch.device("cuda", 0), torch.device("cuda", 1)]
    assert resolve_device("auto") == torch.device("cuda", 0)
    pretend_gpus(monkeypatch, 1)  # two ranks, one GPU: both on the CPU, not one on each
    assert [resolve_device("auto", w) for w in two_ranks] == [torch.device("cpu")] * 2
    assert resolve_device("auto") == torch.device("cuda", 0)
    pretend_gpus(monkeypatch, 0)
    assert resolve_device("auto", two_ranks[1]) == torch.device("cpu")


def test_cuda_for_more_ranks_than_gpus_is_refused_in_one_line(monkeypatch):
    pretend_gpus(monkeypatch, 1)
    assert resolve_device("cuda", World(0, 2, 0, 2)) == torch.device("cuda", 0)
    with pytest.raises(
        ZooError, match=r"2 ranks on this machine .* and 1 is visible: start torchrun with --nproc_per_node=1"
    ):
        resolve_device("cuda", World(1, 2, 1, 2))


# -- on a GPU ------------------------------------------------------------------------------------


@needs_cuda
@pytest.mark.parametrize("name", gpu_check.MODELS)
def test_a_cuda_step_gives_the_cpu_loss(name, tmp_path):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    options = check_options()
    data = gpu_check.toy_data(name, sequences=16, length=options.length)
    cpu = gpu_check.losses(name, data, "cpu", "fp32", options, str(tmp_path))
    cuda = gpu_check.losses(name, data, "cuda", "fp32", options, str(tmp_path))
    assert cuda == pytest.approx(cpu, rel=1e-3)


@needs_cuda
@pytest.mark.parametrize("name", ["char_lstm", "vrnn"])
def test_bf16_steps_stay_within_bf16s_precision_of_fp32(name, tmp_path):
    options = check_options()
    data = gpu_check.toy_data(name, sequences=16, length=options.length)
    fp32 = gpu_check.losses(name, data, "cuda", "fp32", options, str(tmp_path))
    bf16 = gpu_check.losses(name, data, "cuda", "bf16", options, str(tmp_path))
    assert bf16 == pytest.approx(fp32, rel=5e-2)


@needs_cuda
def test_the_command_trains_on_cuda_in_bf16(tmp_path):
    metrics = run_in_process(
        tmp_path, *QUICK, "model=vrnn", "model.net.hidden_size=16", "train.device=cuda", "train.precision=bf16"
    )
    assert metrics["status"] == "trained" and metrics["hardware"] == torch.cuda.get_device_name(0)
    assert all(f["nats_per_step"] == f["nats_per_step"] for f in metrics["test"])  # finite, not NaN


@needs_two_gpus
def test_two_ranks_on_two_gpus_draw_the_curve_of_one(tmp_path):
    from tests.test_distributed import CLI, torchrun

    options = [*CLI, "train.max_epochs=2", "train.steps_per_epoch=3", "train.device=cuda"]
    torchrun(tmp_path, *options, f"hydra.run.dir={tmp_path / 'ranks'}")
    run_zoo(tmp_path / "one", *options)
    ranks = json.loads(Path(tmp_path / "ranks" / "metrics.json").read_text())
    one = json.loads(Path(tmp_path / "one" / "metrics.json").read_text())
    assert ranks["processes"] == 2
    assert ranks["best_valid_nats_per_step"] == pytest.approx(one["best_valid_nats_per_step"], rel=1e-4)
