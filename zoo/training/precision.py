"""The number format of training steps: fp32, or bf16 under CUDA autocast.

bf16 runs matrix products and recurrent cells in bfloat16 and keeps the reductions that
autocast lists as fp32 (sums, log, exp, softmax) in fp32; parameters, optimiser state,
validation and test figures stay fp32. CPU training is fp32 only: autocast to bfloat16 on a CPU
is slower than fp32 for these networks, so it is refused rather than offered.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch

from zoo.errors import ZooError
from zoo.options import did_you_mean

PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str, device: torch.device) -> None:
    """fp32 anywhere; bf16 only on a CUDA device. One ZooError line otherwise."""
    if precision not in PRECISIONS:
        raise ZooError(
            f"train.precision={precision!r} is not one of {', '.join(PRECISIONS)}{did_you_mean(precision, PRECISIONS)}"
        )
    if precision == "bf16" and device.type != "cuda":
        raise ZooError(
            "train.precision=bf16 is CUDA autocast and this run trains on the CPU: "
            "use train.precision=fp32, or train.device=cuda on a machine with a GPU"
        )


def autocast(precision: str, device: torch.device):
    """The context a training step's loss is computed in."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()
