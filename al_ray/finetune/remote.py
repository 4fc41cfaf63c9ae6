"""The fine-tune as a Ray task: same arguments and result as ``train_round``.

The caller connects to a cluster first (``ray.init(address=...)`` or ``RAY_ADDRESS`` in a Ray job);
this module never calls ``ray.init`` itself. The task asks for a GPU when the cluster has one
(``FinetuneConfig.num_gpus`` = None) and trains on it; otherwise it trains on CPU.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from al_ray.errors import ConfigError
from al_ray.finetune.config import FinetuneConfig
from al_ray.finetune.train import FinetuneResult, train_round
from al_ray.resources import auto_num_gpus, cluster_gpus
from al_ray.task import TaskConfig


def resolve_num_gpus(config: FinetuneConfig) -> float:
    """``config.num_gpus``, or 1 when it is None and the cluster has at least one GPU, else 0."""
    return auto_num_gpus(config.num_gpus, cluster_gpus)


def _run(config: FinetuneConfig, task: TaskConfig, kwargs: dict[str, Any]) -> FinetuneResult:
    from al_ray.resources import clamp_threads_to_cores

    clamp_threads_to_cores()
    return train_round(config, task, **kwargs)


def submit_train_round(
    config: FinetuneConfig,
    task: TaskConfig,
    *,
    mode: str,
    base_model: str,
    labels: Sequence[str] | str,
    out_url: str,
    version: str,
    storage_options: Mapping[str, Any] | None = None,
) -> Any:
    """Start ``train_round`` as a Ray task and return its ``ObjectRef`` (resolves to a FinetuneResult)."""
    import ray

    if not ray.is_initialized():
        raise ConfigError("not connected to a Ray cluster: call ray.init(address=...) (or run inside a Ray "
                          "job) before submitting the fine-tune")
    num_gpus = resolve_num_gpus(config)
    kwargs = dict(mode=mode, base_model=str(base_model),
                  labels=[labels] if isinstance(labels, str) else list(labels),
                  out_url=out_url, version=version,
                  storage_options=dict(storage_options) if storage_options else None)
    # Training is deterministic and resumable (train_round skips a completed version), so a retry after
    # a lost worker is safe; application errors are not retried (they would fail the same way).
    from al_ray.resources import default_cpus

    num_cpus = config.num_cpus if config.num_cpus is not None else default_cpus(num_gpus)
    task_fn = ray.remote(_run).options(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=1,
                                       name=f"al_ray.finetune[{version}]")
    return task_fn.remote(config, task, kwargs)


def train_round_remote(
    config: FinetuneConfig,
    task: TaskConfig,
    *,
    mode: str,
    base_model: str,
    labels: Sequence[str] | str,
    out_url: str,
    version: str,
    storage_options: Mapping[str, Any] | None = None,
    timeout_s: float | None = None,
) -> FinetuneResult:
    """``train_round`` run as a Ray task on the connected cluster; blocks until it finishes."""
    import ray

    ref = submit_train_round(config, task, mode=mode, base_model=base_model, labels=labels, out_url=out_url,
                             version=version, storage_options=storage_options)
    return ray.get(ref, timeout=timeout_s)
