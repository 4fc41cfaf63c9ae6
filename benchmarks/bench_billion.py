"""Driver bookkeeping at billion-row scale: listing, planning and tracking 100K shards.

A 1e9-row corpus in 10K-row shards is 100,000 objects. Before a single GPU scores anything, the
driver must list them, plan each shard's output (and its input fingerprint, so a changed shard is
rescored), write that plan into the round manifest, and then track 100K completions — and on a
resume, find what is already done. Goal: seconds, and under 1 GiB of driver memory.

What is measured (each in a child process, so peak RSS belongs to this work alone):
  setup     create N placeholder shards (+ N ``.done`` markers for the resume case) in a temp dir
            on the local filesystem; object-store listing is paged (1,000 keys/request), so S3
            adds ~N/1000 round trips on top of these figures (not measured here)
  list      ``al_ray.storage.list_files`` over the N shards -> N FileInfo
  plan      shard -> score output URL (``al_ray.layout``) + fingerprint, the plan's digest, and the
            plan serialised as the manifest JSON (written atomically through ``al_ray.storage``)
  track     N completion events in random order into a state dict + counters + progress
  resume    one listing of ``.done`` markers -> set difference -> remaining shards, versus the naive
            per-shard ``storage.is_done`` (timed on a sample, extrapolated)

Usage::

    .venv/bin/python -m benchmarks.bench_billion --quick     # 10K shards  -> results/billion-quick.json
    .venv/bin/python -m benchmarks.bench_billion --full      # 100K shards -> results/billion.json

The second half of the billion-row story — score files of 1e8 rows -> candidate pool -> batch —
belongs to the selection stage; ``--with-selection`` runs ``benchmarks.bench_selection:run_billion``
when that module exists and records "not available" otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS_PER_SHARD = 10_000
GOAL_SECONDS = 10.0
GOAL_RSS_BYTES = 1 << 30
RESULTS = Path(__file__).resolve().parent / "results"


def _rss_now() -> int:
    import psutil

    return psutil.Process().memory_info().rss  # bytes


def _rss_peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _setup(root: Path, n: int) -> dict:
    """Placeholder shards (a few bytes each) and their done markers, as scorers would leave them."""
    t0 = time.perf_counter()
    corpus = root / "corpus"
    scores = root / "run" / "rounds" / "r000" / "scores"
    corpus.mkdir(parents=True)
    scores.mkdir(parents=True)
    for i in range(n):
        name = f"part-{i:06d}.parquet"
        with open(corpus / name, "wb") as f:
            f.write(b"PAR1")
        with open(scores / (name + ".done"), "wb"):
            pass
    return {"seconds": time.perf_counter() - t0, "files": 2 * n}


def _phase(fn):
    rss0 = _rss_now()
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    return out, {"seconds": round(dt, 3), "rss_after_bytes": _rss_now(), "rss_delta_bytes": _rss_now() - rss0,
                 "peak_rss_bytes": _rss_peak()}


def _child(root: str, n: int) -> dict:
    """The measured work; runs in a fresh interpreter so its peak RSS is its own."""
    import random

    from al_ray import storage
    from al_ray.layout import RunLayout

    rootp = Path(root)
    base = {"rss_after_imports_bytes": _rss_now(), "peak_rss_after_imports_bytes": _rss_peak()}
    corpus_url = str(rootp / "corpus")
    layout = RunLayout(str(rootp / "run"))
    figures: dict = {}

    files, figures["list"] = _phase(lambda: storage.list_files(corpus_url))
    assert len(files) == n, (len(files), n)

    def plan():
        out_dir = layout.scores(0)
        entries = []
        digest = hashlib.sha256()
        for fi in files:
            stem = fi.url.rsplit("/", 1)[-1]
            out = storage.join(out_dir, stem)
            fp = fi.fingerprint
            entries.append((fi.url, out, fp))
            digest.update(f"{fi.url}\t{fp}\n".encode())
        manifest = {"round": 0, "plan_digest": digest.hexdigest(), "n_shards": len(entries),
                    "shards": [{"input": u, "output": o, "fingerprint": f} for u, o, f in entries]}
        storage.write_json_atomic(layout.manifest, manifest)
        return entries, os.path.getsize(layout.manifest)

    (entries, manifest_bytes), figures["plan"] = _phase(plan)
    figures["plan"]["manifest_bytes"] = manifest_bytes

    def track():
        state = {out: "pending" for _, out, _ in entries}
        counts = {"pending": len(state), "running": 0, "done": 0}
        order = [out for _, out, _ in entries]
        random.Random(0).shuffle(order)
        progress_updates = 0
        for k, out in enumerate(order):  # each completion: running -> done, counters, progress
            state[out] = "running"
            counts["pending"] -= 1
            counts["running"] += 1
            state[out] = "done"
            counts["running"] -= 1
            counts["done"] += 1
            if k % 1000 == 0:
                progress_updates += 1
        assert counts["done"] == len(entries)
        return progress_updates

    _, figures["track"] = _phase(track)

    def resume():
        markers = storage.list_files(layout.scores(0), suffix=storage.DONE_SUFFIX)
        done = {m.url[: -len(storage.DONE_SUFFIX)] for m in markers}
        remaining = [out for _, out, _ in entries if out not in done]
        return len(done), len(remaining)

    (n_done, n_remaining), figures["resume_listing"] = _phase(resume)
    assert n_done == n and n_remaining == 0

    sample = entries[: min(2000, len(entries))]
    t0 = time.perf_counter()
    hits = sum(storage.is_done(out) for _, out, _ in sample)
    per = (time.perf_counter() - t0) / len(sample)
    assert hits == len(sample)
    figures["resume_naive_is_done"] = {"seconds_extrapolated": round(per * n, 3), "sample": len(sample),
                                       "seconds_per_shard": per}
    figures["peak_rss_bytes"] = _rss_peak()
    figures.update(base)
    return figures


def _selection_hook(enabled: bool) -> dict:
    if not enabled:
        return {"status": "skipped (pass --with-selection)"}
    try:
        mod = importlib.import_module("benchmarks.bench_selection")
        fn = getattr(mod, "run_billion")
    except (ImportError, AttributeError):
        return {"status": "not available (benchmarks.bench_selection:run_billion not found)"}
    return {"status": "ran", "figures": fn()}


def run(n_shards: int, out_path: Path, with_selection: bool = False, keep: str | None = None) -> dict:
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="bench_billion_"))
    try:
        setup = _setup(root, n_shards)
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_billion", "--child", str(root), "--shards", str(n_shards)],
            capture_output=True, text=True, cwd=str(Path(__file__).resolve().parents[1]),
        )
        if proc.returncode != 0:
            raise SystemExit(f"child failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        figures = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    driver_s = sum(figures[k]["seconds"] for k in ("list", "plan", "track", "resume_listing"))
    result = {
        "benchmark": "driver planning over a 1e9-row corpus (listing, planning, tracking)",
        "n_shards": n_shards,
        "rows_represented": n_shards * ROWS_PER_SHARD,
        "filesystem": "local (temp dir); S3 listing adds ~n/1000 paged requests",
        "setup": setup,
        **figures,
        "driver_total_seconds": round(driver_s, 3),
        "goal": {"seconds": GOAL_SECONDS, "peak_rss_bytes": GOAL_RSS_BYTES,
                 "met": driver_s < GOAL_SECONDS and figures["peak_rss_bytes"] < GOAL_RSS_BYTES},
        "selection_1e8_rows": _selection_hook(with_selection),
        "python": sys.version.split()[0],
        "cpu_count": os.cpu_count(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2))
    return result


def _print(result: dict) -> None:
    mib = 1 << 20
    print(f"shards: {result['n_shards']:,} ({result['rows_represented']:,} rows at {ROWS_PER_SHARD:,}/shard)")
    print(f"setup (create {result['setup']['files']:,} files): {result['setup']['seconds']:.1f} s")
    for k in ("list", "plan", "track", "resume_listing"):
        f = result[k]
        print(f"{k:>15}: {f['seconds']:8.3f} s   rss after {f['rss_after_bytes'] / mib:7.1f} MiB "
              f"(+{f['rss_delta_bytes'] / mib:.1f})")
    print(f"  manifest JSON: {result['plan']['manifest_bytes'] / mib:.1f} MiB")
    naive = result["resume_naive_is_done"]
    print(f"naive is_done per shard (extrapolated): {naive['seconds_extrapolated']:.2f} s")
    print(f"driver total: {result['driver_total_seconds']:.2f} s; peak RSS "
          f"{result['peak_rss_bytes'] / mib:.1f} MiB (after imports {result['rss_after_imports_bytes'] / mib:.1f} MiB)")
    print(f"goal (< {GOAL_SECONDS:g} s, < 1 GiB): {'met' if result['goal']['met'] else 'NOT met'}")
    print(f"selection hook: {result['selection_1e8_rows']['status']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="10K shards (default)")
    size.add_argument("--full", action="store_true", help="100K shards (1e9 rows)")
    size.add_argument("--shards", type=int, help="any shard count")
    ap.add_argument("--out", type=Path, help="result JSON (default results/billion[-quick].json)")
    ap.add_argument("--with-selection", action="store_true", help="also run the selection stage's 1e8-row benchmark")
    ap.add_argument("--keep", help="build the files in this folder and keep them")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.shards)))
        return 0
    n = args.shards or (100_000 if args.full else 10_000)
    out = args.out or RESULTS / ("billion.json" if n >= 100_000 else "billion-quick.json")
    result = run(n, out, with_selection=args.with_selection, keep=args.keep)
    _print(result)
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
