"""Read per-shard outcomes out of ``al_ray.scoring``'s ``ScoringSummary`` (the one place that knows it)."""

from __future__ import annotations

from typing import Any

from al_ray.security import scrub


def _norm(url: str) -> str:
    """Compare shard URLs without their scheme (``file:///x`` == ``/x``; ``s3://b/k`` == ``b/k``)."""
    return url.split("://", 1)[1].lstrip("/") if "://" in url else url.lstrip("/")


def failures_of(summary: Any) -> list[dict[str, Any]]:
    """Each failed or quarantined shard as ``{"shard", "reason", "kind", "attempts"}``."""
    out = []
    for f in getattr(summary, "failed_shards", None) or []:
        d = f.model_dump() if hasattr(f, "model_dump") else dict(f)
        out.append({"shard": scrub(str(d.get("shard", ""))), "reason": scrub(str(d.get("reason", ""))),
                    "kind": d.get("kind", "failed"), "attempts": d.get("attempts", 1)})
    return out


def shard_outcomes(requested: list[str], summary: Any) -> tuple[dict[str, int | None], list[dict[str, Any]]]:
    """(completed shard URL -> rows or None when unknown, failures) for the shards asked for.

    A requested shard completed unless the summary lists it as failed or quarantined.
    """
    failures = failures_of(summary)
    failed = {_norm(str(f.shard)) for f in getattr(summary, "failed_shards", None) or []}
    completed: dict[str, int | None] = {u: None for u in requested if _norm(u) not in failed}
    return completed, failures


def rows_scored(summary: Any) -> int:
    return int(getattr(summary, "rows_scored", 0) or 0)
