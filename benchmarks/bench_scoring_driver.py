"""The real scoring driver at 10K-100K shards: planning and resume through ``run_scoring`` itself.

It replaced ``bench_billion.py``, which timed planning code written inside the benchmark; this one
runs the product's path: ``al_ray.scoring.job.plan_scoring`` (what ``run_scoring`` calls: the corpus listing, the footer
sample, one listing of the output prefix) and ``run_scoring`` over a corpus whose shards are already
scored, including the distributed duplicate-id check over every shard's id sidecar (Ray tasks on a
real local Ray cluster). Goals: driver peak RSS at most 1 GiB and flat between 10K and 100K shards;
plan and resume each at most 60 s on 2 cores.

Setup (timed, not part of the goals): N tiny real Parquet shards (one row each, distinct ids), and for
each the output an actor leaves: the score file (one table built with the project's
``build_score_table`` and serialised once, its bytes then copied per shard: building and fsyncing
100K tables through ``publish`` takes ~22 ms a shard here, 37 minutes), the id sidecar
(``encode_id_hashes`` of the shard's own id hash) and the ``.done`` marker.

Phases, each in a fresh interpreter so its peak RSS is its own (sampled with psutil every 20 ms; the
driver process only, not Ray's own daemons or workers):
  all_done   ``plan_scoring``; then ``run_scoring`` (plans again, scores nothing, runs the duplicate
             check over N sidecars and saves its partitions); then ``run_scoring`` again (the check's
             report is reused)
  changed    shard 0's outputs rewritten as a rescore of a changed shard leaves them (by this parent
             process), then ``run_scoring`` (the incremental check: that shard's sidecar read, the
             others' hashes from the partitions the first check saved)
  half_done  every other marker removed: ``plan_scoring`` (finds N/2 to do). ``run_scoring`` itself
             is not run here: it would start engines and score N/2 shards, which is not driver cost.

Usage::

    .venv/bin/python -m benchmarks.bench_scoring_driver                       # 10K and 100K shards
    .venv/bin/python -m benchmarks.bench_scoring_driver --sizes 10000 30000   # -> results/scoring_driver.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
GOAL_SECONDS = 60.0
GOAL_RSS_BYTES = 1 << 30
LABELS = ["neither", "violating"]
PHASES = ("all_done", "changed", "half_done")


def setup(root: Path, n: int) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from al_ray.scoring.shard import hash_ids
    from al_ray.scoring.writer import encode_id_hashes, ids_sidecar_url

    t0 = time.perf_counter()
    corpus, out = root / "corpus", root / "scores"
    score_bytes = score_file_bytes("x", "template")
    for k in range(n):
        sub = f"{k // 1000:04d}"  # 1,000 a folder, as a large corpus is laid out
        (corpus / sub).mkdir(parents=True, exist_ok=True)
        (out / sub).mkdir(parents=True, exist_ok=True)
        rel = f"{sub}/part-{k:06d}.parquet"
        ids = pa.array([f"doc-{k}"])
        pq.write_table(pa.table({"id": ids, "text": [f"text {k}"]}), corpus / rel)
        with open(out / rel, "wb") as f:
            f.write(score_bytes)
        with open(ids_sidecar_url(str(out / rel)), "wb") as f:
            f.write(encode_id_hashes(hash_ids(ids)))
        with open(out / f"{rel}.done", "w") as f:
            json.dump({"rows": 1, "model_version": "bench"}, f)
    return {"seconds": round(time.perf_counter() - t0, 1), "files": 4 * n}


RESCORED_REL = "0000/part-000000.parquet"


def score_file_bytes(row_id: str, shard: str) -> bytes:
    """A one-row score file from the project's ``build_score_table``, serialised as
    ``storage.write_parquet_atomic`` does."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from al_ray.scoring.writer import build_score_table

    table = build_score_table(ids=pa.array([row_id]), rows=np.arange(1), label_probs=np.full((1, 2), 0.5),
                              truncated=np.zeros(1, bool), empty=np.zeros(1, bool), labels=LABELS, model_id="bench",
                              model_version="bench", shard=shard)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def rescored_outputs() -> dict[str, bytes]:
    """Shard 0's outputs as a rescore of a changed shard 0 leaves them (a new id): score file and id
    sidecar by relative path, for the phase that times the incremental duplicate check."""
    import pyarrow as pa

    from al_ray.layout import SCORE_IDS_SUFFIX
    from al_ray.scoring.shard import hash_ids
    from al_ray.scoring.writer import encode_id_hashes

    row_id = "doc-0-rescored"
    return {RESCORED_REL: score_file_bytes(row_id, RESCORED_REL),
            RESCORED_REL + SCORE_IDS_SUFFIX: encode_id_hashes(hash_ids(pa.array([row_id])))}


def rescore_one(out: Path) -> None:
    for rel, data in rescored_outputs().items():
        (out / rel).write_bytes(data)


def _measure(fn) -> tuple[object, dict]:
    from benchmarks.common import PeakRss

    with PeakRss() as rss:
        t0 = time.perf_counter()
        res = fn()
        dt = time.perf_counter() - t0
    return res, {"seconds": round(dt, 3), "peak_rss_bytes": rss.peak}


