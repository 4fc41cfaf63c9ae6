"""Real Ray jobs: submit jobs.score to a local cluster through the job server, poll, check output.

The cluster (``ray start --head`` on loopback, tests/servers.py) runs the same venv, where al_ray is
installed editable; the job's working_dir is a temp copy of jobs/ only, with the env_vars and
excludes of cluster/runtime_env.yaml, exactly as `ray job submit --working-dir . --runtime-env
cluster/runtime_env.yaml` would send them.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from al_ray import storage
from jobs.common import parse_summary_line

REPO = Path(__file__).resolve().parents[2]
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


@pytest.fixture(scope="module")
def job_client(ray_cluster):
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(ray_cluster.dashboard_url)


@pytest.fixture(scope="module")
def runtime_env(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("job_workdir")
    shutil.copytree(REPO / "jobs", workdir / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    env = yaml.safe_load((REPO / "cluster" / "runtime_env.yaml").read_text())
    return {"working_dir": str(workdir), **env}


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("corpus")
    texts = ["have a lovely day", "you are a worthless idiot", "thanks for the help", "I hate you, moron"]
    for s in range(3):
        n = 10 + s
        table = pa.table({"id": [f"s{s}-{i}" for i in range(n)], "text": [texts[(i + s) % 4] for i in range(n)]})
        storage.write_parquet_atomic(table, str(root / f"part-{s:04d}.parquet"))
    return str(root)


@pytest.fixture(scope="module")
def scoring_yaml(tmp_path_factory, minilm_classifier_dir) -> str:
    path = tmp_path_factory.mktemp("cfg") / "scoring.yaml"
    path.write_text(yaml.safe_dump({
        "task": {"name": "violating", "labels": ["neither", "violating"]},
        "model": str(minilm_classifier_dir),
        "mode": "classifier",
        "backend": "vllm",
        "workers": 1,
        "batch_rows": 64,
    }))
    return str(path)


def wait_for(client, job_id: str, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get_job_status(job_id).value  # JobStatus is a str Enum
        if status in TERMINAL:
            return status
        time.sleep(1.0)
    client.stop_job(job_id)
    raise TimeoutError(f"job {job_id} still running after {timeout}s:\n{client.get_job_logs(job_id)[-3000:]}")


@pytest.mark.slow
def test_score_job_succeeds_and_reports_a_summary(job_client, runtime_env, small_corpus, scoring_yaml, tmp_path):
    out = tmp_path / "scores"
    job_id = job_client.submit_job(
        entrypoint=f"{sys.executable} -m jobs.score --config {scoring_yaml} --corpus {small_corpus} "
                   f"--out {out} --no-progress",
        runtime_env=runtime_env,
    )
    status = wait_for(job_client, job_id)
    logs = job_client.get_job_logs(job_id)
    assert status == "SUCCEEDED", logs[-4000:]
    doc = parse_summary_line(logs)
    assert doc is not None, logs[-4000:]
    assert doc["job"] == "score" and doc["exit_code"] == 0 and doc["status"] == "succeeded"
    assert doc["submission_id"] == job_id
    assert doc["result"]["rows_scored"] == 10 + 11 + 12 and doc["result"]["shards_scored"] == 3
    assert doc["result"]["failed_shards"] == []
    written = json.loads((out / "_job_summary_score.json").read_text())
    assert written == doc
    scores = sorted(p.name for p in out.glob("*.parquet"))
    assert scores == [f"part-{s:04d}.parquet" for s in range(3)]
    assert all((out / f"{name}.done").exists() for name in scores)
    assert job_client.get_job_info(job_id).driver_exit_code == 0


@pytest.mark.slow
def test_job_with_a_bad_corpus_fails_with_exit_2(job_client, runtime_env, scoring_yaml, tmp_path):
    missing = tmp_path / "no-such-corpus"
    job_id = job_client.submit_job(
        entrypoint=f"{sys.executable} -m jobs.score --config {scoring_yaml} --corpus {missing} "
                   f"--out {tmp_path / 'scores'}",
        runtime_env=runtime_env,
    )
    status = wait_for(job_client, job_id, timeout=120)
    logs = job_client.get_job_logs(job_id)
    assert status == "FAILED", logs
    assert "corpus does not exist" in logs and "no-such-corpus" in logs
    doc = parse_summary_line(logs)
    assert doc["exit_code"] == 2 and doc["status"] == "bad_input" and doc["error"]["type"] == "InputError"
    info = job_client.get_job_info(job_id)
    assert info.driver_exit_code == 2
