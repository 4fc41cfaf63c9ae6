"""The real scoring driver over 10K shards on an S3 server (moto): time and S3 requests per phase.

The S3 sibling of ``bench_scoring_driver.py`` (local shards): the same corpus and the same outputs an
actor leaves (``bench_scoring_driver.setup``: tiny real Parquet shards, score files from
``build_score_table``, id sidecars from ``encode_id_hashes``, ``.done`` markers), uploaded in bulk
(s3fs ``put`` of the local tree, straight to moto; timed apart as setup) to a bucket of moto's S3
server (``al_ray.testing.servers.moto_server``). Then the product's path runs against it with s3fs
pointed at the request-counting proxy (``al_ray.testing.s3_proxy.FaultProxy``, no faults planned):

  plan          ``plan_scoring``: the corpus listing, the footer sample, one listing of the output prefix
  resume        ``run_scoring`` with everything done: plans again, scores nothing, runs the duplicate-id
                check over every shard's sidecar (Ray tasks on a private local Ray; their GETs go through
                the proxy too) and writes ``_summary.json``
  resume_again  ``run_scoring`` again: the check's report is reused (nothing read)
  resume_changed  shard 0's score file and sidecar rewritten as a rescore leaves them (a new id), and
                ``run_scoring`` again: the incremental check reads that one sidecar and takes the other
                shards' hashes from the partitions the first check saved (``al_ray.scoring.duplicate_state``)
  resume_one_request_reads  (with ``--one-request-reads``) ``_summary.json`` and the check's saved
                state deleted so the check runs again over every shard, and ``run_scoring`` with ``max_concurrency=1`` in the s3fs options: each sidecar
                read is then one GET (see below)
  plan_half     every other ``.done`` marker deleted (straight to moto), ``plan_scoring`` again

Each phase runs in a fresh interpreter (its own peak RSS, its own s3fs cache); the proxy lives in
this process and its counter is zeroed before each phase, so a phase's counts are its own requests,
by method and kind ("list": ListObjects; else GET/HEAD/PUT/POST/DELETE). The point measured (issue
16): the driver's requests stay O(shards) with ONE listing of the output prefix for the done
markers (a paged listing: ~1 LIST per 1,000 keys and folder), never a HEAD or GET per shard; the
only per-shard requests are the duplicate check's sidecar reads, made by Ray tasks, and only when
the report cannot be reused. Each such read is two requests: s3fs's ``cat_file`` (which
``storage.read_bytes`` calls) sends a HEAD for the size before its GET (it would split a large
object into concurrent ranged GETs; ``max_concurrency=1`` in the storage options skips it).

Usage::

    .venv/bin/python -m benchmarks.bench_scoring_driver_s3 --quick          # 200 shards (~1 min)
    .venv/bin/python -m benchmarks.bench_scoring_driver_s3                  # 10,000 shards
    .venv/bin/python -m benchmarks.bench_scoring_driver_s3 --full --one-request-reads   # as recorded
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
GOAL_SECONDS = 60.0  # bench_scoring_driver's goals, on 2 cores
GOAL_RSS_BYTES = 1 << 30
KEYS_PER_LIST_PAGE = 1000  # S3's page size for ListObjectsV2
PHASES = ("plan", "resume", "resume_again", "resume_changed", "resume_one_request_reads", "plan_half")


def count_summary(counts: dict, shards: int) -> dict:
    """A phase's request counts for the JSON: by "METHOD kind", totals by kind, and per shard."""
    by = {f"{m} {k}": n for (m, k), n in sorted(counts.items())}
    kinds: dict[str, int] = {}
    for (_, k), n in counts.items():
        kinds[k] = kinds.get(k, 0) + n
    total = sum(counts.values())
    return {"by_method_kind": by, "by_kind": dict(sorted(kinds.items())), "total": total,
            "per_shard": round(total / shards, 4) if shards else None,
            "non_list_per_shard": round((total - kinds.get("list", 0)) / shards, 4) if shards else None}


def listing_bound(shards: int, files_per_shard: int, folders: int) -> int:
    """The most LIST requests one paged, folder-by-folder listing of ``shards * files_per_shard`` keys
    in ``folders`` folders can take: a page per 1,000 keys of each folder, plus the root's listing."""
    per_folder = math.ceil(shards * files_per_shard / max(folders, 1) / KEYS_PER_LIST_PAGE) + 1
    return folders * per_folder + 2


