"""Entry-point plumbing without a cluster: exit codes, the summary line and file, no secrets."""

from __future__ import annotations

import json

import pytest
import yaml

from jobs import common
from jobs.common import ExitCode


def summary_from(capsys) -> dict:
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    assert last.startswith(common.SUMMARY_PREFIX + " "), out
    doc = common.parse_summary_line(out)
    assert doc == json.loads(last.split(" ", 1)[1])
    return doc


def test_exit_code_table_is_the_documented_one(repo_root):
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 4]
    doc = (repo_root / "docs" / "CLUSTER.md").read_text()
    for code, status in common.STATUS.items():
        assert f"| {int(code)} | `{status}`" in doc


def test_exit_code_for_maps_by_type():
    from pydantic import BaseModel, ValidationError

    from al_ray.errors import ConfigError, InputError, StorageError

    class M(BaseModel):
        x: int

    with pytest.raises(ValidationError) as ve:
        M(x="no")
    assert common.exit_code_for(ConfigError("x")) == ExitCode.BAD_INPUT
    assert common.exit_code_for(InputError("x")) == ExitCode.BAD_INPUT
    assert common.exit_code_for(ve.value) == ExitCode.BAD_INPUT
    assert common.exit_code_for(common.UsageError("x")) == ExitCode.BAD_INPUT
    assert common.exit_code_for(StorageError("x")) == ExitCode.INTERNAL_ERROR
    assert common.exit_code_for(RuntimeError("x")) == ExitCode.INTERNAL_ERROR


def test_parse_set():
    assert common.parse_set(["a.b=1", "c=x y", "d=[1, 2]", "e="]) == {"a": {"b": 1}, "c": "x y", "d": [1, 2], "e": ""}
    from al_ray.errors import ConfigError

    with pytest.raises(ConfigError, match="--set expects KEY=VALUE"):  # exit 2, in the jobs and the CLI
        common.parse_set(["novalue"])


def test_usage_error_exits_2_with_a_summary(capsys):
    from jobs import score

    assert score.main(["--corpus", "x"]) == 2  # --out missing
    doc = summary_from(capsys)
    assert doc["exit_code"] == 2 and doc["status"] == "bad_input"


def test_missing_config_file_is_bad_input_and_summary_is_written(tmp_path, capsys):
    from jobs import score

    out = tmp_path / "scores"
    code = score.main(["--config", str(tmp_path / "nope.yaml"), "--corpus", str(tmp_path), "--out", str(out),
                       "--ray-address", "127.0.0.1:1"])  # never contacted: config fails first
    assert code == ExitCode.BAD_INPUT
    doc = summary_from(capsys)
    assert doc["job"] == "score" and doc["error"]["type"] == "ConfigError"
    assert json.loads((out / "_job_summary_score.json").read_text()) == doc


def test_missing_corpus_is_bad_input_before_ray_starts(tmp_path, capsys):
    from jobs import nightly

    cfg = tmp_path / "scoring.yaml"
    cfg.write_text(yaml.safe_dump({"task": {"labels": ["neither", "violating"]}, "model": str(tmp_path)}))
    secret = "sekrit-value-0123456789"
    summary = tmp_path / "summary.json"
    code = nightly.main(["--config", str(cfg), "--corpus", str(tmp_path / "no-corpus"), "--scores-out",
                         str(tmp_path / "s"), "--summary", str(summary), "--ray-address", "127.0.0.1:1",
                         "--set", f"storage_options.secret={secret}"])
    captured = capsys.readouterr()
    assert code == ExitCode.BAD_INPUT
    doc = common.parse_summary_line(captured.out)
    assert doc["error"]["type"] == "InputError" and "no-corpus" in doc["error"]["message"]
    assert secret not in captured.out + captured.err + summary.read_text()
    assert "storage_options.secret=***" in doc["args"]["overrides"]


