"""Benchmarks of the selection stage.

1. extract: candidate-pool extraction over synthetic score files (1e7 and 1e8 rows; --quick: 1e6
   and 1e7), each run in a fresh subprocess whose peak RSS is read from /proc (VmHWM). Goal:
   <= 2 GiB and flat between the sizes.
2. select: exact + near + semantic dedup, k-means, and the boundary-pairs / Cluster-Margin
   strategies over 100K candidates with 384-d embeddings (--quick: 20K). Goal: <= 60 s.
   Compares sklearn MiniBatchKMeans with faiss when faiss is importable.

    python benchmarks/bench_selection.py [--quick] [--only extract|select] [--data /tmp/al_ray_bench_v2]

Score files are generated once (deterministically) under --data and reused. Probabilities are
quantised to 1e-4 so the files stay small (~20 B/row) and generation stays fast; the reader
still decodes every row of the columns it needs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.common import peak_rss_mib, provenance

ROWS_PER_FILE = 500_000
LABELS = ["neither", "violating"]




def generate(data: Path, n_files: int, rows: int = ROWS_PER_FILE) -> Path:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from al_ray import schemas

    out = data / "scores"
    out.mkdir(parents=True, exist_ok=True)
    schema = schemas.score_schema(LABELS)
    for f in range(n_files):
        path = out / f"part-{f:05d}.parquet"
        if path.exists():
            continue
        rng = np.random.default_rng(f)
        p_exact = rng.beta(0.3, 3.0, rows)  # ~95% confidently benign, a thin uncertain tail
        q = np.clip(p_exact, 1e-12, 1)
        r = np.clip(1 - p_exact, 1e-12, 1)
        # The measure keeps full precision (no ties, so the pool's cut-off never gets an easy
        # ride); the other columns are quantised to 1e-4 to keep the files small.
        ent = -(q * np.log(q) + r * np.log(r))
        p = np.round(p_exact, 4)
        top = np.maximum(p, 1 - p)
        row = np.arange(rows, dtype=np.int64)
        ids = pc.binary_join_element_wise(pa.scalar(f"d{f}-"), pa.array(row).cast(pa.string()), "")
        shard = f"s3://bench-corpus/part-{f:05d}.parquet"
        t = pa.table({
            "id": ids, "p_neither": 1 - p, "p_violating": p,
            "predicted_label": pa.DictionaryArray.from_arrays(pa.array((p > 0.5).astype(np.int8)), pa.array(LABELS)).cast(pa.string()),
            "entropy": ent, "entropy_norm": np.round(ent / np.log(2), 4), "margin": np.round(2 * top - 1, 4),
            "least_confidence": np.round(1 - top, 4), "label_mass": np.ones(rows),
            "truncated": np.zeros(rows, bool), "empty_text": np.zeros(rows, bool),
            "model_id": pa.array(["bench-model"] * rows), "model_version": pa.array(["v1"] * rows),
            "scored_at": pa.array(np.full(rows, 1_790_000_000_000_000, dtype=np.int64)).cast(pa.timestamp("us", tz="UTC")),
            "shard": pa.array([shard] * rows), "row": row,
        }).cast(schema)
        tmp = path.with_suffix(".tmp")
        pq.write_table(t, tmp, compression="zstd", row_group_size=rows)
        os.replace(tmp, path)
    return out


def child_extract(args: argparse.Namespace) -> None:
    from al_ray.selection import SelectionConfig, extract_pool
    from al_ray.selection.pool import list_score_files

    files = list_score_files(args.scores)[: args.files]
    cfg = SelectionConfig(n=500, pool_size=args.pool, io_workers=args.workers, measure="entropy",
                          stratify=args.stratify, embedding={"source": "none"})
    t0 = time.perf_counter()
    res = extract_pool(args.scores, cfg, files=files)
    dt = time.perf_counter() - t0
    print(json.dumps({"rows": res.rows_scanned, "files": len(files), "pool": len(res.table), "seconds": round(dt, 2),
                      "rows_per_s": round(res.rows_scanned / dt), "peak_rss_mib": round(peak_rss_mib(), 1),
                      "stratify": args.stratify, "workers": args.workers,
                      "top_entropy": float(res.table.column("entropy")[0].as_py())}))


def bench_extract(data: Path, sizes: list[int], pool: int, workers: int) -> list[dict]:
    n_files = max(sizes) // ROWS_PER_FILE
    t0 = time.perf_counter()
    scores = generate(data, n_files)
    print(f"# score files ready under {scores} ({n_files} x {ROWS_PER_FILE} rows) in {time.perf_counter() - t0:.0f}s",
          flush=True)
    results = []
    for size in sizes:
        cmd = [sys.executable, __file__, "_extract", "--scores", str(scores), "--files", str(size // ROWS_PER_FILE),
               "--pool", str(pool), "--workers", str(workers)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        res = json.loads(out)
        results.append(res)
        print(json.dumps(res), flush=True)
    return results


def make_candidates(n: int, d: int = 384, seed: int = 0):
    """n candidates: 200 topics, both labels, ~3% exact / 3% near / 2% semantic copies planted."""
    from al_ray.selection.candidates import Candidates

    rng = np.random.default_rng(seed)
    n_topics = 200
    centers = rng.normal(size=(n_topics, d)).astype(np.float32)
    topic = rng.integers(0, n_topics, n)
    emb = centers[topic] + 0.8 * rng.normal(size=(n, d)).astype(np.float32)
    words = np.array([f"w{i}" for i in range(5000)])
    texts = [" ".join(words[rng.integers(0, 5000, 14)]) for _ in range(n)]
    k = n // 100
    src = rng.integers(0, n, 8 * k)
    for j, i in enumerate(rng.choice(n, 8 * k, replace=False)):
        o = src[j]
        if i == o:
            continue
        if j < 3 * k:
            texts[i] = texts[o].upper() + "!"
            emb[i] = emb[o]
        elif j < 6 * k:
            texts[i] = texts[o] + " extra"
            emb[i] = emb[o] + 0.01 * rng.normal(size=d)
        else:
            emb[i] = emb[o] + 0.005 * rng.normal(size=d)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    p = 1 / (1 + np.exp(-(emb @ rng.normal(size=d).astype(np.float32)) * 3))
    probs = np.column_stack([1 - p, p])
    s = np.sort(probs, 1)
    q = np.clip(probs, 1e-12, 1)
    ent = -(q * np.log(q)).sum(1)
    order = np.argsort(-ent, kind="stable")  # the pool arrives most-uncertain first
    cands = Candidates(ids=np.array([f"c{i}" for i in range(n)], dtype=object)[order], labels=LABELS,
                       probs=probs[order], predicted=np.array(LABELS, dtype=object)[probs.argmax(1)][order],
                       entropy=ent[order], margin=(s[:, 1] - s[:, 0])[order], least_confidence=(1 - s[:, 1])[order],
                       embeddings=emb[order], texts=np.array(texts, dtype=object)[order])
    return cands


def bench_select(n: int, batch: int = 500, threads: int | None = None) -> dict:
    from al_ray.selection.api import thread_limit

    with thread_limit(threads):
        out = _bench_select(n, batch)
    out["threads"] = threads
    return out


def _bench_select(n: int, batch: int = 500) -> dict:
    from al_ray.selection.clustering import auto_k, kmeans
    from al_ray.selection.config import DedupConfig
    from al_ray.selection.dedup import deduplicate
    from al_ray.selection.strategies import BoundaryPairs, ClusterMargin

    t0 = time.perf_counter()
    cands = make_candidates(n)
    times: dict[str, float] = {"generate": time.perf_counter() - t0}
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    res, groups = deduplicate(list(cands.texts), DedupConfig(), stages=("exact", "near"))
    times["dedup_exact_near"] = time.perf_counter() - t
    kept = res.kept
    t = time.perf_counter()
    k = auto_k(len(kept))
    labels_k, _ = kmeans(cands.embeddings[kept], k, rng)
    times["kmeans_sklearn"] = time.perf_counter() - t
    clusters = np.full(len(cands), -1)
    clusters[kept] = labels_k
    t = time.perf_counter()
    res, _ = deduplicate(list(cands.texts), DedupConfig(), embeddings=cands.embeddings, clusters=clusters,
                         stages=("semantic",), groups=groups)
    times["dedup_semantic"] = time.perf_counter() - t
    pool = cands.subset(res.kept)
    pool.cluster_ids = clusters[res.kept]
    t = time.perf_counter()
    sel_bp = BoundaryPairs().select(pool, batch, rng)
    times["boundary_pairs"] = time.perf_counter() - t
    t = time.perf_counter()
    ClusterMargin().select(pool, batch, rng)
    times["cluster_margin"] = time.perf_counter() - t
    total = sum(v for key, v in times.items() if key != "generate")
    out = {"candidates": n, "dim": 384, "batch": batch, "kept": len(res.kept), "dropped": res.counts,
           "k": k, "pairs": sel_bp.info.get("pairs"), "seconds": {k2: round(v, 2) for k2, v in times.items()},
           "total_seconds_excl_generate": round(total, 2), "peak_rss_mib": round(peak_rss_mib(), 1)}
    try:
        import faiss  # optional comparison

        t = time.perf_counter()
        km = faiss.Kmeans(cands.embeddings.shape[1], k, niter=20, seed=0)
        km.train(np.ascontiguousarray(cands.embeddings[kept]))
        km.index.search(np.ascontiguousarray(cands.embeddings[kept]), 1)
        out["kmeans_faiss_seconds"] = round(time.perf_counter() - t, 2)
    except ImportError:
        out["kmeans_faiss_seconds"] = None
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd")
    ch = sub.add_parser("_extract")
    ch.add_argument("--scores", required=True)
    ch.add_argument("--files", type=int, required=True)
    ch.add_argument("--pool", type=int, default=20_000)
    ch.add_argument("--workers", type=int, default=2)
    ch.add_argument("--stratify", action="store_true")
    ap.add_argument("--quick", action="store_true", help="1e6/1e7 rows and 20K candidates")
    ap.add_argument("--only", choices=["extract", "select"])
    ap.add_argument("--data", default="/tmp/al_ray_bench_v2")
    ap.add_argument("--pool", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 0],
                    help="BLAS/OpenMP thread caps to compare for the select benchmark (0 = library default)")
    args = ap.parse_args()
    if args.cmd == "_extract":
        child_extract(args)
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    results: dict = {"benchmark": "selection", **provenance()}
    if args.only in (None, "extract"):
        sizes = [1_000_000, 10_000_000] if args.quick else [10_000_000, 100_000_000]
        results["extract"] = bench_extract(Path(args.data), sizes, args.pool, args.workers)
    if args.only in (None, "select"):
        results["select"] = []
        for threads in args.threads:
            res = bench_select(20_000 if args.quick else 100_000, threads=None if threads == 0 else threads)
            results["select"].append(res)
            print(json.dumps(res), flush=True)
    results["machine"]["load_avg_at_end"] = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
