"""Training in several processes (`torchrun --nproc_per_node=N -m zoo.run ...`): the process
group, each rank's shard of a minibatch, and the one collective per step that sums the ranks'
gradients and losses.

Every rank builds the same global minibatch (the trainer's order depends only on the seed, the
epoch and the pass) and trains on a contiguous shard of its rows, padded to the minibatch's
length. The objective's minibatch plate scales a shard's sequences by dataset_size / B_r, so

    rank r's loss      = (B_r / B) * objective(shard r)
                       = (N / B) * sum_{i in shard r} l_i  +  (B_r / B) * (terms of the whole data set)
    sum over the ranks = (N / B) * sum_i l_i  +  KL(q(w) || p(w))

which is one process's objective on the whole minibatch: the likelihood is scaled by
N / B (the global batch), and a term counted once per data set, such as the weights'
KL(q(w) || p(w)), is counted once, since the shares B_r / B sum to one (with equal shards the
sum is the mean of the ranks' losses). The ranks' gradients are summed accordingly. The
weights' draw w ~ q(w) is the same on every rank, as each rank's random stream follows one
process's (zoo.training.noise).

DistributedDataParallel is not used: Pyro's objective runs a model and a guide that share
modules without owning them through poutine traces, not one module's forward; a step must
also agree across ranks on a non-finite loss (skip or stop everywhere) and on the time budget,
and the reported loss is the sum of the ranks' shares. One flat all-reduce of the gradients,
the loss share, the changes to floating-point buffers and rank 0's stop vote does all of it,
with the same number of messages per step as DDP would need for the gradients alone.
"""

from __future__ import annotations

import os
import re
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor, nn

from zoo.data.batch import Batch
from zoo.errors import ZooError
from zoo.training.noise import ShardRows

TIMEOUT = timedelta(hours=1)  # rank 0 validates alone while the others wait


class RanksLost(ZooError):
    """A step could not be summed or shared: another rank stopped (interrupted, killed or failed)."""


