"""Assemble one shard's score table (``al_ray.schemas.score_schema``) and publish it atomically.

The output file is written first, then its id-hash sidecar (``<score file>.ids.npy``, for the
duplicate-id check), then its candidate sidecar (``<score file>.cand.pq``: the shard's top-K rows
per uncertainty measure and predicted label, ``al_ray.scoring.topk``), and its ``.done`` marker last,
all through ``al_ray.storage``: a shard retried after a crash overwrites a complete file or nothing,
so the final output holds each input id exactly once, and a marker always has sidecars of the same
run beside it.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any, Mapping

import numpy as np
import pyarrow as pa

from al_ray import storage
from al_ray.clock import now_utc
from al_ray.layout import SCORE_IDS_SUFFIX
from al_ray.schemas import score_schema, with_task
from al_ray.scoring.topk import candidates_sidecar_url, write_candidates
from al_ray.scoring.uncertainty import Calibration, compute


def build_score_table(*, ids: pa.Array, rows: np.ndarray, label_probs: np.ndarray, truncated: np.ndarray,
                      empty: np.ndarray, labels: list[str], model_id: str, model_version: str, shard: str,
                      calibration: Calibration = None, scored_at: datetime | None = None,
                      task: Mapping[str, Any] | None = None) -> pa.Table:
    schema = with_task(score_schema(labels), task)
    n = len(rows)
    u = compute(label_probs, calibration)
    ts = pa.scalar(scored_at or now_utc(), pa.timestamp("us", tz="UTC"))
    cols: list[pa.Array] = [ids.cast(pa.string())]
    cols += [pa.array(u["probs"][:, k]) for k in range(len(labels))]
    cols.append(pa.array(np.asarray(labels, dtype=object)[u["predicted"]] if n else [], pa.string()))
    cols += [pa.array(u[c]) for c in ("entropy", "entropy_norm", "margin", "least_confidence", "label_mass")]
    cols += [pa.array(np.asarray(truncated, bool)), pa.array(np.asarray(empty, bool))]
    cols += [pa.repeat(pa.scalar(model_id, pa.string()), n), pa.repeat(pa.scalar(model_version, pa.string()), n),
             pa.repeat(ts, n), pa.repeat(pa.scalar(shard, pa.string()), n), pa.array(np.asarray(rows, np.int64))]
    return pa.Table.from_arrays(cols, schema=schema)


def ids_sidecar_url(score_url: str) -> str:
    """Where a score file's id hashes live (``al_ray.layout.SCORE_IDS_SUFFIX``)."""
    return str(score_url) + SCORE_IDS_SUFFIX


def encode_id_hashes(hashes: np.ndarray) -> bytes:
    """A plain ``.npy`` of uint64 (8 bytes a row, no pickle): what ``np.load`` reads back."""
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(hashes, dtype=np.uint64), allow_pickle=False)
    return buf.getvalue()


def publish(table: pa.Table, url: str, meta: Mapping[str, Any], storage_options: Mapping[str, Any] | None,
            id_hashes: np.ndarray | None = None, candidates_per_shard: int = 0) -> None:
    """Score file first, then the sidecars (id hashes when given; candidates when
    ``candidates_per_shard`` > 0), completion marker last.

    Why the sidecars are written here, by the actor: the duplicate-id check then never needs the
    driver to hold (or a resume to re-read) every id; Ray tasks read these few bytes per row later
    (``al_ray.scoring.duplicates``); and the candidate pool merges each shard's top rows instead of
    reading every score row (``al_ray.scoring.topk``), from the table already in memory here.
    Written before the marker, so a done shard has its sidecars. A candidate sidecar of an earlier
    run is removed before the new score file is written: a crash between the two, or a rescore with
    ``candidates_per_shard`` 0, never leaves a score file beside candidates of other rows.
    """
    storage.remove(candidates_sidecar_url(url), storage_options)
    storage.write_parquet_atomic(table, url, storage_options)
    if id_hashes is not None:
        storage.write_bytes_atomic(ids_sidecar_url(url), encode_id_hashes(id_hashes), storage_options)
    if candidates_per_shard > 0:
        write_candidates(table, url, candidates_per_shard, storage_options)
    storage.mark_done(url, meta, storage_options)
