"""End-to-end scoring jobs: real Ray actors with real engines, S3 via moto, faults, resume, bad input, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from al_ray import storage
from al_ray.errors import InputError
from al_ray.schemas import score_schema
from al_ray.scoring.job import run_scoring
from al_ray.task import TaskConfig
from tests.scoring.conftest import clf_config, gen_config, make_texts, write_shard, write_shard_fs

pytestmark = pytest.mark.slow


def _scores(out: str, so=None) -> pa.Table:
    files = [fi.url for fi in storage.list_files(out, ".parquet", so)]
    return pa.concat_tables([storage.read_parquet(u, so) for u in files])


def _engine_children(pid: int) -> list[int]:
    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


@pytest.fixture(scope="module")
def killed_job(ray_cluster, s3, tiny_llama_dir):
    """Corpus and model on S3; 2 vLLM actors; one actor SIGKILLed while it holds shards."""
    import ray
    from ray.util.state import list_actors

    so = s3.storage_options
    bucket = s3.create_bucket("scoring-kill")
    fs = s3.filesystem()
    fs.put(str(tiny_llama_dir) + "/", f"{bucket[5:]}/models/tiny/", recursive=True)
    n_per, ids = 6000, []  # large enough that a kill lands mid-job even with fast float32 engines
    for k in range(4):
        shard_ids = [f"doc-{k}-{i}" for i in range(n_per)]
        ids += shard_ids
        write_shard_fs(fs, f"{bucket[5:]}/corpus/part-{k}.parquet", shard_ids, make_texts(n_per, k))
    # engine_process="separate": vLLM's own EngineCore children, so the test can also check that they
    # die with their actor (the GPU default; on CPU the engine runs inline, inside the actor)
    cfg = gen_config(f"{bucket}/models/tiny", workers=2, storage_options=so, max_actor_restarts=1,
                     model_cache_dir=str(Path(ray_cluster.temp_dir) / "model_cache"), batch_rows=256,
                     engine_process="separate")
    out = f"{bucket}/scores"
    result: dict = {}
    t = threading.Thread(target=lambda: result.update(summary=run_scoring(cfg, f"{bucket}/corpus", out, progress=False)))
    t.start()
    killed = {}
    deadline = time.time() + 400
    while time.time() < deadline and t.is_alive() and not killed:
        fs.invalidate_cache()  # the job writes through other clients; never trust a cached listing
        done = [fi for fi in storage.list_files(out, ".done", so)] if fs.exists(f"{bucket[5:]}/scores") else []
        if done:
            actors = [a for a in list_actors(filters=[("class_name", "=", "ScoringWorker"), ("state", "=", "ALIVE")])]
            # kill the actor that did not just finish a shard... any alive one still holding work will do
            victim = actors[-1]
            pid = victim.pid
            killed = {"pid": pid, "children": _engine_children(pid)}
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    t.join(timeout=600)
    assert "summary" in result, "job did not finish"
    return {"summary": result["summary"], "out": out, "so": so, "ids": ids, "killed": killed, "bucket": bucket,
            "cfg": cfg}


def test_kill_actor_each_id_exactly_once(killed_job):
    s, out, so = killed_job["summary"], killed_job["out"], killed_job["so"]
    assert killed_job["killed"], "no actor was killed (job too fast?)"
    assert s.ok, s.failed_shards
    assert s.shards_scored == 4 and s.rows_scored == len(killed_job["ids"])
    table = _scores(out, so)
    assert table.schema.equals(score_schema(["safe", "unsafe"]))
    got = table.column("id").to_pylist()
    assert sorted(got) == sorted(killed_job["ids"])  # each input id exactly once
    summary = storage.read_json(f"{out}/_summary.json", so)
    assert summary["rows_scored"] == len(got) and summary["rows_per_s"] > 0
    assert s.duplicate_ids.count == 0
    assert "secret" not in json.dumps(summary)


def test_engine_core_processes_do_not_outlive_their_actor(killed_job):
    children = killed_job["killed"]["children"]
    assert children, "the killed actor had no EngineCore child processes"
    deadline = time.time() + 30
    while time.time() < deadline and any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"
                                         for p in children):
        time.sleep(0.5)
    alive = [p for p in children if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert not alive, f"EngineCore processes outlived their actor: {alive}"


def test_all_engine_processes_gone_after_job(killed_job, ray_cluster):
    """After the job: every ScoringWorker is DEAD and no VLLM process survives under this cluster."""
    from ray.util.state import list_actors

    pids = []
    for a in list_actors(filters=[("class_name", "=", "ScoringWorker")]):
        assert a.state == "DEAD"
        pids.append(a.pid)

    def leftovers() -> list[str]:
        found = []
        for pid in filter(None, pids):
            try:
                p = psutil.Process(pid)
                if p.status() == "zombie":
                    continue
                names = [p.name()] + [c.name() for c in p.children(recursive=True)]
                found += [f"{pid}:{n}" for n in names if "ScoringWor" in n or "VLLM" in n]
            except psutil.NoSuchProcess:
                pass
        return found

    deadline = time.time() + 60
    while leftovers() and time.time() < deadline:
        time.sleep(1)
    assert not leftovers()


def test_resume_skips_done_and_rescores_only_unmarked(killed_job, tiny_llama_dir):
    out, so, bucket = killed_job["out"], killed_job["so"], killed_job["bucket"]
    cfg = killed_job["cfg"].model_copy(update={"backend": "transformers", "model": str(tiny_llama_dir), "workers": 1})
    again = run_scoring(cfg, f"{bucket}/corpus", out, progress=False)
    assert again.shards_scored == 0 and again.shards_skipped_done == 4 and again.ok
    before = {u: storage.read_json(u, so) for u in [fi.url for fi in storage.list_files(out, ".done", so)]}
    storage.remove(f"{out}/part-2.parquet.done", so)
    third = run_scoring(cfg, f"{bucket}/corpus", out, progress=False)
    assert third.shards_scored == 1 and third.shards_skipped_done == 3
    table = storage.read_parquet(f"{out}/part-2.parquet", so)
    assert table.num_rows == len(killed_job["ids"]) // 4 and set(table.column("shard").to_pylist()) == {f"{bucket}/corpus/part-2.parquet"}
    assert sorted(_scores(out, so).column("id").to_pylist()) == sorted(killed_job["ids"])
    # forced rescoring of a subset (nightly incremental)
    forced = run_scoring(cfg, f"{bucket}/corpus", out, shards=[f"{bucket}/corpus/part-0.parquet"], rescore=True,
                         progress=False)
    assert forced.shards_scored == 1 and forced.shards_total == 1
    assert before  # markers existed before


def test_missing_column_fails_before_any_work(ray_cluster, tmp_path, minilm_classifier_dir):
    write_shard(tmp_path / "c" / "a.parquet", ["1", "2"], ["x", "y"])
    pq.write_table(pa.table({"id": ["3"], "content": ["z"]}), tmp_path / "c" / "b.parquet")
    with pytest.raises(InputError, match=r"b\.parquet.*missing text column 'text'"):
        run_scoring(clf_config(minilm_classifier_dir, backend="transformers"), str(tmp_path / "c"),
                    str(tmp_path / "out"), progress=False)
    assert not (tmp_path / "out").exists()


def test_bad_input_quarantine_empty_duplicates(ray_cluster, tmp_path, minilm_classifier_dir):
    c = tmp_path / "corpus"
    write_shard(c / "good.parquet", [f"g{i}" for i in range(50)], make_texts(50, 1))
    write_shard(c / "nulls.parquet", ["n0", "n1", "n2", None, "g3"], ["hello", None, "", "no id", "dup of g3"])
    # invalid UTF-8 bytes stored in a *string* column
    bad = pa.Array.from_buffers(pa.string(), 2, [None, pa.py_buffer(b"\x00\x00\x00\x00\x02\x00\x00\x00\x04\x00\x00\x00"),
                                                 pa.py_buffer(b"ok\xff\xfe")], null_count=0)
    pq.write_table(pa.table({"id": ["u0", "u1"], "text": bad}), c / "badutf8.parquet")
    (c / "corrupt.parquet").write_bytes(b"PAR1" + b"\x00" * 100 + b"PAR1")
    write_shard(c / "sub" / "long.parquet", ["l0"], ["word " * 500])
    out = tmp_path / "out"
    s = run_scoring(clf_config(minilm_classifier_dir, backend="transformers"), str(c), str(out), progress=False)
    assert not s.ok
    kinds = {Path(f.shard).name: f for f in s.failed_shards}
    assert set(kinds) == {"badutf8.parquet", "corrupt.parquet"}
    assert "UTF-8" in kinds["badutf8.parquet"].reason and kinds["badutf8.parquet"].kind == "quarantined"
    assert "unreadable" in kinds["corrupt.parquet"].reason
    assert s.shards_scored == 3 and s.rows_scored == 50 + 4 + 1
    assert s.rows_empty_text == 2 and s.rows_skipped == 1 and s.rows_truncated == 1
    nulls = pq.read_table(out / "nulls.parquet").to_pydict()
    assert nulls["id"] == ["n0", "n1", "n2", "g3"] and nulls["empty_text"] == [False, True, True, False]
    assert nulls["row"] == [0, 1, 2, 4]
    assert pq.read_table(out / "sub" / "long.parquet").column("truncated").to_pylist() == [True]
    assert s.duplicate_ids.count == 1 and s.duplicate_ids.examples[0]["id"] == "g3"
    assert sorted(s.duplicate_ids.examples[0]["shards"]) == ["good.parquet", "nulls.parquet"]
    assert not (out / "badutf8.parquet").exists() and not (out / "corrupt.parquet.done").exists()
    summary = json.loads((out / "_summary.json").read_text())
    assert len(summary["failed_shards"]) == 2 and summary["duplicate_ids"]["count"] == 1


def test_derived_ids_without_id_column(ray_cluster, tmp_path, minilm_classifier_dir):
    write_shard(tmp_path / "c" / "x" / "a.parquet", ["ignored"] * 3, ["a", "b", "c"])
    cfg = clf_config(minilm_classifier_dir, backend="transformers",
                     task=TaskConfig(labels=["neither", "violating"], id_column=None), calibration="batch")
    s = run_scoring(cfg, str(tmp_path / "c"), str(tmp_path / "o"), progress=False)
    assert s.ok
    assert pq.read_table(tmp_path / "o" / "x" / "a.parquet").column("id").to_pylist() == ["x/a.parquet:0",
                                                                                           "x/a.parquet:1",
                                                                                           "x/a.parquet:2"]


def test_cli_vllm_classifier_labels_from_checkpoint(ray_cluster, tmp_path, minilm_classifier_dir):
    c = tmp_path / "corpus"
    for k in range(2):
        write_shard(c / f"p{k}.parquet", [f"{k}-{i}" for i in range(100)], make_texts(100, 10 + k))
    out = tmp_path / "out"
    env = dict(os.environ, RAY_ADDRESS=ray_cluster.address)
    cmd = [sys.executable, "-m", "al_ray.cli", "score", "--model", str(minilm_classifier_dir), "--corpus", str(c),
           "--out", str(out), "--mode", "classifier", "--workers", "1", "--max-tokens", "64", "--dtype", "float32"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rows/s" in proc.stderr and "scored 200 rows" in proc.stderr
    summary = json.loads((out / "_summary.json").read_text())
    assert summary["labels"] == ["neither", "violating"] and summary["rows_scored"] == 200
    assert summary["mode"] == "classifier"
    # a corrupt shard: every other shard is written, exit code non-zero
    (c / "zz_corrupt.parquet").write_bytes(b"garbage")
    proc = subprocess.run(cmd + ["--backend", "transformers", "--no-progress"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "zz_corrupt.parquet" in proc.stderr
    # a missing column: clean one-line error, exit 2
    pq.write_table(pa.table({"id": ["1"]}), c / "zz_nocol.parquet")
    proc = subprocess.run(cmd + ["--backend", "transformers"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "missing text column 'text'" in proc.stderr