@dataclass(frozen=True)
class World:
    """The processes training one model: this one's rank among `size`, and its place on its machine."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that validates, logs and writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """More than one process."""
        return self.size > 1

    # -- a rank's part of a step -------------------------------------------------------------

    def shard(self, batch: Batch) -> Shard:
        """This rank's rows of a global minibatch (contiguous, sizes differing by at most one)."""
        if not self.distributed:
            return Shard(batch, None, 1.0)
        start, rows = shard_bounds(batch.batch_size, self.size, self.rank)
        weight = rows / batch.batch_size
        if rows == 0:  # fewer rows than ranks: run one row at no weight, drawing as the others do
            start, rows = 0, 1
        stop = start + rows
        index = None if batch.index is None else batch.index[start:stop]
        part = Batch(batch.x[start:stop], batch.lengths[start:stop], batch.mask[start:stop], batch.dataset_size, index)
        return Shard(part, ShardRows(start, rows, batch.batch_size), weight)

    def sum_step(
        self,
        params: list[nn.Parameter],
        loss: Tensor,
        stop: bool,
        buffers: list[tuple[Tensor, Tensor]] = (),
        weight: float = 1.0,
    ) -> tuple[Tensor, bool]:
        """Sum every rank's gradients (in place), loss share and changes to `buffers` ((buffer, its
        value before the step) pairs, each rank's change weighted by its shard's `weight`) in one
        all-reduce. A parameter no rank gave a gradient keeps none, as in one process (Adam
        leaves it alone). Returns the summed loss and rank 0's `stop`."""
        if not self.distributed:
            return loss.detach(), stop
        device = params[0].device
        dtype = torch.float64 if any(p.dtype == torch.float64 for p in params) else torch.float32
        pieces = [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params]
        pieces += [(weight * (b - before)).reshape(-1) for b, before in buffers]
        flags = [float(p.grad is not None) for p in params] + [float(stop and self.is_main)]
        pieces += [loss.detach().reshape(1), torch.tensor(flags, device=device)]
        flat = torch.cat([piece.to(device, dtype) for piece in pieces])
        with self.collective():
            dist.all_reduce(flat)
        offset = 0
        has_grad = flat[-len(flags) : -1].tolist()
        for p, used in zip(params, has_grad):
            summed = flat[offset : offset + p.numel()].view_as(p).to(p.dtype)
            if not used:
                p.grad = None
            elif p.grad is None:
                p.grad = summed.clone()
            else:
                p.grad.copy_(summed)
            offset += p.numel()
        for b, before in buffers:
            b.copy_(before + flat[offset : offset + b.numel()].view_as(b).to(b.dtype))
            offset += b.numel()
        return flat[offset].to(loss.dtype), bool(flat[-1] > 0)

    # -- what every rank must agree on -------------------------------------------------------

    def broadcast(self, value=None):
        """Rank 0's `value` (any picklable object), on every rank."""
        if not self.distributed:
            return value
        payload = [value if self.is_main else None]
        with self.collective():
            dist.broadcast_object_list(payload, src=0, device=torch.device("cpu"))
        return payload[0]

    def from_main(self, compute, device: torch.device):
        """compute() run on rank 0 alone; its value, and rank 0's random state after it, on every rank."""
        value = compute() if self.is_main else None
        if not self.distributed:
            return value
        value, cpu, cuda = self.broadcast(
            (value, torch.get_rng_state(), cuda_rng_state(device)) if self.is_main else None
        )
        set_random_state(cpu, cuda, device)
        return value

    def share_random_state(self, device: torch.device) -> None:
        """Every rank continues rank 0's random stream (CPU, and the CUDA device in use)."""
        self.from_main(lambda: None, device)

    def publish(self, key: str, text: str) -> None:
        """Rank 0 leaves `text` under `key` for the other ranks to receive, whenever they ask."""
        if self.distributed and self.is_main:
            dist.distributed_c10d._get_default_store().set(f"zoo/{key}", text)

    def receive(self, key: str, timeout: timedelta = TIMEOUT) -> str:
        """What rank 0 published under `key`, waiting for it in one-second looks, so that a signal
        (torchrun stopping this rank when rank 0 has failed) is answered at once."""
        store = dist.distributed_c10d._get_default_store()
        deadline = time.monotonic() + timeout.total_seconds()
        while True:
            try:
                store.wait([f"zoo/{key}"], timedelta(seconds=1))
                return store.get(f"zoo/{key}").decode()
            except RuntimeError as error:  # not there yet (DistStoreError), or the store is gone
                if time.monotonic() > deadline:
                    raise RanksLost(
                        f"rank {self.rank} of {self.size} waited {timeout} for rank 0 ({short_reason(error)})"
                    ) from error

    def broadcast_modules(self, *modules: nn.Module) -> None:
        """Rank 0's parameters and buffers, copied into every rank's modules."""
        if not self.distributed:
            return
        with self.collective():
            for module in modules:
                for value in module.state_dict().values():
                    if isinstance(value, Tensor):
                        dist.broadcast(value, src=0)

    @contextmanager
    def collective(self):
        """Within: a collective whose failure (gloo and nccl raise RuntimeError when a rank has gone)
        is RanksLost, one line."""
        try:
            yield
        except RuntimeError as error:
            raise RanksLost(
                f"rank {self.rank} of {self.size} lost the others: another rank stopped ({short_reason(error)})"
            ) from error


@dataclass
class Shard:
    """A rank's rows of a minibatch: the padded batch of them, where they sit, and the share of the
    minibatch's loss they carry (B_r / B; 0 for a rank left without rows)."""

    batch: Batch
    rows: ShardRows | None  # None: the whole minibatch, in one process
    weight: float


def shard_bounds(total: int, ranks: int, rank: int) -> tuple[int, int]:
    """(first row, rows) of `rank`'s contiguous share of `total` rows; the first total % ranks ranks
    get one row more."""
    base, extra = divmod(total, ranks)
    rows = base + (rank < extra)
    return rank * base + min(rank, extra), rows