def test_score_job_empty_corpus_is_bad_input_before_ray_starts(tmp_path, capsys):
    """A corpus folder with no shard exits 2 naming it, before any Ray connection (the address is dead)."""
    from jobs import score

    (tmp_path / "empty").mkdir()
    cfg = tmp_path / "scoring.yaml"
    cfg.write_text(yaml.safe_dump({"task": {"labels": ["neither", "violating"]}, "model": str(tmp_path)}))
    code = score.main(["--config", str(cfg), "--corpus", str(tmp_path / "empty"), "--out", str(tmp_path / "o"),
                       "--ray-address", "127.0.0.1:1"])
    doc = common.parse_summary_line(capsys.readouterr().out)
    assert code == ExitCode.BAD_INPUT
    assert doc["error"]["type"] == "InputError" and "empty" in doc["error"]["message"]
    assert "no Parquet shards" in doc["error"]["message"]


def test_invalid_config_field_names_the_field(tmp_path, capsys):
    from jobs import score

    cfg = tmp_path / "scoring.yaml"
    cfg.write_text(yaml.safe_dump({"task": {"labels": ["a", "b"]}, "model": "m", "workers": 0}))
    code = score.main(["--config", str(cfg), "--corpus", str(tmp_path), "--out", str(tmp_path / "o")])
    assert code == ExitCode.BAD_INPUT
    assert "workers" in summary_from(capsys)["message"]


def test_internal_error_is_4_and_summary_still_printed(tmp_path, capsys, monkeypatch):
    from jobs import score

    def boom(ctx):
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(score, "_body", boom)
    assert score.main(["--corpus", "c", "--out", str(tmp_path / "o")]) == ExitCode.INTERNAL_ERROR
    doc = summary_from(capsys)
    assert doc["status"] == "internal_error" and doc["error"] == {"type": "RuntimeError", "message": "engine exploded"}


def test_run_statuses_map_to_one_exit_code_table():
    """The CLI (`al-ray run`) and the jobs (jobs.run, jobs.round) end a loop through this one table;
    the real waiting path (exit 3) runs in tests/driver/test_waiting_for_labels.py."""
    from al_ray.errors import exit_code_for_run_status

    assert exit_code_for_run_status("waiting_for_labels") == ExitCode.WAITING_FOR_LABELS == 3
    for done in ("converged", "plateau", "budget_spent", "max_rounds", "round_done"):
        assert exit_code_for_run_status(done) == ExitCode.OK
    assert exit_code_for_run_status("something_new") == ExitCode.INTERNAL_ERROR
    assert exit_code_for_run_status(None) == ExitCode.INTERNAL_ERROR


def test_plan_only_needs_no_ray(tmp_path, capsys):
    import pyarrow as pa

    from al_ray import storage
    from jobs import nightly

    for i in range(2):
        storage.write_parquet_atomic(pa.table({"id": [f"{i}"], "text": ["t"]}), str(tmp_path / "c" / f"p{i}.parquet"))
    cfg = tmp_path / "scoring.yaml"
    cfg.write_text(yaml.safe_dump({"task": {"labels": ["a", "b"]}, "model": "m", "model_version": "v1"}))
    code = nightly.main(["--config", str(cfg), "--corpus", str(tmp_path / "c"), "--scores-out", str(tmp_path / "s"),
                         "--plan-only", "--ray-address", "127.0.0.1:1"])
    assert code == 0
    plan = summary_from(capsys)["result"]["plan"]
    assert len(plan["new"]) == 2 and plan["changed"] == []


def test_estimate_cost():
    from al_ray.nightly import estimate_cost

    assert estimate_cost(3600, 4, 1, 2.5) == (4.0, 10.0)
    assert estimate_cost(1800, 2, 2, 1.0) == (2.0, 2.0)
    assert estimate_cost(3600, 3, 0, 1.0) == (3.0, 3.0)  # CPU workers: one unit each


@pytest.fixture
def run_yaml(tmp_path):
    import pyarrow as pa

    from al_ray import storage

    storage.write_parquet_atomic(pa.table({"id": ["a"], "text": ["t"]}), str(tmp_path / "corpus" / "p0.parquet"))
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({
        "task": {"labels": ["neither", "violating"]},
        "corpus": {"url": str(tmp_path / "corpus")},
        "scoring": {"mode": "classifier", "backend": "transformers"},
    }))
    return cfg


@pytest.mark.parametrize("status,code", [("round_done", 0), ("converged", 0), ("max_rounds", 0),
                                         ("waiting_for_labels", 3)])
