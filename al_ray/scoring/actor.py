"""The Ray actor: owns one engine for its lifetime and scores whole shards with it.

Created by the driver (``al_ray.scoring.job``) with ``num_gpus`` 1 on a GPU cluster (0 here), and
``max_restarts`` so Ray brings a killed actor back; shards it held are resubmitted by the driver.
``close()`` shuts the engine (and vLLM's EngineCore processes) down before the driver ``ray.kill``s
the actor: nothing relies on ``__del__`` or interpreter exit.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Iterator

from al_ray.scoring.config import ScoringConfig


class ScoringWorker:
    def __init__(self, config: dict[str, Any], model_id: str, model_version: str) -> None:
        from al_ray.resources import clamp_threads_to_cores
        from al_ray.scoring.engines import make_engine
        from al_ray.security import register_storage_options

        clamp_threads_to_cores()
        self.config = ScoringConfig.model_validate(config)
        register_storage_options(self.config.storage_options)
        self.model_id, self.model_version = model_id, model_version
        self.engine = make_engine(self.config)
        self.engine_restarts = 0

    def info(self) -> dict[str, Any]:
        from al_ray.memory import peak_rss_mb

        engine = self.engine
        return {"pid": os.getpid(), "host": socket.gethostname(), "mode": engine.mode if engine else None,
                "labels": engine.labels if engine else None,
                "max_input_tokens": engine.max_input_tokens if engine else None,
                "engine_restarts": getattr(self, "engine_restarts", 0),
                # this process only (vLLM's EngineCore is a child): what streaming must keep flat
                "peak_rss_mb": peak_rss_mb()}

    def label_prob_sums(self, shard_url: str, max_rows: int) -> tuple[list[float], int]:
        """This worker's share of the corpus-wide prior (see ``al_ray.scoring.shard.label_prob_sums``)."""
        from al_ray.scoring.shard import label_prob_sums

        return label_prob_sums(self.engine, self.config, shard_url, max_rows)

    def score(self, shard_url: str, rel: str, out_url: str, fingerprint: str = "",
              prior: list[float] | None = None) -> Iterator[Any]:
        """Streaming: ``{"rows": n}`` per batch, then the ``ShardResult``."""
        from al_ray.scoring.shard import score_shard

        try:
            yield from score_shard(self.engine, self.config, shard_url=shard_url, rel=rel, out_url=out_url,
                                   model_id=self.model_id, model_version=self.model_version, fingerprint=fingerprint,
                                   prior=prior)
        except Exception as exc:
            if _engine_dead(exc):
                self._restart_engine(exc)
            raise  # the driver retries the shard (max_shard_attempts), on this actor's fresh engine

    def _restart_engine(self, exc: BaseException) -> None:
        """The engine's own process died (vLLM's EngineCore): shut down what is left of it and start
        a fresh engine in this actor, so the shards it is given next (the failed one included) can
        be scored. Rebuilding in place does not depend on Ray restarting the actor."""
        import sys

        from al_ray.scoring.engines import make_engine

        from al_ray.security import scrub  # messages may quote URLs with credentials in them

        print(f"scoring engine died ({type(exc).__name__}: {scrub(str(exc))}); restarting the engine",
              file=sys.stderr, flush=True)
        try:
            self.close()
        except Exception as close_exc:  # a dead engine may not shut down cleanly; start a new one anyway
            print(f"closing the dead engine raised {type(close_exc).__name__}: {scrub(str(close_exc))}",
                  file=sys.stderr, flush=True)
        self.engine = make_engine(self.config)
        self.engine_restarts += 1

    def close(self) -> bool:
        engine, self.engine = getattr(self, "engine", None), None
        if engine is not None:
            engine.close()
        return True


def _engine_dead(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) says the engine process is gone (vLLM's EngineDeadError)."""
    import sys

    mod = sys.modules.get("vllm.v1.engine.exceptions")  # loaded whenever a vLLM engine is
    if mod is None:  # transformers backend: the engine lives in this process
        return False
    EngineDeadError = mod.EngineDeadError
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, EngineDeadError):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def remote_worker_class(config: ScoringConfig, num_gpus: float, num_cpus: float):
    """``ScoringWorker`` as a Ray actor class with this job's resources (ray is already initialised)."""
    import ray

    return ray.remote(ScoringWorker).options(
        num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=config.max_actor_restarts,
        max_task_retries=0, max_concurrency=1,
    )
