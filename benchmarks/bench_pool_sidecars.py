"""Benchmark: the candidate pool from the scoring actors' sidecars against the full scan (issue 16).

Each score file gets the candidate sidecar a scoring actor writes (``al_ray.scoring.topk``: its
top-K rows per uncertainty measure and predicted label, with the shard's cut-offs). For a few pool
configurations the pool is then extracted twice over the same files, each arm in a fresh
subprocess so that peak RSS (VmHWM) is that arm's alone:

- ``full``: ``extract_pool(..., sidecars=False)``, every score file streamed (light pass / heavy pass);
- ``sidecars``: the sidecars merged, and only the shards whose cut-off requires it read in full.

Both arms must return the same pool (same ids in the same order, compared by digest); the script
fails otherwise. Recorded per arm (the fastest of --repeat runs): wall time, CPU time (steadier on
a shared machine), peak RSS, rows whose measure was decoded, files read in full and why, and the
bytes of the files it opened (sidecars plus the rescanned score files; for the full scan the whole
score files, an upper bound: it decodes the measure column of every row and the other columns only
of row groups with candidates).

    .venv/bin/python -m benchmarks.bench_pool_sidecars --quick   # 1,000 files x 2,000 rows
    .venv/bin/python -m benchmarks.bench_pool_sidecars --full    # 10,000 files x 10,000 rows = 1e8

Score files are the ones ``bench_selection.py`` generates (binary task, beta(0.3, 3) positive
probability, full-precision entropy: no ties for the cut-off to exploit), written once under
--data and reused; the sidecars are (re)built for each K, timed per shard, as the actor would
build them from the table it holds. The files are in the page cache after generation, so both
arms read from memory, not disk: local figures, not S3 ones.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import peak_rss_mib

RESULTS = Path(__file__).resolve().parent / "results"
LABELS = ["neither", "violating"]




def build_sidecars(scores: Path, k: int) -> dict:
    """Write every score file's sidecar for this K; time the build as the scoring actor pays it."""
    import pyarrow.parquet as pq

    from al_ray import storage
    from al_ray.scoring import topk

    build_s, side_bytes, score_bytes, side_rows = 0.0, 0, 0, 0
    files = sorted(scores.glob("part-*.parquet"))
    for f in files:
        table = pq.read_table(f)
        t0 = time.perf_counter()
        side = topk.build_candidates(table, k)
        build_s += time.perf_counter() - t0
        url = topk.candidates_sidecar_url(str(f))
        storage.write_parquet_atomic(side, url)
        side_bytes += os.path.getsize(url)
        score_bytes += f.stat().st_size
        side_rows += side.num_rows
    return {"k": k, "files": len(files), "build_seconds_total": round(build_s, 2),
            "build_ms_per_shard": round(1000 * build_s / max(len(files), 1), 2),
            "sidecar_rows": side_rows, "sidecar_bytes": side_bytes, "score_bytes": score_bytes}


def child(args: argparse.Namespace) -> None:
    from al_ray.scoring import topk
    from al_ray.selection import SelectionConfig, extract_pool

    exclude = json.loads(Path(args.exclude_file).read_text()) if args.exclude_file else []
    cfg = SelectionConfig(n=100, pool_size=args.pool, measure=args.measure, stratify=args.stratify,
                          io_workers=args.workers, embedding={"source": "none"})
    t0, c0 = time.perf_counter(), time.process_time()
    res = extract_pool(args.scores, cfg, exclude_ids=exclude, sidecars=args.arm == "sidecars")
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    ids = res.table.column("id").to_pylist()
    side = res.stats["sidecars"]
    full_files = side["read_in_full"]
    # bytes opened: every score file (full arm), or every sidecar + the score files read in full
    score_bytes = sum(os.path.getsize(u) for u in res.files)
    if args.arm == "full":
        opened = score_bytes
    else:
        side_bytes = sum(os.path.getsize(topk.candidates_sidecar_url(u)) for u in res.files
                         if os.path.exists(topk.candidates_sidecar_url(u)))
        opened = side_bytes + round(score_bytes * full_files / max(len(res.files), 1))  # files are equal-sized
    print(json.dumps({
        "arm": args.arm, "seconds": round(dt, 3), "cpu_seconds": round(cpu, 3), "peak_rss_mib": round(peak_rss_mib(), 1),
        "rows": res.rows_scanned, "rows_read": side["rows_read"], "files": len(res.files),
        "from_sidecars": side["from_sidecars"], "read_in_full": full_files, "read_in_full_why": side["read_in_full_why"],
        "bytes_opened": opened, "pool": len(ids), "pool_digest": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
        "top_id": ids[0] if ids else None}))