def test_round_and_run_map_outcomes_to_exit_codes(run_yaml, tmp_path, capsys, monkeypatch, status, code):
    import al_ray.driver.run as driver_run
    from jobs import round as round_job
    from jobs import run as run_job

    calls = []

    def fake_run_loop(config, run_url, *, max_rounds=None, one_round=False, **kw):
        calls.append((run_url, max_rounds, one_round, config.task.labels))
        return driver_run.RunOutcome(status=status, detail="d", rounds=1, labels_used=40)

    monkeypatch.setattr(driver_run, "run_loop", fake_run_loop)
    monkeypatch.setattr(common.JobContext, "init_ray", lambda self: None)
    run_url = str(tmp_path / "run")
    assert round_job.main(["--config", str(run_yaml), "--run", run_url, "--no-report"]) == code
    doc = summary_from(capsys)
    assert doc["job"] == "round" and doc["result"]["status"] == status and doc["exit_code"] == code
    assert run_job.main(["--config", str(run_yaml), "--run", run_url, "--max-rounds", "2", "--no-report"]) == code
    assert summary_from(capsys)["job"] == "run"
    assert calls == [(run_url, None, True, ["neither", "violating"]), (run_url, 2, False, ["neither", "violating"])]


def test_run_config_errors_name_the_section_before_ray(run_yaml, tmp_path, capsys, monkeypatch):
    from jobs import run as run_job

    monkeypatch.setattr(common.JobContext, "init_ray", lambda self: pytest.fail("Ray must not start"))
    code = run_job.main(["--config", str(run_yaml), "--run", str(tmp_path / "r"), "--set", "scoring.workers=0"])
    assert code == ExitCode.BAD_INPUT
    assert "scoring.workers" in summary_from(capsys)["message"]
    code = run_job.main(["--config", str(run_yaml), "--run", str(tmp_path / "r"), "--set", "corpus.url=/nope/x"])
    assert code == ExitCode.BAD_INPUT
    assert "corpus does not exist" in summary_from(capsys)["message"]


def test_score_partial_failure_is_exit_1(tmp_path, capsys, monkeypatch):
    import pyarrow as pa

    import al_ray.scoring.job as scoring_job
    from al_ray import storage
    from al_ray.scoring.summary import ScoringSummary, ShardFailure
    from jobs import score

    storage.write_parquet_atomic(pa.table({"id": ["a"], "text": ["t"]}), str(tmp_path / "c" / "p0.parquet"))
    cfg = tmp_path / "scoring.yaml"
    cfg.write_text(yaml.safe_dump({"task": {"labels": ["a", "b"]}, "model": "m"}))

    def fake_run_scoring(config, corpus, out, *, shards=None, rescore=False, progress=True, checked=None):
        return ScoringSummary(corpus=corpus, out=out, model="m", model_version="v", shards_total=2, shards_scored=1,
                              rows_scored=5, failed_shards=[ShardFailure(shard=f"{corpus}/p1.parquet",
                                                                         reason="bad utf-8", kind="quarantined")])

    monkeypatch.setattr(scoring_job, "run_scoring", fake_run_scoring)
    monkeypatch.setattr(common.JobContext, "init_ray", lambda self: None)
    code = score.main(["--config", str(cfg), "--corpus", str(tmp_path / "c"), "--out", str(tmp_path / "o")])
    assert code == ExitCode.PARTIAL_FAILURE
    doc = summary_from(capsys)
    assert doc["status"] == "partial_failure" and doc["result"]["failed_shards"][0]["kind"] == "quarantined"


def test_the_run_job_checks_a_given_corpus_before_ray(tmp_path):
    """jobs.run reads the config the way ``al-ray run`` does: a missing corpus is bad input (exit 2)
    from load_run_config, before the job body (and Ray) is reached."""
    import argparse

    from al_ray.errors import InputError
    from jobs import run as run_job

    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({"run": {"name": "t", "max_rounds": 1, "batch_size": 2, "label_budget": 2},
                                   "task": {"name": "t", "labels": ["ok", "toxic"]},
                                   "corpus": {"url": str(tmp_path / "nowhere")}}))
    args = argparse.Namespace(config=str(cfg), overrides=[])
    with pytest.raises(InputError, match="corpus does not exist"):
        run_job.load_run_config(args)