def short_reason(error: BaseException) -> str:
    """The first sentence of a backend's error, without the source location gloo prefixes it with."""
    text = re.sub(r"^\[[^\]]*\]\s*", "", str(error).strip().splitlines()[0] if str(error).strip() else "")
    return text.split(". ")[0][:160] or type(error).__name__


def cuda_rng_state(device: torch.device) -> Tensor | None:
    """The random state of `device` when it is a GPU; None on the CPU."""
    return torch.cuda.get_rng_state(device) if device.type == "cuda" else None


def set_random_state(cpu: Tensor, cuda: Tensor | None, device: torch.device) -> None:
    """Continue the CPU's random stream from `cpu`, and the GPU's (when training on one) from `cuda`."""
    torch.set_rng_state(cpu)
    if cuda is not None and device.type == "cuda":
        torch.cuda.set_rng_state(cuda, device)


# -- the process group --------------------------------------------------------------------------


def launched_world() -> World:
    """The world torchrun describes in the environment (RANK, WORLD_SIZE, LOCAL_RANK,
    LOCAL_WORLD_SIZE); a world of one without it."""
    env = os.environ
    size = int(env.get("WORLD_SIZE", 1))
    rank = int(env.get("RANK", 0))
    return World(rank, size, int(env.get("LOCAL_RANK", rank)), int(env.get("LOCAL_WORLD_SIZE", size)))


def current_world() -> World:
    """The world of the process group this process belongs to, or a world of one."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    rank, size = dist.get_rank(), dist.get_world_size()
    env = os.environ
    return World(rank, size, int(env.get("LOCAL_RANK", rank)), int(env.get("LOCAL_WORLD_SIZE", size)))


def visible_gpus() -> int:
    """The CUDA devices this process can use; 0 without CUDA."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def backend() -> str:
    """gloo for CPU tensors; nccl for CUDA tensors where CUDA and NCCL are there."""
    if torch.cuda.is_available() and dist.is_nccl_available():
        return "cpu:gloo,cuda:nccl"
    return "gloo"


@contextmanager
def process_group(timeout: timedelta = TIMEOUT):
    """Within: this process is a rank of the group torchrun started (its world is yielded), or,
    without torchrun, a world of one. The group is left on the way out, however it is left."""
    world = launched_world()
    if not world.distributed or dist.is_initialized():
        yield current_world()
        return
    if not dist.is_available():
        raise ZooError("this build of torch has no torch.distributed: train in one process")
    if world.local_rank < visible_gpus():  # a rank without a GPU of its own: see devices.resolve_device
        torch.cuda.set_device(world.local_rank)
    dist.init_process_group(backend=backend(), timeout=timeout)
    # torchrun stops the other ranks with SIGTERM when one ends: unwind as Ctrl-C does, so a
    # checkpoint half written is removed and the last whole one is named
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield current_world()
    finally:
        signal.signal(signal.SIGTERM, previous)
        dist.destroy_process_group()


def interrupt(signum, frame) -> None:
    """A signal handler that stops training as Ctrl-C does."""
    raise KeyboardInterrupt


def check_splits_by_sequence(objective) -> None:
    """Ranks split a minibatch only for an objective that is a sum over its sequences plus terms of
    the whole data set (the ELBO, IWAE-K, FIVO-K); any other is refused in one line."""
    from zoo.objectives import ELBO, IWAE
    from zoo.objectives.fivo import FIVO

    name = type(objective).__name__
    if isinstance(objective, ELBO) and objective.free_bits > 0:
        raise ZooError(
            "free bits clamp the KL averaged over the whole minibatch, which ranks holding parts of "
            "it cannot compute: train objective.free_bits in one process"
        )
    if type(objective) not in (ELBO, IWAE, FIVO):
        raise ZooError(
            f"objective {name} is not a sum over the minibatch's sequences (it pools them, or trains "
            "a critic of its own), so ranks cannot split its minibatches: train it in one process"
        )
