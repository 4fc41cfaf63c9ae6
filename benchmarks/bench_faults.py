"""Fault-injection record: run each fault scenario once on a small corpus and check no row is lost.

For every scenario: rows in, rows out, rows quarantined (each with a recorded reason), rows lost,
rows duplicated, and the time to recover:
- transient storage faults: the extra wall time over the same job without faults;
- kills: from the kill to the job's (or the rerun's) completion;
- permanent failures / full disk: the rerun that completes the job once the fault is gone;
- refusals (unwritable output): the time until the clear error.

Everything runs on this machine: moto's S3 server behind the fault-injecting proxy of
al_ray/testing/s3_proxy.py, a local Ray instance, the MiniLM zero-shot classifier (transformers
backend; vLLM for the engine-kill scenario). Writes benchmarks/results/faults.json.

    python -m benchmarks.bench_faults            # ~5-10 min on 2 cores
    python -m benchmarks.bench_faults --skip-vllm
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.common import provenance

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ["RAY_AUTH_MODE"] = "disabled"

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"


def _row(scenario: str, outcome, seconds_to_recover: float | None, **extra) -> dict:
    d = {"scenario": scenario, "rows_in": outcome.rows_in, "rows_out": outcome.rows_out,
         "quarantined": outcome.quarantined, "lost": outcome.lost, "duplicated": outcome.duplicated,
         "seconds_to_recover": None if seconds_to_recover is None else round(seconds_to_recover, 2),
         "invariant_ok": not outcome.problems and outcome.rows_out + outcome.quarantined == outcome.rows_in}
    d.update(extra)
    if outcome.problems:
        d["problems"] = outcome.problems[:5]
    print(json.dumps(d), flush=True)
    return d


def _wait_for_done(out: Path | str, fs=None, deadline_s: float = 300, thread=None, n: int = 1) -> bool:
    t_end = time.monotonic() + deadline_s
    while time.monotonic() < t_end and (thread is None or thread.is_alive()):
        if fs is None:
            got = len(list(Path(out).rglob("*.parquet.done"))) if Path(out).exists() else 0
        else:
            fs.invalidate_cache()
            got = len(fs.glob(f"{str(out)[5:]}/*.done"))
        if got >= n:
            return True
        time.sleep(0.03)
    return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=250, help="rows per shard")
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--skip-vllm", action="store_true", help="skip the vLLM engine-kill scenario")
    ap.add_argument("--out", default=str(RESULTS / "faults.json"))
    args = ap.parse_args()

    import pyarrow as pa
    import pyarrow.parquet as pq
    import ray
    from ray.util.state import list_actors

    from al_ray.errors import StorageError
    from al_ray.models import build_zero_shot_classifier
    from al_ray.scoring.job import run_scoring
    from al_ray.testing import invariants
    from al_ray.testing.faults import (descendants, fast_config, fill_disk, proxied_options,
                                       write_corpus_local, write_corpus_s3)
    from al_ray.testing.s3_proxy import FaultProxy
    from al_ray.testing.servers import free_port, moto_server

    work = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    rows: list[dict] = []
    t_all = time.perf_counter()
    model = build_zero_shot_classifier(work / "minilm", labels=["neither", "violating"],
                                       descriptions={"neither": "a friendly, harmless everyday message",
                                                     "violating": "an abusive, offensive or hateful insult"})
    R, N = args.rows, args.shards
    ray.init(address="local", num_cpus=4, include_dashboard=True, dashboard_host="127.0.0.1", dashboard_port=free_port(),
             logging_level="warning", log_to_driver=False)
    os.environ["RAY_ADDRESS"] = ray.get_runtime_context().gcs_address  # state API + the CLI scenario
    try:
        with moto_server() as s3:
            proxy = FaultProxy(s3.endpoint_url)
            so = proxied_options(s3, proxy, max_attempts=4)
            direct = s3.storage_options
            seq = iter(range(1000))

            def bucket(stem: str) -> str:
                return s3.create_bucket(f"bench-{stem}-{next(seq)}")

            def timed(cfg, corpus, out, **kw):
                t0 = time.perf_counter()
                s = run_scoring(cfg, corpus, out, progress=False, **kw)
                return s, time.perf_counter() - t0

            cfg_s3 = fast_config(model, storage_options=so)
            # 1. clean (baseline for the retry overhead)
            b = bucket("clean")
            exp = write_corpus_s3(s3, f"{b}/corpus", N, R)
            s, clean_s = timed(cfg_s3, f"{b}/corpus", f"{b}/scores")
            rows.append(_row("clean run (S3 via proxy, no faults)", invariants.check(f"{b}/corpus", f"{b}/scores", direct, expected=exp), 0.0, job_seconds=round(clean_s, 2)))

            # 2. transient faults: 503 SlowDown, 500, dropped connections, a 5 s stall (> 3 s read timeout), PUT 500
            b = bucket("transient")
            exp = write_corpus_s3(s3, f"{b}/corpus", N, R)
            k = b[5:]
            proxy.reset()
            proxy.add("status", key=rf"/{k}/corpus/part-0\.parquet$", method="GET", times=3, status=503, code="SlowDown")
            proxy.add("status", key=rf"/{k}/corpus/part-1\.parquet$", method="GET", times=2, status=500, code="InternalError")
            proxy.add("drop", key=rf"/{k}/corpus/part-2\.parquet$", method="GET", times=2)
            proxy.add("delay", key=rf"/{k}/corpus/part-3\.parquet$", method="GET", times=1, seconds=5)
            proxy.add("status", key=rf"/{k}/scores/part-0\.parquet$", method="PUT", times=1, status=500, code="InternalError")
            proxy.add("status", key=rf"/{k}/scores/.*\.done$", method="PUT", times=2, status=503, code="SlowDown")
            s, t = timed(cfg_s3, f"{b}/corpus", f"{b}/scores")
            rows.append(_row("S3 transient 5xx/timeouts/drops (retried)", invariants.check(f"{b}/corpus", f"{b}/scores", direct, expected=exp),
                             max(t - clean_s, 0.0), job_seconds=round(t, 2), faults_injected=len(proxy.injected()),
                             job_ok=s.ok))

            # 3. permanent read failure of one shard, then the store recovers
            b = bucket("permread")
            exp = write_corpus_s3(s3, f"{b}/corpus", N, R)
            proxy.reset()
            proxy.add("status", key=rf"/{b[5:]}/corpus/part-1\.parquet$", method="GET", times=None, status=500, code="InternalError")
            s, t = timed(cfg_s3, f"{b}/corpus", f"{b}/scores")
            o = invariants.check(f"{b}/corpus", f"{b}/scores", direct, expected=exp)
            reason = s.failed_shards[0].reason if s.failed_shards else ""
            proxy.reset()
            s2, t2 = timed(cfg_s3, f"{b}/corpus", f"{b}/scores")
            o2 = invariants.check(f"{b}/corpus", f"{b}/scores", direct, expected=exp)
            rows.append(_row("S3 permanent GET 500 on one shard", o, t2, job_seconds=round(t, 2), reason=reason,
                             after_rerun={"rows_out": o2.rows_out, "lost": o2.lost, "duplicated": o2.duplicated}))

            # 4. permanent write failure of one score file
            b = bucket("permwrite")
            exp = write_corpus_s3(s3, f"{b}/corpus", N, R)
            proxy.reset()
            proxy.add("status", key=rf"/{b[5:]}/scores/part-2\.parquet$", method="PUT", times=None, status=500, code="InternalError")
            s, t = timed(cfg_s3, f"{b}/corpus", f"{b}/scores")
            o = invariants.check(f"{b}/corpus", f"{b}/scores", direct, expected=exp)
            reason = s.failed_shards[0].reason[:400] if s.failed_shards else ""
            proxy.reset()
            s2, t2 = timed(cfg_s3, f"{b}/corpus", f"{b}/scores")
            o2 = invariants.check(f"{b}/corpus", f"{b}/scores", direct, expected=exp)
            rows.append(_row("S3 permanent PUT 500 on one score file", o, t2, job_seconds=round(t, 2), reason=reason,
                             after_rerun={"rows_out": o2.rows_out, "lost": o2.lost, "duplicated": o2.duplicated}))
            proxy.close()

        # 5. a scoring actor SIGKILLed mid-shard (local files)
        corpus, out = work / "kill" / "corpus", work / "kill" / "out"
        exp = write_corpus_local(corpus, N, R * 2)
        cfg = fast_config(model, batch_rows=32, max_shard_attempts=3)
        res: dict = {}
        th = threading.Thread(target=lambda: res.update(s=run_scoring(cfg, str(corpus), str(out), progress=False)))
        th.start()
        _wait_for_done(out, thread=th)
        actors = list_actors(filters=[("class_name", "=", "ScoringWorker"), ("state", "=", "ALIVE")])
        t_kill = time.perf_counter()
        killed = bool(actors)
        if actors:
            os.kill(actors[0].pid, signal.SIGKILL)
        th.join()
        rec = time.perf_counter() - t_kill
        rows.append(_row("scoring actor SIGKILLed mid-job", invariants.check(str(corpus), str(out), expected=exp),
                         rec if killed else None, killed=killed, actor_restarts=res["s"].actor_restarts))

        # 6. the vLLM EngineCore process inside an actor SIGKILLed
        if not args.skip_vllm:
            corpus, out = work / "engine" / "corpus", work / "engine" / "out"
            exp = write_corpus_local(corpus, N, 1500)
            cfg = fast_config(model, backend="vllm", batch_rows=64, max_shard_attempts=3)
            res = {}
            th = threading.Thread(target=lambda: res.update(s=run_scoring(cfg, str(corpus), str(out), progress=False)))
            th.start()
            _wait_for_done(out, thread=th, deadline_s=600)
            t_kill, killed = time.perf_counter(), False
            for a in list_actors(filters=[("class_name", "=", "ScoringWorker"), ("state", "=", "ALIVE")]):
                for p, name in descendants(a.pid):
                    if "EngineCore" in name or "VLLM" in name:
                        os.kill(p, signal.SIGKILL)
                        killed = True
            th.join()
            rec = time.perf_counter() - t_kill
            rows.append(_row("vLLM EngineCore process SIGKILLed inside an actor",
                             invariants.check(str(corpus), str(out), expected=exp), rec if killed else None,
                             killed=killed, job_ok=res["s"].ok))

        # 7. the `al-ray score` driver SIGKILLed mid-job, then rerun
        corpus, out = work / "driver" / "corpus", work / "driver" / "out"
        exp = write_corpus_local(corpus, N, R * 2)
        env = dict(os.environ, RAY_ADDRESS=ray.get_runtime_context().gcs_address)
        cmd = [sys.executable, "-m", "al_ray.cli", "score", "--model", str(model), "--corpus", str(corpus), "--out",
               str(out), "--mode", "classifier", "--backend", "transformers", "--workers", "1", "--max-tokens", "64",
               "--batch-rows", "32", "--no-progress"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True, cwd=ROOT)
        t_end = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < t_end and not _wait_for_done(out, deadline_s=0.05):
            pass
        killed = proc.poll() is None
        if killed:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        t_kill = time.perf_counter()
        rc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT).returncode
        rec = time.perf_counter() - t_kill
        rows.append(_row("`al-ray score` driver SIGKILLed, rerun", invariants.check(str(corpus), str(out), expected=exp),
                         rec if killed else None, killed=killed, rerun_exit_code=rc))

        # 8. disk fills up mid-job (a 1 MiB tmpfs, when this process may mount one)
        mnt = work / "disk"
        mnt.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True).returncode == 0:
            try:
                corpus, out = work / "full" / "corpus", mnt / "scores"
                exp = write_corpus_local(corpus, N, R * 2)
                cfg = fast_config(model, batch_rows=32)
                res = {}

                def job():
                    try:
                        res["s"] = run_scoring(cfg, str(corpus), str(out), progress=False)
                    except StorageError as exc:
                        res["error"] = str(exc)

                th = threading.Thread(target=job)
                th.start()
                _wait_for_done(out, thread=th)
                fill_disk(mnt / "filler")
                th.join()
                done = {str(corpus / p.name[: -len(".done")]) for p in out.glob("*.done")}
                o = invariants.check(str(corpus), str(out), expected=exp,
                                     summary={"failed_shards": [{"shard": s, "reason": "disk full"} for s in exp
                                                                if s not in done]})
                (mnt / "filler").unlink()
                t0 = time.perf_counter()
                s2 = run_scoring(cfg, str(corpus), str(out), progress=False)
                rec = time.perf_counter() - t0
                o2 = invariants.check(str(corpus), str(out), expected=exp)
                rows.append(_row("disk full mid-job (tmpfs), space freed, rerun", o, rec,
                                 error=res.get("error", "")[:200], rerun_ok=s2.ok,
                                 after_rerun={"rows_out": o2.rows_out, "lost": o2.lost, "duplicated": o2.duplicated}))
            finally:
                subprocess.run(["umount", "-l", str(mnt)], check=False)

        # 9. bad input: empty file, garbage, truncated, invalid UTF-8, null ids next to good shards
        corpus, out = work / "bad" / "corpus", work / "bad" / "out"
        write_corpus_local(corpus, 2, R)
        (corpus / "empty.parquet").write_bytes(b"")
        (corpus / "garbage.parquet").write_bytes(random.Random(0).randbytes(4096))
        good = corpus / "part-0.parquet"
        (corpus / "truncated.parquet").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
        bad = pa.Array.from_buffers(pa.string(), 2, [None, pa.py_buffer(b"\x00\x00\x00\x00\x02\x00\x00\x00\x04\x00\x00\x00"),
                                                     pa.py_buffer(b"ok\xff\xfe")], null_count=0)
        pq.write_table(pa.table({"id": ["u0", "u1"], "text": bad}), corpus / "bad_utf8.parquet")
        pq.write_table(pa.table({"id": ["n0", None, "n2"], "text": ["a", "b", "c"]}), corpus / "null_ids.parquet")
        s, t = timed(fast_config(model), str(corpus), str(out))
        rows.append(_row("bad input shards (empty, garbage, truncated, bad UTF-8, null ids)",
                         invariants.check(str(corpus), str(out)), None, job_seconds=round(t, 2),
                         failed_shards=len(s.failed_shards), rows_skipped_null_id=s.rows_skipped))

        # 10. output not writable: refused before any engine starts
        blocker = work / "a-file"
        blocker.write_text("x")
        t0 = time.perf_counter()
        try:
            run_scoring(fast_config(model), str(work / "bad" / "corpus"), str(blocker / "out"), progress=False)
            msg = ""
        except StorageError as exc:
            msg = str(exc)
        t_err = time.perf_counter() - t0
        print(json.dumps({"scenario": "output not writable", "seconds_to_error": round(t_err, 2), "error": msg}))
        rows.append({"scenario": "output location not writable (refused up front)", "rows_in": None, "rows_out": 0,
                     "quarantined": 0, "lost": 0, "duplicated": 0, "seconds_to_recover": None,
                     "seconds_to_clear_error": round(t_err, 2), "error": msg, "invariant_ok": bool(msg)})
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)

    result = {"benchmark": "faults", **provenance(),
              "rows_per_shard": R, "shards": N, "total_seconds": round(time.perf_counter() - t_all, 1), "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
