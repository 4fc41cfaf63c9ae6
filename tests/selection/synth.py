"""Synthetic pools, corpora and score files with planted structure (no model needed)."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pyarrow as pa

from al_ray import schemas, storage
from al_ray.selection.candidates import Candidates


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def measures(probs: np.ndarray) -> dict[str, np.ndarray]:
    p = np.clip(probs, 1e-12, 1)
    ent = -(p * np.log(p)).sum(1)
    s = np.sort(probs, axis=1)[:, ::-1]
    return {"entropy": ent, "entropy_norm": ent / np.log(probs.shape[1]), "margin": s[:, 0] - s[:, 1],
            "least_confidence": 1 - s[:, 0]}


def make_candidates(n: int = 300, d: int = 16, labels=("neg", "pos"), seed: int = 0,
                    embeddings: np.ndarray | None = None, probs: np.ndarray | None = None,
                    cluster_ids: np.ndarray | None = None) -> Candidates:
    rng = np.random.default_rng(seed)
    if probs is None:
        probs = rng.dirichlet(np.ones(len(labels)), size=n)
    if embeddings is None:
        embeddings = unit(rng.normal(size=(n, d)))
    m = measures(probs)
    labels = list(labels)
    return Candidates(ids=np.array([f"c{i}" for i in range(n)], dtype=object), labels=labels, probs=probs,
                      predicted=np.array([labels[k] for k in probs.argmax(1)], dtype=object),
                      entropy=m["entropy"], margin=m["margin"], least_confidence=m["least_confidence"],
                      positive_label=labels[-1], embeddings=embeddings, cluster_ids=cluster_ids,
                      texts=np.array([f"text number {i}" for i in range(n)], dtype=object))


def score_table(ids: list[str], probs: np.ndarray, labels: list[str], shard: str, rows: np.ndarray,
                version: str = "v1", model_id: str = "test-model") -> pa.Table:
    m = measures(probs)
    n = len(ids)
    cols = {"id": pa.array(ids, pa.string())}
    for k, lab in enumerate(labels):
        cols[schemas.prob_column(lab)] = pa.array(probs[:, k], pa.float64())
    cols[schemas.PREDICTED] = pa.array([labels[k] for k in probs.argmax(1)], pa.string())
    for name in ("entropy", "entropy_norm", "margin", "least_confidence"):
        cols[name] = pa.array(m[name], pa.float64())
    cols["label_mass"] = pa.array(np.ones(n), pa.float64())
    cols["truncated"] = pa.array(np.zeros(n, bool))
    cols["empty_text"] = pa.array(np.zeros(n, bool))
    cols["model_id"] = pa.array([model_id] * n, pa.string())
    cols["model_version"] = pa.array([version] * n, pa.string())
    cols["scored_at"] = pa.array([datetime(2026, 1, 1, tzinfo=timezone.utc)] * n, pa.timestamp("us", tz="UTC"))
    cols["shard"] = pa.array([shard] * n, pa.string())
    cols["row"] = pa.array(rows.astype(np.int64), pa.int64())
    return pa.table(cols, schema=schemas.score_schema(labels))


def write_corpus_and_scores(root: str, texts: list[str], probs: np.ndarray, labels: list[str], *,
                            n_shards: int = 2, version: str = "v1", storage_options=None,
                            row_group_size: int | None = None,
                            embeddings: np.ndarray | None = None,
                            candidates_per_shard: int | None = 2048) -> tuple[str, str]:
    """Corpus shards (id, text) and one score file per shard under root/{corpus,scores}
    (with an ``embedding`` column when ``embeddings`` is given: selection's source 'scores'), each
    with its candidate sidecar as a scoring actor writes it (``candidates_per_shard=None``: none,
    as score files from before sidecars)."""
    corpus, scores = storage.join(root, "corpus"), storage.join(root, "scores")
    n = len(texts)
    bounds = np.linspace(0, n, n_shards + 1).astype(int)
    for s in range(n_shards):
        lo, hi = bounds[s], bounds[s + 1]
        ids = [f"doc{i}" for i in range(lo, hi)]
        shard_url = storage.join(corpus, f"part-{s:03d}.parquet")
        kw = {"row_group_size": row_group_size} if row_group_size else {}
        storage.write_parquet_atomic(pa.table({"id": ids, "text": texts[lo:hi]}), shard_url, storage_options, **kw)
        t = score_table(ids, probs[lo:hi], labels, shard_url, np.arange(hi - lo), version)
        if embeddings is not None:
            flat = pa.array(np.asarray(embeddings[lo:hi]).reshape(-1))
            t = t.append_column("embedding", pa.FixedSizeListArray.from_arrays(flat, embeddings.shape[1]))
        storage.write_parquet_atomic(t, storage.join(scores, f"part-{s:03d}.parquet"), storage_options, **kw)
        if candidates_per_shard:
            from al_ray.scoring.topk import write_candidates

            write_candidates(t, storage.join(scores, f"part-{s:03d}.parquet"), candidates_per_shard, storage_options)
        storage.mark_done(storage.join(scores, f"part-{s:03d}.parquet"), {}, storage_options)
    storage.write_json_atomic(storage.join(scores, "_summary.json"), {"rows": n}, storage_options)
    return corpus, scores
