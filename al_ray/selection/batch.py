"""Assemble the labelling batch (``schemas.batch_schema``) and write the stage's output files.

Output directory (any fsspec URL):
    batch.parquet            the batch, one row per item, in selection order
    batch.jsonl              the same rows as JSON lines (for tools that do not read Parquet)
    dedup_groups.parquet     dropped duplicates -> the batch item each duplicates (DEDUP_GROUPS_SCHEMA)
    candidates.parquet       the whole pool: score columns, text, embedding, cluster, duplicate_of
    selection_summary.json   config, counts, warnings, timings
    batch.parquet.done       completion marker, written last
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

import numpy as np
import pyarrow as pa

from al_ray import schemas, storage
from al_ray.layout import BATCH_FILE, BATCH_JSONL, CANDIDATES_FILE, DEDUP_FILE
from al_ray.layout import SELECTION_SUMMARY_FILE as SUMMARY_FILE
from al_ray.selection.candidates import Candidates
from al_ray.selection.strategies.base import Selection


def _nullable_ids(values: np.ndarray | None, n: int) -> pa.Array:
    if values is None:
        return pa.nulls(n, pa.int64())
    values = np.asarray(values, dtype=np.int64)
    return pa.array(values, pa.int64(), mask=values < 0)


def assemble_batch(pool: Candidates, sel: Selection, round: int, task: Mapping[str, Any] | None = None) -> pa.Table:
    """The batch table in ``schemas.batch_schema(pool.labels)``, rows in selection order, carrying
    ``task`` in its metadata (``schemas.with_task``) so labelling commands need no ``--labels``."""
    idx = sel.indices
    n = len(idx)
    clusters = sel.cluster_ids if sel.cluster_ids is not None else (
        pool.cluster_ids[idx] if pool.cluster_ids is not None else None)
    texts = pool.texts[idx].tolist() if pool.texts is not None else [None] * n
    label_mass = pool.extra.get("label_mass")
    cols: dict[str, pa.Array] = {
        schemas.ID: pa.array([str(x) for x in pool.ids[idx]], pa.string()),
        schemas.TEXT: pa.array(texts, pa.string()),
    }
    for k, lab in enumerate(pool.labels):
        cols[schemas.prob_column(lab)] = pa.array(pool.probs[idx, k], pa.float64())
    cols[schemas.PREDICTED] = pa.array([str(x) for x in pool.predicted[idx]], pa.string())
    cols["entropy"] = pa.array(pool.entropy[idx], pa.float64())
    cols["margin"] = pa.array(pool.margin[idx], pa.float64())
    cols["least_confidence"] = pa.array(pool.least_confidence[idx], pa.float64())
    cols["label_mass"] = pa.array(label_mass[idx] if label_mass is not None else np.ones(n), pa.float64())
    cols["cluster_id"] = _nullable_ids(clusters, n)
    cols["pair_id"] = _nullable_ids(sel.pair_ids, n)
    cols["reason"] = pa.array(list(sel.reasons), pa.string())
    cols["round"] = pa.array(np.full(n, round, dtype=np.int64), pa.int64())
    return pa.table(cols, schema=schemas.with_task(schemas.batch_schema(pool.labels), task))


def to_jsonl(table: pa.Table) -> bytes:
    """One JSON object per row; NaN (never expected) is written as null."""
    def clean(v: Any) -> Any:
        return None if isinstance(v, float) and math.isnan(v) else v

    lines = [json.dumps({k: clean(v) for k, v in row.items()}, ensure_ascii=False, default=str)
             for row in table.to_pylist()]
    return ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")


def write_outputs(out_dir: str, batch: pa.Table, groups: pa.Table, summary: Mapping[str, Any],
                  candidates: pa.Table | None = None, candidates_url: str | None = None,
                  storage_options: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Write every output file, the completion marker last; returns their URLs."""
    urls = {
        "batch": storage.join(out_dir, BATCH_FILE),
        "batch_jsonl": storage.join(out_dir, BATCH_JSONL),
        "dedup_groups": storage.join(out_dir, DEDUP_FILE),
        "summary": storage.join(out_dir, SUMMARY_FILE),
    }
    if candidates is not None:
        urls["candidates"] = candidates_url or storage.join(out_dir, CANDIDATES_FILE)
        storage.write_parquet_atomic(candidates, urls["candidates"], storage_options)
    storage.write_parquet_atomic(batch, urls["batch"], storage_options)
    storage.write_bytes_atomic(urls["batch_jsonl"], to_jsonl(batch), storage_options)
    storage.write_parquet_atomic(groups, urls["dedup_groups"], storage_options)
    storage.write_json_atomic(urls["summary"], dict(summary, outputs=urls), storage_options)
    storage.mark_done(urls["batch"], {"n": len(batch)}, storage_options)
    return urls
