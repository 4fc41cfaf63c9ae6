"""Candidates as a by-product of scoring: each shard's top-K rows, written beside its score file.

The candidate pool (``al_ray.selection.pool``) is the top ``pool_size`` rows of the whole corpus by
one uncertainty measure (optionally per predicted label). Any row in it is also among the top K of
its own shard for that measure (and label) whenever K is at least the pool's per-stratum size, so
the scoring actor, which holds the shard's table anyway, keeps those rows in a small sidecar
(``<score file>`` + ``al_ray.layout.SCORE_CANDIDATES_SUFFIX``): the union over
``al_ray.schemas.MEASURES`` of the shard's top K rows by ``priority(measure, values)``, overall and
per predicted label. The pool then merges K x shards rows instead of reading every score row.

What makes the merge exact rather than approximate is the shard's *cut-off*, recorded per
(measure, scope) in the sidecar's schema metadata: the K-th kept row as (priority, position in the
score file). Ties are ordered as the pool orders them (priority descending, then position), so every
row of the shard that is not in the sidecar ranks strictly after its cut-off. A pool whose own
K-th best ranks at or before a shard's cut-off cannot contain an unkept row of that shard; when it
does not (exclusions or thresholds removed sidecar rows, or K is smaller than the pool), the pool
reads that shard in full. ``None``: the scope has at most K rows, all kept.

Rows with a NaN measure and rows flagged ``empty_text`` are never candidates (the pool drops them
whenever ``exclude_empty_text`` is on, the default; with it off the pool reads score files in full),
so they are not kept, only counted in the metadata, per measure, for the pool's NaN and empty-text
reporting. With a threshold the pool also needs to know whether an unkept row could pass it: the
metadata records, per (measure, scope), the best threshold-column value among the unkept rows
(``entropy_norm`` for entropy, the measure itself otherwise).

Sidecar layout (Parquet): the score file's columns for the kept rows in score-file order, plus
``_score_row`` (int64, the row's position in the score file); schema metadata: the score file's own
(the task) and ``al_ray.candidates``, JSON::

    {"version": 1, "k": K, "rows": <rows in the score file>,
     "nan": {measure: n}, "empty_text": {measure: n},        # rows never kept, per measure
     "model_versions": {version: rows},                      # of the whole score file
     "cutoffs": {measure: {"all": [priority, position] | null, "labels": {label: [...] | null}}},
     "unkept_best": {measure: {"all": value | null, "labels": {label: value | null}}}}
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from al_ray import schemas, storage
from al_ray.layout import SCORE_CANDIDATES_SUFFIX

METADATA_KEY = b"al_ray.candidates"
POSITION_COLUMN = "_score_row"
FORMAT_VERSION = 1
ALL = "all"


def priority(measure: str, values: np.ndarray) -> np.ndarray:
    """Higher = more uncertain (the pool's ranking; margin is the one measure where smaller is)."""
    return -values if measure == "margin" else values


def threshold_column(measure: str) -> str:
    """The column a selection threshold applies to for ``measure``."""
    return "entropy_norm" if measure == "entropy" else measure


def passes_threshold(measure: str, values: np.ndarray | float, threshold: float) -> np.ndarray | bool:
    """``SelectionConfig.threshold`` semantics: margin <= t, the others >= t (NaN never passes)."""
    return (values <= threshold) if measure == "margin" else (values >= threshold)


def candidates_sidecar_url(score_url: str) -> str:
    """Where a score file's candidate sidecar lives."""
    return str(score_url) + SCORE_CANDIDATES_SUFFIX


def _top(p: np.ndarray, idx: np.ndarray, k: int) -> tuple[np.ndarray, list | None]:
    """The first k of ``idx`` by (p desc, position asc), and the k-th as [priority, position]
    (None when ``idx`` has at most k rows: all kept, nothing ranks after a cut-off)."""
    if len(idx) <= k:
        return idx, None
    q = p[idx]  # idx ascends, so ties come in position order
    v = np.partition(q, len(q) - k)[len(q) - k]  # the k-th largest priority: O(n), no full sort
    above = idx[q > v]
    tied = idx[q == v][: k - len(above)]  # the first of the rows at the cut-off's priority
    return np.concatenate([above, tied]), [float(v), int(tied[-1])]


def _best(measure: str, values: np.ndarray) -> float | None:
    """The threshold-column value of these rows most likely to pass a threshold (NaNs ignored)."""
    v = values[~np.isnan(values)]
    if not len(v):
        return None
    return float(v.min() if measure == "margin" else v.max())


def select_candidates(table: pa.Table, k: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Positions (ascending) of the rows a sidecar keeps, and its metadata (see the module doc)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n = table.num_rows
    names = set(table.column_names)
    empty = (table.column("empty_text").to_numpy(zero_copy_only=False).astype(bool)
             if "empty_text" in names else np.zeros(n, bool))
    pred = table.column(schemas.PREDICTED).combine_chunks() if n else pa.array([], pa.string())
    pred = pred.dictionary_encode() if not pa.types.is_dictionary(pred.type) else pred
    groups = pred.dictionary.to_pylist()
    codes = pc.fill_null(pred.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    keep = np.zeros(n, bool)
    cutoffs: dict[str, Any] = {}
    nan_counts: dict[str, int] = {}
    empty_counts: dict[str, int] = {}
    scopes: dict[str, list[tuple[str | None, np.ndarray]]] = {}
    for m in schemas.MEASURES:
        p = priority(m, table.column(m).to_numpy(zero_copy_only=False).astype(np.float64))
        nan = np.isnan(p)
        nan_counts[m] = int(nan.sum())
        empty_counts[m] = int((empty & ~nan).sum())
        valid = np.flatnonzero(~nan & ~empty)
        kept, cut_all = _top(p, valid, k)
        keep[kept] = True
        by_label: dict[str, Any] = {}
        scopes[m] = [(None, valid)] if cut_all is not None else []
        for g, label in enumerate(groups):
            if label is None:
                continue
            members = valid[codes[valid] == g]
            kept, cut = _top(p, members, k)
            keep[kept] = True
            by_label[label] = cut
            if cut is not None:
                scopes[m].append((label, members))
        cutoffs[m] = {ALL: cut_all, "labels": by_label}
    best: dict[str, Any] = {}
    for m in schemas.MEASURES:
        tv = table.column(threshold_column(m)).to_numpy(zero_copy_only=False).astype(np.float64)
        best[m] = {ALL: None, "labels": {label: None for label in cutoffs[m]["labels"]}}
        for label, members in scopes[m]:  # only scopes with a cut-off have unkept rows
            value = _best(m, tv[members[~keep[members]]])
            if label is None:
                best[m][ALL] = value
            else:
                best[m]["labels"][label] = value
    versions: dict[str, int] = {}
    if n and "model_version" in names:
        for item in pc.value_counts(table.column("model_version").cast(pa.string())).to_pylist():
            v = "<null>" if item["values"] is None else item["values"]
            versions[v] = versions.get(v, 0) + int(item["counts"])
    meta = {"version": FORMAT_VERSION, "k": int(k), "rows": int(n), "nan": nan_counts, "empty_text": empty_counts,
            "model_versions": versions, "cutoffs": cutoffs, "unkept_best": best}
    return np.flatnonzero(keep), meta


def build_candidates(table: pa.Table, k: int) -> pa.Table:
    """The sidecar table of one score table: its top-``k`` rows (see the module doc)."""
    positions, meta = select_candidates(table, k)
    out = table.take(pa.array(positions)).append_column(POSITION_COLUMN, pa.array(positions, pa.int64()))
    md = dict(table.schema.metadata or {})
    md[METADATA_KEY] = json.dumps(meta, sort_keys=True).encode("utf-8")
    return out.replace_schema_metadata(md)


def read_meta(schema: pa.Schema) -> dict[str, Any]:
    """The ``al_ray.candidates`` metadata of a sidecar; ValueError when absent or of another version."""
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise ValueError("no al_ray.candidates metadata: not a candidate sidecar")
    meta = json.loads(raw)
    if not isinstance(meta, dict) or meta.get("version") != FORMAT_VERSION:
        raise ValueError(f"candidate sidecar format {meta.get('version') if isinstance(meta, dict) else meta!r}, "
                         f"expected {FORMAT_VERSION}")
    if POSITION_COLUMN not in schema.names:
        raise ValueError(f"candidate sidecar without its {POSITION_COLUMN!r} column")
    return meta


def write_candidates(table: pa.Table, score_url: str, k: int,
                     storage_options: Mapping[str, Any] | None = None) -> None:
    """Write the sidecar of ``table`` (the score file at ``score_url``) atomically."""
    storage.write_parquet_atomic(build_candidates(table, k), candidates_sidecar_url(score_url), storage_options)
