"""Processes killed mid-job: the `al-ray score` driver (then rerun), and the vLLM engine process
inside a scoring actor. (A whole actor SIGKILLed mid-shard is tests/scoring/test_job.py's
``killed_job``; a SIGKILLed `al-ray run` round is tests/driver/test_resume.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from al_ray.scoring.job import run_scoring
from al_ray.testing import invariants
from al_ray.testing.faults import descendants, write_corpus_local
from tests.scoring.conftest import clf_config

pytestmark = pytest.mark.slow


def _running(pid: int) -> bool:
    """Alive and not a zombie."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _done_count(out: Path) -> int:
    return len(list(out.rglob("*.parquet.done"))) if out.exists() else 0


def test_cli_driver_sigkilled_mid_job_then_rerun(ray_cluster, tmp_path, minilm_classifier_dir):
    corpus, out = tmp_path / "corpus", tmp_path / "out"
    expected = write_corpus_local(corpus, n_shards=4, rows=400)
    cmd = [sys.executable, "-m", "al_ray.cli", "score", "--model", str(minilm_classifier_dir), "--corpus",
           str(corpus), "--out", str(out), "--mode", "classifier", "--backend", "transformers", "--workers", "1",
           "--max-tokens", "64", "--dtype", "float32", "--batch-rows", "32", "--no-progress"]
    env = dict(os.environ, RAY_ADDRESS=ray_cluster.address)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None and _done_count(out) < 1:
        time.sleep(0.05)
    assert proc.poll() is None, "the job finished before it could be killed:\n" + proc.stdout.read()[-2000:]
    done_at_kill = _done_count(out)
    assert 1 <= done_at_kill < 4
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI process only: Ray reaps the actors it owned
    proc.wait()
    t_kill = time.monotonic()
    # what a reader sees right after the crash: only complete, marked files
    started = json.loads((out / "_summary.json").read_text())  # written before any engine started
    assert started["started_at"] and not started["finished_at"]
    for p in out.rglob("*.parquet"):
        assert not p.name.startswith("."), p

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    recover_s = time.monotonic() - t_kill
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"({done_at_kill} already done)" in rerun.stderr, rerun.stderr[-2000:]
    res = invariants.assert_invariant(str(corpus), str(out), expected=expected)
    assert (res.rows_in, res.rows_out, res.lost, res.duplicated) == (1600, 1600, 0, 0)
    assert recover_s < 300


@pytest.fixture(scope="module")
def engine_killed_job(ray_cluster, tmp_path_factory, minilm_classifier_dir):
    """A vLLM classifier job whose actor's EngineCore process is SIGKILLed while it scores."""
    from ray.util.state import list_actors

    root = tmp_path_factory.mktemp("engine_kill")
    corpus, out = root / "corpus", root / "out"
    expected = write_corpus_local(corpus, n_shards=4, rows=3000)
    cfg = clf_config(minilm_classifier_dir, backend="vllm", workers=1, batch_rows=64, max_shard_attempts=3,
                     max_actor_restarts=2, engine_process="separate")  # an EngineCore process to kill
    result: dict = {}

    def job() -> None:
        try:
            result["summary"] = run_scoring(cfg, str(corpus), str(out), progress=False)
        except BaseException as exc:  # surfaced by the test
            result["error"] = exc

    t = threading.Thread(target=job, daemon=True)
    t.start()
    killed: dict = {}
    actor_pid = None
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and t.is_alive() and actor_pid is None:  # the actor, as soon as it exists
        alive = list_actors(filters=[("class_name", "=", "ScoringWorker"), ("state", "=", "ALIVE")])
        actor_pid = alive[0].pid if alive else None
        time.sleep(0.2)
    while time.monotonic() < deadline and t.is_alive() and not killed:
        if _done_count(out) >= 1:  # mid-job: one shard published, the others queued or in flight
            family = descendants(actor_pid)
            engines = [p for p, n in family if "EngineCor" in n]
            for p in engines:
                os.kill(p, signal.SIGKILL)
            if not engines:  # not found under the pid we knew: ask Ray again
                alive = list_actors(filters=[("class_name", "=", "ScoringWorker"), ("state", "=", "ALIVE")])
                actor_pid = alive[0].pid if alive else actor_pid
            if engines:
                killed = {"actor_pid": actor_pid, "engine_pids": engines, "family": [p for p, _ in family],
                          "done_at_kill": _done_count(out), "at": time.monotonic()}
        time.sleep(0.01)
    t.join(timeout=600)
    logs = []  # what the actors said (for the failure message)
    for f in Path(ray_cluster.temp_dir).glob("session_latest/logs/worker-*.err"):
        text = f.read_text(errors="replace")
        if "ScoringWorker" in text:
            logs += [ln for ln in text.splitlines() if any(w in ln for w in ("Error", "died", "Dead", "restart"))]
    if os.environ.get("AL_RAY_FAULT_DIAG"):
        with open(os.environ["AL_RAY_FAULT_DIAG"], "w") as fh:
            s = result.get("summary")
            fh.write((s.model_dump_json(indent=1) if s else repr(result)) + "\n" + repr(killed) + "\n")
            for f in Path(ray_cluster.temp_dir).glob("session_latest/logs/worker-*"):
                text = f.read_text(errors="replace")
                if "ScoringWorker" in text or "EngineCore" in text:
                    fh.write(f"===== {f.name}\n" + "\n".join(ln for ln in text.splitlines()
                                                          if "Triton" not in ln and "Warning" not in ln)[-6000:] + "\n")
    return {"result": result, "killed": killed, "corpus": corpus, "out": out, "expected": expected,
            "finished": time.monotonic(), "logs": logs[-30:]}


