"""One nightly pass: plan, score the new and changed shards, record what completed, summarise.

Cost estimate (``estimate_cost``): the capacity planner's model (``al_ray.planner.gpu_hours``),
with the workers as engines and the measured scoring wall time::

    gpu_hours      = workers x max(num_gpus_per_worker, 1 if 0) x scoring wall seconds / 3600
    estimated_cost = gpu_hours x gpu_hour_price

The assumption: every scoring worker holds its GPUs for the whole scoring pass (Ray actors pinned to
GPUs are billed while the nodes are up, whether or not a shard is in flight). It excludes the head
node, cluster start-up, and idle time before the autoscaler releases nodes; a CPU-only run
(``num_gpus_per_worker == 0``) counts one unit per worker, so ``gpu_hour_price`` then acts as a
price per worker-hour. A night with nothing to score costs 0: no scoring pass is started.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from al_ray.nightly.scoring_outcomes import rows_scored, shard_outcomes
from al_ray.nightly.plan import RescorePlan, plan_rescore
from al_ray.nightly.state import NightlyState, ShardRecord, state_url, utc_now
from al_ray.planner import cost as _cost
from al_ray.planner import gpu_hours as _gpu_hours
from al_ray.resources import auto_num_gpus
from al_ray.security import register_storage_options, scrub

if TYPE_CHECKING:  # pragma: no cover
    from al_ray.scoring.config import ScoringConfig

COST_ASSUMPTION = (
    "gpu_hours = scoring wall hours x workers x num_gpus_per_worker (1 per worker when 0); "
    "every worker is assumed to hold its GPUs for the whole scoring pass; head node, cluster "
    "start-up and autoscaler idle time are not included"
)


def estimate_cost(wall_seconds: float, workers: int, gpus_per_worker: float, gpu_hour_price: float) -> tuple[float, float]:
    """(gpu_hours, estimated_cost) under ``COST_ASSUMPTION``: the planner's model, a CPU worker
    counting as one unit."""
    units = float(gpus_per_worker) if gpus_per_worker and gpus_per_worker > 0 else 1.0
    hours = _gpu_hours(max(int(workers), 1), units, max(wall_seconds, 0.0))
    return hours, _cost(hours, gpu_hour_price)


@dataclass
class NightlySummary:
    corpus: str
    scores_out: str
    model_version: str
    shards_total: int
    shards_new: int
    shards_changed: int
    shards_unchanged: int
    shards_removed: int
    shards_scored: int
    shards_failed: int
    rows_scored: int
    failures: list[dict[str, Any]]
    scoring_seconds: float
    wall_seconds: float
    rows_per_second: float
    workers: int
    gpus_per_worker: float
    gpu_hour_price: float
    gpu_hours: float
    estimated_cost: float
    cost_assumption: str = COST_ASSUMPTION
    model_version_changed: bool = False
    scored: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    state_url: str = ""
    started_at: str = ""
    finished_at: str = ""
    scoring: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.shards_failed == 0 and not self.failures

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _summary_dict(summary: Any) -> dict[str, Any]:
    if summary is None:
        return {}
    if hasattr(summary, "to_dict"):
        return dict(summary.to_dict())
    if hasattr(summary, "model_dump"):
        return dict(summary.model_dump(mode="json"))
    return dict(asdict(summary))


def _completed(plan: RescorePlan, scoring: Any) -> tuple[dict[str, int | None], list[dict[str, Any]]]:
    """Which requested shards completed (url -> rows) and which failed, from the scoring summary."""
    return shard_outcomes([fi.url for fi in plan.to_score], scoring)


def run_nightly(
    scoring_config: "ScoringConfig",
    corpus: str,
    scores_out: str,
    *,
    gpu_hour_price: float,
    storage_options: Mapping[str, Any] | None = None,
    progress: bool = False,
) -> NightlySummary:
    """Score the shards of ``corpus`` that are new or changed since the last pass into ``scores_out``.

    Requires Ray to be initialised by the caller (entry points do it). Idempotent: a rerun over an
    unchanged corpus scores nothing. ``storage_options`` default to the scoring config's.
    """
    from al_ray.scoring.job import run_scoring

    if gpu_hour_price < 0:
        raise ValueError("gpu_hour_price must be >= 0")
    so = dict(storage_options if storage_options is not None else (getattr(scoring_config, "storage_options", None) or {}))
    register_storage_options(so)
    if storage_options is not None and dict(getattr(scoring_config, "storage_options", None) or {}) != so:
        scoring_config = scoring_config.model_copy(update={"storage_options": so})  # one set of options for all
    started_at, t0 = utc_now(), time.monotonic()
    model_version = resolve_model_version(scoring_config)
    state = NightlyState.load(scores_out, so)
    plan = plan_rescore(corpus, scores_out, model_version, so, state=state)
    workers = int(getattr(scoring_config, "workers", 1) or 1)
    gpus = _gpus_per_worker(scoring_config)

    completed: dict[str, int | None] = {}
    failures: list[dict[str, Any]] = []
    scoring_dict: dict[str, Any] | None = None
    scoring_seconds = 0.0
    rows = 0
    if not plan.nothing_to_do:
        ts = time.monotonic()
        result = run_scoring(scoring_config, corpus, scores_out,
                             shards=[fi.url for fi in plan.to_score], rescore=True, progress=progress)
        scoring_seconds = time.monotonic() - ts
        scoring_dict = _summary_dict(result)
        completed, failures = _completed(plan, result)
        rows = rows_scored(result)
        workers = int(getattr(result, "workers", 0) or workers)  # actors actually started

    # Record only what completed, with the fingerprint seen at planning time: a shard rewritten
    # while it was being scored then differs next night and is scored again (never skipped).
    for url, shard_rows in completed.items():
        state.shards[url] = ShardRecord(fingerprint=plan.fingerprints[url], model_version=model_version,
                                        scored_at=utc_now(), rows=shard_rows)
    for url in plan.removed:
        state.shards.pop(url, None)
    if completed or plan.removed:
        state.save(scores_out, so)

    gpu_hours, cost = estimate_cost(scoring_seconds, workers, gpus, gpu_hour_price)
    return NightlySummary(
        corpus=scrub(corpus), scores_out=scrub(scores_out), model_version=model_version,
        shards_total=len(plan.new) + len(plan.changed) + len(plan.unchanged),
        shards_new=len(plan.new), shards_changed=len(plan.changed), shards_unchanged=len(plan.unchanged),
        shards_removed=len(plan.removed), shards_scored=len(completed), shards_failed=len(failures),
        rows_scored=rows, failures=failures, scoring_seconds=round(scoring_seconds, 3),
        wall_seconds=round(time.monotonic() - t0, 3),
        rows_per_second=round(rows / scoring_seconds, 3) if scoring_seconds > 0 else 0.0,
        workers=workers, gpus_per_worker=gpus, gpu_hour_price=float(gpu_hour_price),
        gpu_hours=round(gpu_hours, 6), estimated_cost=round(cost, 6),
        model_version_changed=plan.model_version_changed,
        scored=sorted(scrub(u) for u in completed), removed=[scrub(u) for u in plan.removed],
        state_url=scrub(state_url(scores_out)), started_at=started_at, finished_at=utc_now(),
        scoring=scoring_dict,
    )


def _gpus_per_worker(scoring_config: Any) -> float:
    """The config's GPUs per actor; unset means 1 on a cluster with GPUs, else 0 (as scoring decides:
    both ask ``al_ray.resources.auto_num_gpus``)."""
    return auto_num_gpus(getattr(scoring_config, "num_gpus_per_worker", None))


def resolve_model_version(scoring_config: "ScoringConfig") -> str:
    """The version the scores will carry, decided exactly as ``al_ray.scoring`` decides it (explicit
    ``model_version``, else the checkpoint's version file, else its directory name), so a plan and
    the rows it produces always agree."""
    from al_ray.scoring.job import resolve_model_version as scoring_version

    return scoring_version(scoring_config)