def verdict(phases: dict, shards: int, sample: int) -> dict:
    """Whether the driver kept its requests O(shards) as the issue asks, from the phases' counts.

    A plan may make one paged listing of the corpus (1 key a shard) and one of the output (3 keys a
    shard: score file, sidecar, marker), and read the footer sample (a few requests a footer): nothing
    a shard. A resume with everything done plans once (no second listing) and adds the duplicate
    check's reads of the sidecars (Ray tasks; per shard by design) and a few small files; a second
    resume reuses the check's report, so it is a plan plus those few files again."""
    folders = max(math.ceil(shards / 1000), 1)
    list_max = listing_bound(shards, 1, folders) + listing_bound(shards, 3, folders)
    fixed_max = 4 * sample + 10  # footer sample (HEAD + a ranged GET or two each) + a few small files
    out: dict = {"list_requests_max": list_max, "non_list_requests_max": fixed_max}

    def lists(name: str) -> int:
        return phases[name]["requests"]["by_kind"].get("list", 0)

    def non_list(name: str) -> int:
        return phases[name]["requests"]["total"] - lists(name)

    for name in ("plan", "plan_half", "resume_again"):
        if name in phases:
            out[f"{name}_one_listing"] = lists(name) <= list_max
            out[f"{name}_no_request_per_shard"] = non_list(name) <= fixed_max
    if "resume" in phases and "plan" in phases:
        extra = phases["resume"]["requests"]["total"] - phases["plan"]["requests"]["total"]
        # the plan's listing is reused; +1: the duplicate check lists its own state folder (its
        # partitions and two small files, one page) to remove an earlier check's files
        out["resume_one_listing"] = lists("resume") <= lists("plan") + 1
        out["resume_requests_beyond_plan"] = extra
        out["resume_requests_beyond_plan_per_shard"] = round(extra / shards, 3)
        sidecar_gets = phases["resume"]["requests"]["by_method_kind"].get("GET get", 0) - \
            phases["plan"]["requests"]["by_method_kind"].get("GET get", 0)
        out["resume_sidecar_reads_at_most_two_requests_each"] = shards <= sidecar_gets and extra <= 2 * shards + 10
    if "resume_changed" in phases and "plan" in phases:
        ch = phases["resume_changed"]
        extra = ch["requests"]["total"] - phases["plan"]["requests"]["total"]
        parts = ch.get("duplicate_check", {}).get("partitions", 1)
        out["resume_changed_requests_beyond_plan"] = extra
        # the changed shard's sidecar, the saved state (state.json, shard list, P partitions) read and
        # written again, the old files removed, the summary: O(partitions), nothing a shard
        out["resume_changed_no_request_per_shard"] = extra <= 6 * parts + 20
    if "resume_one_request_reads" in phases and "plan" in phases:
        one = phases["resume_one_request_reads"]["requests"]
        extra = one["total"] - phases["plan"]["requests"]["total"]
        out["one_request_reads_beyond_plan_per_shard"] = round(extra / shards, 3)
        out["one_request_reads_one_get_each"] = extra <= shards + 10 and \
            one["by_method_kind"].get("HEAD head", 0) <= phases["plan"]["requests"]["by_method_kind"].get("HEAD head", 0) + 2
    out["requests_ok"] = all(v for v in out.values() if isinstance(v, bool))
    # the driver bench's goals (bench_scoring_driver: each step at most 60 s, peak RSS at most 1 GiB)
    out["seconds"] = {k: ph["seconds"] for k, ph in phases.items()}
    out["seconds_within_goal"] = {k: ph["seconds"] <= GOAL_SECONDS for k, ph in phases.items()}
    out["peak_rss_within_goal"] = all(max(ph["peak_rss_bytes"], ph.get("vmhwm_bytes", 0)) <= GOAL_RSS_BYTES
                                      for ph in phases.values())
    return out


