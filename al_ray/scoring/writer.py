"""Assemble one shard's score table (``al_ray.schemas.score_schema``) and publish it atomically.

The output file is written first and its ``.done`` marker last, both through ``al_ray.storage``:
a shard retried after a crash overwrites a complete file or nothing, so the final output holds each
input id exactly once.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

import numpy as np
import pyarrow as pa

from al_ray import storage
from al_ray.schemas import score_schema
from al_ray.scoring.uncertainty import Calibration, compute


def build_score_table(*, ids: pa.Array, rows: np.ndarray, label_probs: np.ndarray, truncated: np.ndarray,
                      empty: np.ndarray, labels: list[str], model_id: str, model_version: str, shard: str,
                      calibration: Calibration = None, scored_at: datetime | None = None) -> pa.Table:
    schema = score_schema(labels)
    n = len(rows)
    u = compute(label_probs, calibration)
    ts = pa.scalar(scored_at or datetime.now(timezone.utc), pa.timestamp("us", tz="UTC"))
    cols: list[pa.Array] = [ids.cast(pa.string())]
    cols += [pa.array(u["probs"][:, k]) for k in range(len(labels))]
    cols.append(pa.array(np.asarray(labels, dtype=object)[u["predicted"]] if n else [], pa.string()))
    cols += [pa.array(u[c]) for c in ("entropy", "entropy_norm", "margin", "least_confidence", "label_mass")]
    cols += [pa.array(np.asarray(truncated, bool)), pa.array(np.asarray(empty, bool))]
    cols += [pa.repeat(pa.scalar(model_id, pa.string()), n), pa.repeat(pa.scalar(model_version, pa.string()), n),
             pa.repeat(ts, n), pa.repeat(pa.scalar(shard, pa.string()), n), pa.array(np.asarray(rows, np.int64))]
    return pa.Table.from_arrays(cols, schema=schema)


def publish(table: pa.Table, url: str, meta: Mapping[str, Any], storage_options: Mapping[str, Any] | None) -> None:
    """Score file first, completion marker last."""
    storage.write_parquet_atomic(table, url, storage_options)
    storage.mark_done(url, meta, storage_options)