def run_arm(scores: Path, arm: str, case: dict, workers: int, exclude_file: str | None) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.bench_pool_sidecars", "_child", "--scores", str(scores), "--arm", arm,
           "--pool", str(case["pool"]), "--measure", case["measure"], "--workers", str(workers)]
    if case["stratify"]:
        cmd.append("--stratify")
    if exclude_file:
        cmd += ["--exclude-file", exclude_file]
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=root).stdout.strip().splitlines()[-1]
    return json.loads(out)


def top_ids(scores: Path, n: int, measure: str) -> list[str]:
    """The n most uncertain ids: a previous round's labels (what the exclusions look like in a loop)."""
    from al_ray.selection import SelectionConfig, extract_pool

    cfg = SelectionConfig(pool_size=n, measure=measure, embedding={"source": "none"})
    return extract_pool(str(scores), cfg).table.column("id").to_pylist()


def markdown_table(data: dict) -> str:
    """The runs of one result file as RESULTS.md shows them (benchmarks/results_md.py)."""
    c = data["corpus"]
    lines = ["| corpus | K | case | full scan: time, peak RSS | sidecars: time, peak RSS | rows decoded "
             "(full -> sidecars) | bytes opened (MB) | shards read in full | same pool |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in data["runs"]:
        f, sc = r["full"], r["sidecars"]
        why = ", ".join(f"{n} {k}" for k, n in sc["read_in_full_why"].items()) or "0"
        case = r["case"] + (" (stratified)" if r.get("stratify") and "strat" not in r["case"] else "")
        lines.append(
            f"| {c['files']:,} x {c['rows_per_file']:,} rows | {r['k']} | {case} | {f['seconds']:.2f} s, "
            f"{f['peak_rss_mib']:.0f} MiB | {sc['seconds']:.2f} s, {sc['peak_rss_mib']:.0f} MiB | "
            f"{f['rows_read']:,} -> {sc['rows_read']:,} | {f['bytes_opened'] / 1e6:.1f} -> "
            f"{sc['bytes_opened'] / 1e6:.1f} | {why} | {'yes' if r['identical_pools'] else '**no**'} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd")
    ch = sub.add_parser("_child")
    ch.add_argument("--scores", required=True)
    ch.add_argument("--arm", choices=["full", "sidecars"], required=True)
    ch.add_argument("--pool", type=int, required=True)
    ch.add_argument("--measure", default="entropy")
    ch.add_argument("--stratify", action="store_true")
    ch.add_argument("--workers", type=int, default=2)
    ch.add_argument("--exclude-file")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="1,000 files x 2,000 rows (2e6 rows), K 8, 64, 256")
    mode.add_argument("--full", action="store_true", help="10,000 files x 10,000 rows (1e8 rows), K 64 and 2048")
    ap.add_argument("--data", default="/tmp/al_ray_bench_sidecars")
    ap.add_argument("--files", type=int)
    ap.add_argument("--rows", type=int, help="rows per score file")
    ap.add_argument("--k", type=int, nargs="+", help="candidates_per_shard values to compare")
    ap.add_argument("--pool", type=int, default=2000, help="pool_size (the shipped configs' value)")
    ap.add_argument("--exclude", type=int, default=1000, help="already-labelled ids: the previous top ones")
    ap.add_argument("--workers", type=int, default=2, help="selection io_workers")
    ap.add_argument("--repeat", type=int, default=1, help="runs per arm (fresh subprocesses); the fastest is reported")
    ap.add_argument("--json", help="result file (default benchmarks/results/pool_sidecars[-quick].json)")
    args = ap.parse_args()
    if args.cmd == "_child":
        child(args)
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.bench_selection import generate
    from benchmarks.common import log, now_utc, provenance

    n_files = args.files or (10_000 if args.full else 1_000)
    rows = args.rows or (10_000 if args.full else 2_000)
    ks = args.k or ([64, 2048] if args.full else [8, 64, 256])
    data = Path(args.data) / f"{n_files}x{rows}"
    result: dict = {"benchmark": "pool_sidecars", "started_at": now_utc(), **provenance(),
                    "load_avg_at_start": os.getloadavg(),
                    "corpus": {"files": n_files, "rows_per_file": rows, "rows": n_files * rows, "labels": LABELS},
                    "pool_size": args.pool, "io_workers": args.workers, "repeat": args.repeat, "runs": []}
    t0 = time.perf_counter()
    scores = generate(data, n_files, rows)
    result["corpus"]["generate_seconds"] = round(time.perf_counter() - t0, 1)
    log(f"score files ready under {scores} ({n_files} x {rows} rows) in {time.perf_counter() - t0:.0f}s")
    cases = [{"name": "entropy", "measure": "entropy", "stratify": False, "pool": args.pool, "exclude": 0},
             {"name": "entropy, stratified", "measure": "entropy", "stratify": True, "pool": args.pool, "exclude": 0},
             {"name": f"margin, {args.exclude} labelled ids excluded", "measure": "margin", "stratify": False,
              "pool": args.pool, "exclude": args.exclude}]
    ok = True
    for k in ks:
        t0 = time.perf_counter()
        built = build_sidecars(scores, k)
        log(f"K={k}: sidecars built in {time.perf_counter() - t0:.0f}s: {json.dumps(built)}")
        for case in cases:
            exclude_file = None
            if case["exclude"]:
                exclude_file = str(data / f"exclude-{case['measure']}-{case['exclude']}.json")
                if not os.path.exists(exclude_file):
                    Path(exclude_file).write_text(json.dumps(top_ids(scores, case["exclude"], case["measure"])))
            arms = {}
            for arm in ("full", "sidecars"):
                tries = [run_arm(scores, arm, case, args.workers, exclude_file) for _ in range(args.repeat)]
                arms[arm] = min(tries, key=lambda r: r["seconds"])
                arms[arm]["seconds_all"] = [r["seconds"] for r in tries]
                arms[arm]["peak_rss_mib_all"] = [r["peak_rss_mib"] for r in tries]
                assert len({r["pool_digest"] for r in tries}) == 1
            same = arms["full"]["pool_digest"] == arms["sidecars"]["pool_digest"] and arms["full"]["pool"] == args.pool
            ok &= same
            run = {"k": k, "case": case["name"], "measure": case["measure"], "stratify": case["stratify"],
                   "excluded_ids": case["exclude"], "identical_pools": same, "sidecars_build": built, **arms,
                   "speedup": round(arms["full"]["seconds"] / max(arms["sidecars"]["seconds"], 1e-9), 2),
                   "cpu_speedup": round(arms["full"]["cpu_seconds"] / max(arms["sidecars"]["cpu_seconds"], 1e-9), 2)}
            result["runs"].append(run)
            log(f"K={k} {case['name']}: full {arms['full']['seconds']}s (cpu {arms['full']['cpu_seconds']}s) "
                f"{arms['full']['peak_rss_mib']} MiB | sidecars {arms['sidecars']['seconds']}s "
                f"(cpu {arms['sidecars']['cpu_seconds']}s) {arms['sidecars']['peak_rss_mib']} MiB, "
                f"{arms['sidecars']['read_in_full']} files read in full {arms['sidecars']['read_in_full_why']} | "
                f"identical: {same}")
    result["load_avg_at_end"] = os.getloadavg()
    result["finished_at"] = now_utc()
    result["all_identical"] = ok
    out = Path(args.json) if args.json else RESULTS / ("pool_sidecars.json" if args.full else "pool_sidecars-quick.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    log(f"wrote {out}")
    if not ok:
        raise SystemExit("the sidecar pool differs from the full-scan pool")


if __name__ == "__main__":
    main()
