"""torch's intra-op threads: the cores this process may run on, split among the processes that
share them.

A small recurrent network is a long string of small ops; with torch's default pool in every
process, two jobs on one machine each spin as many threads as there are cores, and a step can
slow down by up to 100 times. Ranks started by torchrun and jobs run side by side by a launcher
therefore divide the cores between them.
"""

from __future__ import annotations

import os

import torch

from zoo.errors import ZooError


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container or taskset narrows)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform
        return os.cpu_count() or 1


def launcher_jobs(n_jobs: int | None) -> int:
    """Jobs a launcher runs at once on this machine from its n_jobs setting (joblib's convention:
    None is one, -1 all cores, -2 all but one, ...)."""
    if n_jobs is None or n_jobs == 0:
        return 1
    return n_jobs if n_jobs > 0 else max(1, available_cores() + 1 + n_jobs)


def default_threads(local_processes: int = 1, jobs: int = 1) -> int:
    """The threads one process gets when train.threads is null: the available cores divided by
    the processes sharing them (torchrun's ranks on this machine times a launcher's parallel
    jobs), at least one. A single rank never takes more than torch already uses (OMP_NUM_THREADS,
    torch.set_num_threads); torchrun's ranks ignore its placeholder OMP_NUM_THREADS=1."""
    share = max(1, available_cores() // max(1, local_processes * jobs))
    return share if local_processes > 1 else min(share, torch.get_num_threads())


def use_threads(requested: int | None, local_processes: int = 1, jobs: int = 1) -> int:
    """Set torch's intra-op threads to `requested`, or to default_threads when it is None; returns
    the number set."""
    if requested is not None and requested < 1:
        raise ZooError(
            f"train.threads={requested} must be at least 1 (or null: the available cores "
            "divided among the processes sharing them)"
        )
    threads = requested or default_threads(local_processes, jobs)
    torch.set_num_threads(threads)
    return threads
