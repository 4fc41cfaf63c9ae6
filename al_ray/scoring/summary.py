"""The job summary written to ``<out>/_summary.json``: what was scored, how fast, what failed and why."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ShardFailure(BaseModel):
    shard: str
    reason: str
    attempts: int = 1
    kind: str = "failed"  # "failed" (worker/engine error) | "quarantined" (bad data)


class DuplicateIds(BaseModel):
    count: int = 0  # ids seen more than once (counted once each)
    extra_rows: int = 0  # rows beyond the first occurrence
    examples: list[dict[str, Any]] = Field(default_factory=list)  # {"id": ..., "shards": [...]}
    # how the check ran (al_ray.scoring.duplicates): a resume that changed nothing reuses the last report
    shards_checked: int = 0
    from_sidecars: int = 0  # shards whose <score file>.ids.npy was read
    from_score_files: int = 0  # shards without a sidecar (older score files): their id column was read
    partitions: int = 0
    map_tasks: int = 0
    # unchanged since the last check: their hashes came from its saved partitions, nothing of theirs read
    shards_from_saved: int = 0
    reused: bool = False
    digest: str = ""  # of the shards and sidecar fingerprints checked
    rows_checked: int = 0
    # the largest task's memory (al_ray.scoring.duplicates._PrivateMemory): its worker's private memory
    # at the task's largest point, and how much the task itself added (object-store pages not counted)
    task_peak_private_mb: float = 0.0
    task_private_rise_mb: float = 0.0
    error: str | None = None  # the check itself failed (the scores are still complete)


class ScoringSummary(BaseModel):
    corpus: str
    out: str
    model: str
    model_version: str
    mode: str = ""
    backend: str = ""
    labels: list[str] = Field(default_factory=list)
    workers: int = 0
    shards_total: int = 0
    shards_scored: int = 0
    shards_skipped_done: int = 0  # completed by an earlier run (marker present)
    rows_scored: int = 0
    rows_skipped: int = 0  # rows without an id: not scored
    rows_empty_text: int = 0
    rows_truncated: int = 0
    rows_quarantined: int = 0  # rows of quarantined shards (from their footers, when readable)
    seconds: float = 0.0
    workers_ready_s: float = 0.0  # from job start until every worker's engine was up
    rows_per_s: float = 0.0
    actor_restarts: int = 0
    peak_rss_mb_per_worker: list[float] = Field(default_factory=list)  # actor process, at the end
    failed_shards: list[ShardFailure] = Field(default_factory=list)
    duplicate_ids: DuplicateIds = Field(default_factory=DuplicateIds)
    calibration: str = "none"
    calibration_prior: list[float] | None = None  # calibration 'corpus': the prior every shard divided out
    calibration_rows: int = 0  # rows the prior was estimated from
    started_at: str = ""
    finished_at: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed_shards