def child(phase: str, root: str, n: int) -> dict:
    import psutil
    import ray

    from al_ray.ray_connect import connect
    from al_ray.scoring.config import ScoringConfig
    from al_ray.scoring.job import plan_scoring, run_scoring
    from al_ray.task import TaskConfig
    from benchmarks.common import peak_rss_mib

    corpus, out = str(Path(root) / "corpus"), str(Path(root) / "scores")
    # no engine ever starts (nothing is left to score): the model path is only a name
    cfg = ScoringConfig(task=TaskConfig(labels=LABELS), model="/nonexistent/bench-model", model_version="bench",
                        mode="classifier", backend="transformers")
    res: dict = {"rss_after_imports_bytes": psutil.Process().memory_info().rss}
    connect(num_cpus=2)  # a private local Ray, never a head left running (al_ray/ray_connect.py)
    res["rss_after_ray_init_bytes"] = psutil.Process().memory_info().rss
    try:
        if phase != "changed":
            plan, res["plan"] = _measure(lambda: plan_scoring(cfg, corpus, out))
            res["plan"].update(shards=len(plan.checked), done=len(plan.done_before), todo=len(plan.todo))
            del plan
        if phase == "all_done":
            s, res["resume"] = _measure(lambda: run_scoring(cfg, corpus, out, progress=False))
            d = s.duplicate_ids
            res["resume"].update(shards_skipped_done=s.shards_skipped_done, duplicate_check={
                "count": d.count, "shards_checked": d.shards_checked, "from_sidecars": d.from_sidecars,
                "partitions": d.partitions, "map_tasks": d.map_tasks, "rows_checked": d.rows_checked,
                "task_peak_private_mb": d.task_peak_private_mb, "task_private_rise_mb": d.task_private_rise_mb})
            s, res["resume_again"] = _measure(lambda: run_scoring(cfg, corpus, out, progress=False))
            res["resume_again"].update(duplicate_check_reused=s.duplicate_ids.reused)
        if phase == "changed":
            s, res["resume_changed"] = _measure(lambda: run_scoring(cfg, corpus, out, progress=False))
            d = s.duplicate_ids
            res["resume_changed"].update(duplicate_check={
                "count": d.count, "shards_checked": d.shards_checked, "shards_from_saved": d.shards_from_saved,
                "from_sidecars": d.from_sidecars, "partitions": d.partitions, "rows_checked": d.rows_checked})
    finally:
        ray.shutdown()
    # VmHWM, not ru_maxrss: a subprocess's ru_maxrss starts at its parent's peak (the parent that wrote
    # 400K files here), which made the 10K figure of 2026-12-01 a parent's (al_ray/memory.py)
    res["vmhwm_bytes"] = int(peak_rss_mib() * 2**20)
    return res


def _run_child(phase: str, root: Path, n: int) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.bench_scoring_driver", "--child", phase, "--root", str(root), "--n", str(n)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    if proc.returncode != 0:
        raise RuntimeError(f"{phase} n={n} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    from benchmarks.common import log, provenance

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--out", default=str(RESULTS / "scoring_driver.json"))
    ap.add_argument("--workdir", default=None, help="where the shards are written (default: a temp dir)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--root", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(child(a.child, a.root, a.n)))
        return 0
    result = {"benchmark": "scoring_driver", **provenance(argv), "goals": {"peak_rss_bytes": GOAL_RSS_BYTES, "seconds": GOAL_SECONDS},
              "sizes": {}}
    for n in a.sizes:
        root = Path(tempfile.mkdtemp(prefix=f"scoring_driver_{n}_", dir=a.workdir))
        try:
            log(f"n={n}: writing {4 * n:,} files under {root}")
            fig = {"setup": setup(root, n)}
            log(f"n={n}: setup {fig['setup']['seconds']} s; all done")
            fig["all_done"] = _run_child("all_done", root, n)
            rescore_one(root / "scores")  # here, not in the child: building the table is not the driver's cost
            fig["changed"] = _run_child("changed", root, n)
            removed = 0
            for k in range(0, n, 2):
                os.unlink(root / "scores" / f"{k // 1000:04d}" / f"part-{k:06d}.parquet.done")
                removed += 1
            log(f"n={n}: half done ({removed} markers removed)")
            fig["half_done"] = _run_child("half_done", root, n)
            result["sizes"][str(n)] = fig
            ad, hd = fig["all_done"], fig["half_done"]
            log(f"n={n}: plan(all) {ad['plan']['seconds']} s, resume {ad['resume']['seconds']} s, "
                f"again {ad['resume_again']['seconds']} s, after one rescored {fig['changed']['resume_changed']['seconds']} s, "
                f"plan(half) {hd['plan']['seconds']} s; peak RSS "
                f"{max(ad['resume']['peak_rss_bytes'], ad['plan']['peak_rss_bytes']) / 2**20:.0f} MiB")
            _write(result, a.out)  # before the clean-up: deleting 400K files takes minutes on a busy disk
        finally:
            shutil.rmtree(root, ignore_errors=True)
    _write(result, a.out)
    log(f"wrote {a.out}: {result['verdict']}")
    return 0


def _write(result: dict, out: str) -> None:
    # the larger of the sampled peaks and VmHWM (which also covers imports, ray.init and shutdown)
    peaks = {n: max([f[p][k]["peak_rss_bytes"] for p in PHASES if p in f
                     for k in ("plan", "resume", "resume_again", "resume_changed") if k in f[p]]
                    + [f[p]["vmhwm_bytes"] for p in PHASES if p in f])
             for n, f in result["sizes"].items()}
    secs = {n: max(f[p][k]["seconds"] for p in PHASES if p in f
                   for k in ("plan", "resume", "resume_again", "resume_changed") if k in f[p]) for n, f in result["sizes"].items()}
    sizes = sorted(peaks, key=int)
    result["verdict"] = {
        "peak_rss_bytes": peaks, "max_seconds": secs,
        "rss_ok": all(v <= GOAL_RSS_BYTES for v in peaks.values()),
        "rss_growth_smallest_to_largest": round(peaks[sizes[-1]] / peaks[sizes[0]], 3) if len(sizes) > 1 else None,
        "seconds_ok": all(v <= GOAL_SECONDS for v in secs.values())}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
