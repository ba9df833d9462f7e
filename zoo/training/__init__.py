"""Training: the loop and its checkpoints (zoo.training.trainer, .checkpoint), the device it runs
on (.devices), the check that a guide fits its model (.sites), and where it runs: processes
(torchrun ranks and their shards of a minibatch), the random draws of a shard, CPU threads, and
the number format of a step."""

from zoo.training.distributed import World, check_splits_by_sequence, current_world, launched_world, process_group
from zoo.training.noise import ShardRows, global_noise
from zoo.training.precision import PRECISIONS, autocast, check_precision
from zoo.training.threads import available_cores, default_threads, launcher_jobs, use_threads

__all__ = [
    "World",
    "check_splits_by_sequence",
    "current_world",
    "launched_world",
    "process_group",
    "ShardRows",
    "global_noise",
    "PRECISIONS",
    "autocast",
    "check_precision",
    "available_cores",
    "default_threads",
    "launcher_jobs",
    "use_threads",
]
