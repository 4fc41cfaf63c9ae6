"""How every entry point (the CLI, the Ray jobs, the benchmarks) connects to Ray: one rule.

1. An address the user names connects to that cluster: ``--ray-address``, else ``RAY_ADDRESS``
   (which ``ray job submit`` sets for a job's driver, so a submitted job finds its cluster). The
   address ``auto`` means "the cluster already running on this machine".
2. Otherwise this process starts its own private Ray (``address="local"``). It never attaches to a
   head left by ``ray start``, or to the ``ray_current_cluster`` file one that died left behind:
   attaching by accident made ``ray.init(num_cpus=...)`` fail with "When connecting to an existing
   cluster, num_cpus and num_gpus must not be provided", and a local run would have borrowed a
   cluster it did not ask for. ``num_cpus`` applies only here, to the Ray this process starts.

Library code never calls ``ray.init``; the caller connects first with ``connect``.
"""

from __future__ import annotations

import os


def resolve_address(address: str | None = None) -> str:
    """The address ``connect`` will use: the named one, else ``$RAY_ADDRESS``, else ``"local"``."""
    return address or os.environ.get("RAY_ADDRESS") or "local"


def connect(address: str | None = None, *, num_cpus: int | None = None, log_to_driver: bool = False) -> bool:
    """Connect (or start a private local Ray) by the rule above; False when already connected."""
    import ray

    if ray.is_initialized():
        return False
    target = resolve_address(address)
    if target == "local":
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, logging_level="warning",
                 log_to_driver=log_to_driver)
    else:
        ray.init(address=target, logging_level="warning", log_to_driver=log_to_driver)
    return True
