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
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from al_ray import storage
from al_ray.errors import InputError, StorageError
from al_ray.scoring.config import ScoringConfig
from al_ray.scoring.engines.base import Engine
from al_ray.scoring.reader import Shard, check_shard, iter_batches
from al_ray.storage import is_storage_error
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
    # rows in the shard's footer (known once the actor opened it): a quarantined shard's rows are counted
    num_rows: int | None = None
    # the id hashes go to a sidecar beside the score file (writer.publish), never back to the driver:
    # at 1e9 rows that would be 8 GB in one process (al_ray.scoring.duplicates reads the sidecars)


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


def label_prob_sums(engine: Engine, config: ScoringConfig, shard_url: str, max_rows: int) -> tuple[list[float], int]:
    """Sum of the renormalised label probabilities over a shard's first ``max_rows`` rows with text,
    and how many rows that was: one worker's share of the corpus-wide prior (calibration 'corpus').

    The driver adds these sums over the sampled shards, so the prior is a running sum merged across
    workers, never a pass over the corpus. A shard that cannot be read adds nothing here; the scoring
    pass reports it.
    """
    from al_ray.scoring.uncertainty import renormalise

    k = len(engine.labels)
    total, n = np.zeros(k, np.float64), 0
    try:
        for batch in iter_batches(shard_url, [config.task.text_column], min(config.batch_rows, max_rows),
                                  config.storage_options):
            texts, empty = _texts(batch.column(config.task.text_column), shard_url, config.task.text_column, n)
            texts = [t for t, e in zip(texts, empty) if not e][: max_rows - n]
            if texts:
                probs, _ = renormalise(engine.score_texts(texts).label_probs)
                total += probs.sum(axis=0)
                n += len(texts)
            if n >= max_rows:
                break
    except (BadShardData, OSError, pa.ArrowException):
        return [0.0] * k, 0
    return total.tolist(), n


def score_shard(engine: Engine, config: ScoringConfig, *, shard_url: str, rel: str, out_url: str,
                model_id: str, model_version: str, fingerprint: str = "",
                prior: list[float] | None = None) -> Iterator[dict[str, Any] | ShardResult]:
    """``prior``: the corpus-wide label prior to divide out (calibration 'corpus'; the driver
    estimates it once per job). Other calibrations come from the config."""
    if config.calibration == "corpus" and prior is None:
        raise ValueError("calibration 'corpus' needs the corpus prior (run_scoring estimates it)")
    calibration = np.asarray(prior, np.float64) if config.calibration == "corpus" else config.calibration
    t0 = time.perf_counter()
    task = config.task
    so = config.storage_options
    storage.remove(storage.done_marker(out_url), so)  # a rescore is "not done" until it is
    # The footer and schema check of this shard happens here, in the actor, not in the driver: the
    # driver checked only a sample (reader.sample_shards), and 100K footers read one after another by
    # one process would take minutes before any work. A shard whose columns drifted is quarantined
    # with the reason the up-front check would have raised; a store failure raises so it is retried.
    try:
        footer = check_shard(Shard.at(shard_url, rel, fingerprint), task, so)
    except InputError as exc:
        yield ShardResult(shard_url, "quarantined", error=scrub(str(exc)), seconds=time.perf_counter() - t0)
        return
    if footer.error_kind == "failed" and footer.error:
        raise StorageError(footer.error)
    if footer.error:
        yield ShardResult(shard_url, "quarantined", error=footer.error, seconds=time.perf_counter() - t0)
        return
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
        yield ShardResult(shard_url, "quarantined", error=scrub(str(exc)), seconds=time.perf_counter() - t0,
                          num_rows=footer.num_rows)
        return
    except (OSError, pa.ArrowException) as exc:
        if is_storage_error(exc):  # not the data's fault: raise, so the driver retries the shard
            raise StorageError(f"cannot read {scrub(shard_url)}: {type(exc).__name__}: {scrub(str(exc))}") from exc
        yield ShardResult(shard_url, "quarantined", error=f"unreadable shard: {type(exc).__name__}: {scrub(str(exc))}",
                          seconds=time.perf_counter() - t0, num_rows=footer.num_rows)
        return
    k = len(engine.labels)
    ids_all = pa.concat_arrays(ids_parts) if ids_parts else pa.array([], pa.string())
    cat = lambda parts, empty_shape, dtype: np.concatenate(parts) if parts else np.zeros(empty_shape, dtype)  # noqa: E731
    probs = cat(probs_parts, (0, k), np.float64)
    truncated, empty, rows = cat(trunc_parts, 0, bool), cat(empty_parts, 0, bool), cat(row_parts, 0, np.int64)
    table = build_score_table(ids=ids_all, rows=rows, label_probs=probs, truncated=truncated, empty=empty,
                              labels=engine.labels, model_id=model_id, model_version=model_version,
                              shard=scrub(shard_url), calibration=calibration,
                              task=task.model_dump(mode="json"))
    publish(table, out_url, {"rows": table.num_rows, "shard": scrub(shard_url), "fingerprint": fingerprint,
                             "model_version": model_version, "calibration": config.calibration,
                             **({"calibration_prior": list(prior)} if prior is not None else {})}, so,
            id_hashes=hash_ids(ids_all), candidates_per_shard=config.candidates_per_shard)
    yield ShardResult(shard_url, "scored", rows=table.num_rows, skipped_rows=skipped, empty_text=int(empty.sum()),
                      truncated=int(truncated.sum()), seconds=time.perf_counter() - t0, num_rows=footer.num_rows)
