"""How many GPUs and CPUs a Ray actor or task asks for, and how many threads it then runs.

GPUs (``auto_num_gpus``): the configured number, or, when unset, one GPU when the connected cluster
has at least one whole GPU, else none. The scoring actors, the nightly cost estimate and the
fine-tune task all decide it here, so a plan and the run it describes agree.

A CPU engine's speed is its thread count, and Ray sets ``OMP_NUM_THREADS`` (hence torch's threads)
in a worker to the CPUs it reserved: an actor that reserves 1 CPU on a 2-core machine runs
single-threaded. So on a CPU-only cluster the defaults share the nodes' CPUs out among the workers;
beside a GPU one CPU is enough. Both the scoring actors and the fine-tune task use this.
"""

from __future__ import annotations

import os
from typing import Callable


def cluster_gpus() -> float:
    """GPUs in the connected Ray cluster (0 when it has none, or when Ray is not initialised)."""
    import ray

    if not ray.is_initialized():
        return 0.0
    return float(ray.cluster_resources().get("GPU", 0))


def auto_num_gpus(configured: float | None, available: Callable[[], float] = cluster_gpus) -> float:
    """``configured``, or 1 when it is None and the cluster has at least one GPU, else 0."""
    if configured is not None:
        return float(configured)
    return 1.0 if available() >= 1 else 0.0


def default_cpus(num_gpus: float, n_workers: int = 1) -> float:
    """1 beside a GPU; else an even share of the live nodes' CPUs, at most one node's worth (a worker
    lives on one node). Needs ``ray`` initialised."""
    if num_gpus > 0:
        return 1.0
    import ray

    node_cpus = [n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
    node_cpus = [c for c in node_cpus if c >= 1] or [1.0]
    share = int(sum(node_cpus) // max(1, n_workers))
    return float(max(1, min(share, int(max(node_cpus)))))


def clamp_threads_to_cores() -> int:
    """Inside a worker: cap ``OMP_NUM_THREADS`` and torch's threads at the cores this process may
    run on. A Ray node can declare more logical CPUs than it has cores (tests start a 4-CPU head on
    2 cores), and more spinning OpenMP threads than cores is several times slower, not faster."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        wanted = int(os.environ.get("OMP_NUM_THREADS") or cores)
    except ValueError:
        wanted = cores
    n = max(1, min(wanted, cores))
    os.environ["OMP_NUM_THREADS"] = str(n)
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