def test_engine_process_killed_inside_actor(engine_killed_job):
    job = engine_killed_job
    assert job["killed"], "no EngineCore process was found/killed (job too fast?)"
    assert "error" not in job["result"], job["result"].get("error")
    s = job["result"]["summary"]
    assert s.ok, (s.failed_shards, job["killed"], "\n".join(job["logs"]))
    assert s.shards_scored + s.shards_skipped_done == 4
    # the actor whose engine died started a fresh one instead of failing every later shard
    assert any("scoring engine died" in ln and "restarting the engine" in ln for ln in job["logs"]), job["logs"]
    assert job["killed"]["done_at_kill"] < 4
    res = invariants.assert_invariant(str(job["corpus"]), str(job["out"]), expected=job["expected"])
    assert (res.rows_in, res.rows_out, res.lost, res.duplicated) == (12000, 12000, 0, 0)
    # nothing of the dead engine (EngineCore, its executor workers) outlives the job
    deadline = time.monotonic() + 30
    left = job["killed"]["family"]
    while left and time.monotonic() < deadline:
        left = [p for p in left if _running(p)]
        time.sleep(0.5)
    assert not left, f"processes of the killed engine survived: {left}"


def test_the_only_actor_sigkilled_mid_job_is_restarted(ray_cluster, tmp_path, minilm_classifier_dir):
    """workers=1: nobody else can take the shards over, so Ray must restart the actor and the driver
    must wait for it (tests/scoring/test_job.py kills one of two vLLM actors)."""
    from ray.util.state import list_actors

    from al_ray.testing.faults import fast_config

    corpus, out = tmp_path / "corpus", tmp_path / "out"
    expected = write_corpus_local(corpus, n_shards=4, rows=600)
    cfg = fast_config(minilm_classifier_dir, batch_rows=32, max_shard_attempts=3, max_actor_restarts=2)
    result: dict = {}
    t = threading.Thread(target=lambda: result.update(s=run_scoring(cfg, str(corpus), str(out), progress=False)),
                         daemon=True)
    t.start()
    pid = None
    deadline = time.monotonic() + 300
    while pid is None and t.is_alive() and time.monotonic() < deadline:
        alive = list_actors(filters=[("class_name", "=", "ScoringWorker"), ("state", "=", "ALIVE")])
        pid = alive[0].pid if alive else None
        time.sleep(0.1)
    while t.is_alive() and _done_count(out) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert t.is_alive() and _done_count(out) < 4, "the job finished before the kill"
    os.kill(pid, signal.SIGKILL)
    t.join(timeout=400)
    s = result["s"]
    assert s.ok, s.failed_shards
    assert s.actor_restarts >= 1
    res = invariants.assert_invariant(str(corpus), str(out), expected=expected)
    assert (res.rows_in, res.rows_out, res.lost, res.duplicated) == (2400, 2400, 0, 0)