# -- a phase, in a fresh interpreter -------------------------------------------------------------
def child(phase: str, bucket: str, endpoint: str, n: int, extra_so: dict | None = None) -> dict:
    import psutil

    from al_ray.scoring.config import ScoringConfig
    from al_ray.scoring.job import plan_scoring, run_scoring
    from al_ray.task import TaskConfig
    from benchmarks.common import PeakRss
    from benchmarks.bench_scoring_driver import LABELS
    from benchmarks.common import peak_rss_mib

    so = {"key": "al-ray-test-key", "secret": "al-ray-test-secret-do-not-log", "endpoint_url": endpoint,
          **(extra_so or {})}
    corpus, out = f"{bucket}/corpus", f"{bucket}/scores"
    cfg = ScoringConfig(task=TaskConfig(labels=LABELS), model="/nonexistent/bench-model", model_version="bench",
                        mode="classifier", backend="transformers", storage_options=so)
    res: dict = {"load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}

    def measure(fn):
        with PeakRss() as rss:
            t0 = time.perf_counter()
            value = fn()
            res["seconds"] = round(time.perf_counter() - t0, 3)
        res["peak_rss_bytes"] = rss.peak
        return value

    if phase.startswith("plan"):
        plan = measure(lambda: plan_scoring(cfg, corpus, out))
        res.update(shards=len(plan.checked), done=len(plan.done_before), todo=len(plan.todo),
                   sampled_footers=sum(1 for s in plan.checked if s.num_rows is not None))
    else:
        import ray

        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        t0 = time.perf_counter()
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning", log_to_driver=False)
        res["ray_init_seconds"] = round(time.perf_counter() - t0, 2)
        try:
            s = measure(lambda: run_scoring(cfg, corpus, out, progress=False))
        finally:
            ray.shutdown()
        d = s.duplicate_ids
        res.update(shards_total=s.shards_total, shards_skipped_done=s.shards_skipped_done, rows_scored=s.rows_scored,
                   failed_shards=len(s.failed_shards), duplicate_check={
                       "count": d.count, "shards_checked": d.shards_checked, "from_sidecars": d.from_sidecars,
                       "shards_from_saved": d.shards_from_saved,
                       "partitions": d.partitions, "map_tasks": d.map_tasks, "rows_checked": d.rows_checked,
                       "reused": d.reused, "error": d.error, "task_peak_private_mb": d.task_peak_private_mb,
                       "task_private_rise_mb": d.task_private_rise_mb})
    res["vmhwm_bytes"] = int(peak_rss_mib() * 2**20)  # this process's own peak (ru_maxrss keeps the parent's)
    res["rss_at_end_bytes"] = psutil.Process().memory_info().rss
    res["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return res


def _run_child(phase: str, bucket: str, endpoint: str, n: int, timeout: float, extra_so: dict | None = None) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.bench_scoring_driver_s3", "--child", phase, "--bucket", bucket,
           "--endpoint", endpoint, "--n", str(n), "--extra-so", json.dumps(extra_so or {})]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{phase} n={n} failed:\n{proc.stderr[-4000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["process_seconds"] = round(time.perf_counter() - t0, 2)  # with the interpreter's start and imports
    return res


# -- setup ----------------------------------------------------------------------------------------
def upload(fs, local: Path, remote: str) -> dict:
    """The local tree under ``remote`` in one bulk s3fs ``put`` (concurrent PUTs), then counted back."""
    t0 = time.perf_counter()
    files = sum(1 for p in local.rglob("*") if p.is_file())
    fs.put(str(local) + "/", remote + "/", recursive=True)
    fs.invalidate_cache()
    listed = len(fs.find(remote))
    if listed != files:
        raise RuntimeError(f"uploaded {files} files to {remote} but {listed} are listed")
    return {"files": files, "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    from al_ray.scoring.reader import PREFLIGHT_SAMPLE
    from al_ray.testing.s3_proxy import FaultProxy
    from al_ray.testing.servers import moto_server
    from al_ray.layout import DUPLICATE_STATE_DIR
    from benchmarks.bench_scoring_driver import rescored_outputs, setup
    from benchmarks.common import log, provenance

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shards", type=int, default=10_000)
    ap.add_argument("--quick", action="store_true", help="200 shards (about a minute: two Ray starts)")
    ap.add_argument("--full", action="store_true", help="10,000 shards (the default)")
    ap.add_argument("--phase-timeout", type=float, default=1800, help="seconds a phase may take")
    ap.add_argument("--one-request-reads", action="store_true",
                    help="also run the check again with s3fs max_concurrency=1 (one GET a sidecar, no HEAD)")
    ap.add_argument("--out", default=None, help="result JSON (default: results/scoring_driver_s3[-quick].json)")
    ap.add_argument("--workdir", default=None, help="where the local tree is written (default: a temp dir)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--bucket", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--endpoint", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--extra-so", default="{}", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        print(json.dumps(child(a.child, a.bucket, a.endpoint, a.n, json.loads(a.extra_so))))
        return 0
    n = 200 if a.quick else 10_000 if a.full else a.shards
    out_json = Path(a.out) if a.out else RESULTS / (
        "scoring_driver_s3-quick.json" if a.quick else "scoring_driver_s3.json" if n == 10_000 else
        f"scoring_driver_s3-{n}.json")
    t_all = time.perf_counter()
    result: dict = {"benchmark": "scoring_driver_s3", **provenance(argv), "shards": n,
                    "goals": {"seconds": GOAL_SECONDS, "peak_rss_bytes": GOAL_RSS_BYTES},
                    "footer_sample": min(PREFLIGHT_SAMPLE, n), "setup": {}, "phases": {}}
    root = Path(tempfile.mkdtemp(prefix=f"scoring_driver_s3_{n}_", dir=a.workdir))
    try:
        log(f"n={n}: writing {4 * n:,} local files under {root}")
        result["setup"]["local"] = setup(root, n)
        with moto_server() as s3:
            bucket = s3.create_bucket("bench-driver")
            fs = s3.filesystem()  # straight to moto: the setup is not what is counted
            log(f"n={n}: local tree written in {result['setup']['local']['seconds']} s; uploading to {s3.endpoint_url}")
            result["setup"]["upload_corpus"] = upload(fs, root / "corpus", f"{bucket}/corpus")
            result["setup"]["upload_scores"] = upload(fs, root / "scores", f"{bucket}/scores")
            log(f"n={n}: uploaded {result['setup']['upload_corpus']['files'] + result['setup']['upload_scores']['files']:,}"
                f" objects in {result['setup']['upload_corpus']['seconds'] + result['setup']['upload_scores']['seconds']:.1f} s")
            proxy = FaultProxy(s3.endpoint_url)
            try:
                for phase in PHASES:
                    extra_so = None
                    if phase == "resume_changed":  # shard 0 rescored: the incremental check reads it alone
                        for rel, data in rescored_outputs().items():
                            fs.pipe_file(f"{bucket}/scores/{rel}", data)
                        fs.invalidate_cache()
                    if phase == "resume_one_request_reads":
                        if not a.one_request_reads:
                            continue
                        # so the check can neither reuse its report nor its saved partitions: a full check
                        fs.rm(f"{bucket}/scores/_summary.json")
                        fs.rm(f"{bucket}/scores/{DUPLICATE_STATE_DIR}", recursive=True)
                        fs.invalidate_cache()
                        extra_so = {"max_concurrency": 1}
                    if phase == "plan_half":
                        t0 = time.perf_counter()
                        markers = [f"{bucket}/scores/{k // 1000:04d}/part-{k:06d}.parquet.done" for k in range(0, n, 2)]
                        fs.rm(markers)
                        fs.invalidate_cache()
                        result["setup"]["remove_half_markers"] = {"markers": len(markers),
                                                                  "seconds": round(time.perf_counter() - t0, 1)}
                    proxy.reset_counts()
                    fig = _run_child(phase, bucket, proxy.url, n, a.phase_timeout, extra_so)
                    if extra_so:
                        fig["extra_storage_options"] = extra_so
                    fig["requests"] = count_summary(proxy.reset_counts(), n)
                    result["phases"][phase] = fig
                    c = fig["requests"]
                    log(f"n={n}: {phase}: {fig['seconds']} s, peak RSS {fig['peak_rss_bytes'] / 2**20:.0f} MiB; "
                        f"requests {c['total']} ({c['per_shard']} a shard): {c['by_method_kind']}")
            finally:
                proxy.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result["verdict"] = verdict(result["phases"], n, result["footer_sample"])
    result["total_seconds"] = round(time.perf_counter() - t_all, 1)
    result["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {out_json}: {result['verdict']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
