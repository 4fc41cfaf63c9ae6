"""Score one shard with one engine: stream record batches through the engine, publish the result.

This is the unit of work a Ray actor runs (``al_ray.scoring.actor``); it is a plain generator so it
can be tested without Ray. It yields ``{"rows": n}`` after every batch (the driver's progress bar)
and finally a ``ShardResult``. Bad *data* (invalid UTF-8, an unreadable file) does not raise: the
shard is reported as quarantined, so the job goes on with the other shards and the driver does
not retry it. A *storage* error (the store failing after the client's retries) raises
``StorageError`` naming the object instead, so the driver retries the shard.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from al_ray import storage
from al_ray.errors import StorageError
from al_ray.scoring.config import ScoringConfig
from al_ray.scoring.engines.base import Engine
from al_ray.scoring.reader import is_storage_error, iter_batches
from al_ray.scoring.writer import build_score_table, publish
from al_ray.security import scrub


@dataclass
class ShardResult:
    shard: str
    status: str  # "scored" | "quarantined"
    rows: int = 0
    skipped_rows: int = 0  # rows without an id
    empty_text: int = 0
    truncated: int = 0
    seconds: float = 0.0
    error: str | None = None
    id_hashes: np.ndarray | None = field(default=None, repr=False)  # uint64, for the duplicate-id report


class BadShardData(Exception):
    """The shard's content cannot be scored (reported, not retried)."""


def _texts(col: pa.Array, shard: str, text_column: str, first_row: int) -> tuple[list[str], np.ndarray]:
    if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type):
        try:
            col = col.cast(pa.large_string() if pa.types.is_large_binary(col.type) else pa.string())
        except pa.ArrowInvalid as exc:
            raise BadShardData(f"invalid UTF-8 in column {text_column!r} near row {first_row}: {exc}") from exc
    if pa.types.is_null(col.type):
        col = pa.nulls(len(col), pa.string())
    try:
        col.validate(full=True)  # strings read from Parquet are not UTF-8-checked until here
    except pa.ArrowInvalid as exc:
        raise BadShardData(f"invalid UTF-8 in column {text_column!r} in rows {first_row}.."
                           f"{first_row + len(col) - 1}: {exc}") from exc
    empty = pc.fill_null(pc.equal(pc.utf8_length(col), 0), True).to_numpy(zero_copy_only=False)
    return pc.fill_null(col, "").to_pylist(), empty


def hash_ids(ids: pa.Array) -> np.ndarray:
    import polars as pl

    return pl.from_arrow(ids.cast(pa.large_string())).hash(seed=0).to_numpy()


def score_shard(engine: Engine, config: ScoringConfig, *, shard_url: str, rel: str, out_url: str,
                model_id: str, model_version: str, fingerprint: str = "") -> Iterator[dict[str, Any] | ShardResult]:
    t0 = time.perf_counter()
    task = config.task
    so = config.storage_options
    storage.remove(storage.done_marker(out_url), so)  # a rescore is "not done" until it is
    columns = [task.text_column] + ([task.id_column] if task.id_column else [])
    ids_parts, probs_parts, trunc_parts, empty_parts, row_parts = [], [], [], [], []
    skipped = 0
    row0 = 0
    try:
        for batch in iter_batches(shard_url, columns, config.batch_rows, so):
            n = batch.num_rows
            rows = np.arange(row0, row0 + n, dtype=np.int64)
            if task.id_column:
                ids = batch.column(task.id_column).cast(pa.string())
            else:
                ids = pa.array([f"{rel}:{i}" for i in range(row0, row0 + n)], pa.string())
            texts, empty = _texts(batch.column(task.text_column), shard_url, task.text_column, row0)
            row0 += n
            if ids.null_count:
                keep = pc.is_valid(ids).to_numpy(zero_copy_only=False)
                skipped += int((~keep).sum())
                ids, rows, empty = ids.filter(pa.array(keep)), rows[keep], empty[keep]
                texts = [t for t, k in zip(texts, keep) if k]
            out = engine.score_texts(texts)
            ids_parts.append(ids)
            probs_parts.append(out.label_probs)
            trunc_parts.append(out.truncated)
            empty_parts.append(empty)
            row_parts.append(rows)
            yield {"rows": n}
    except BadShardData as exc:
        yield ShardResult(shard_url, "quarantined", error=scrub(str(exc)), seconds=time.perf_counter() - t0)
        return
    except (OSError, pa.ArrowException) as exc:
        if is_storage_error(exc):  # not the data's fault: raise, so the driver retries the shard
            raise StorageError(f"cannot read {scrub(shard_url)}: {type(exc).__name__}: {scrub(str(exc))}") from exc
        yield ShardResult(shard_url, "quarantined", error=f"unreadable shard: {type(exc).__name__}: {scrub(str(exc))}",
                          seconds=time.perf_counter() - t0)
        return
    k = len(engine.labels)
    ids_all = pa.concat_arrays(ids_parts) if ids_parts else pa.array([], pa.string())
    cat = lambda parts, empty_shape, dtype: np.concatenate(parts) if parts else np.zeros(empty_shape, dtype)  # noqa: E731
    probs = cat(probs_parts, (0, k), np.float64)
    truncated, empty, rows = cat(trunc_parts, 0, bool), cat(empty_parts, 0, bool), cat(row_parts, 0, np.int64)
    table = build_score_table(ids=ids_all, rows=rows, label_probs=probs, truncated=truncated, empty=empty,
                              labels=engine.labels, model_id=model_id, model_version=model_version,
                              shard=scrub(shard_url), calibration=config.calibration)
    publish(table, out_url, {"rows": table.num_rows, "shard": scrub(shard_url), "fingerprint": fingerprint,
                             "model_version": model_version}, so)
    yield ShardResult(shard_url, "scored", rows=table.num_rows, skipped_rows=skipped, empty_text=int(empty.sum()),
                      truncated=int(truncated.sum()), seconds=time.perf_counter() - t0,
                      id_hashes=hash_ids(ids_all) if config.check_duplicate_ids else None)
