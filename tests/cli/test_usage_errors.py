"""Usage mistakes answer with exit 2 and the flag the user typed: no traceback, no internal names."""

from __future__ import annotations

import pytest

from tests.cli.conftest import NO_RAY, run_cli


@pytest.mark.parametrize("args, flag", [
    (["score", "--workers", "x", "--corpus", "c", "--out", "o"], "--workers"),
    (["plan", "--rows", "1e9", "--throughput", "100", "--engines", "1.5"], "--engines"),
    (["select", "--scores", "s", "--out", "o", "--nope"], "--nope"),
])
def test_a_bad_flag_value_is_a_usage_error_not_a_traceback(args, flag):
    res = run_cli(*args, env={"RAY_ADDRESS": NO_RAY}, timeout=60)
    assert res.code == 2, res.output
    assert "Traceback" not in res.output and flag in res.stderr, res.stderr


@pytest.mark.parametrize("args, expect", [
    (["--target-hours", "-1"], "--target-hours must be > 0, got -1"),
    (["--target-hours", "0.0001"], "--target-hours=0.0001 leaves no time"),
    (["--engines", "2", "--target-hours", "1"], "one of --engines (cluster size) or --target-hours"),
    (["--engines", "2", "--shards", "3", "--rows-per-shard", "10"], "give --shards or --rows-per-shard"),
    (["--engines", "0"], "--engines must be > 0"),
])
def test_plan_errors_name_the_flags(args, expect):
    res = run_cli("plan", "--rows", "1e9", "--throughput", "100", *args, timeout=60)
    assert res.code == 2, res.output
    assert expect in res.stderr and "target_wall_s" not in res.stderr and "n_shards" not in res.stderr, res.stderr


def test_tables_and_help_are_not_cut_at_80_columns_in_a_pipe():
    res = run_cli("plan", "--help", env={"COLUMNS": None}, timeout=60)
    assert res.code == 0
    # one option's help on one line: at 80 columns this sentence wrapped after "engine"
    assert "Measured rows/s of ONE engine (a flag)." in res.stdout, res.stdout


def test_the_cli_and_the_jobs_share_one_exit_code_table(monkeypatch, capsys):
    """Bad input 2, storage failing after retries 4, a bug 4 with its (scrubbed) traceback; not 1."""
    import al_ray.cli.select as select_cli
    from al_ray.cli import main
    from al_ray.errors import StorageError

    def failing(exc):
        def boom(*a, **k):
            raise exc
        return boom

    for exc, code, shown in ((StorageError("s3://b/k: read failed after 5 tries"), 4, "read failed after 5 tries"),
                             (RuntimeError("a bug"), 4, "internal error"),
                             (ValueError("plain"), 4, "Traceback")):
        monkeypatch.setattr(select_cli, "_score_files", failing(exc))
        assert main(["select", "--scores", "s", "--out", "o"]) == code
        assert shown in capsys.readouterr().err


def test_set_overrides_are_the_jobs_syntax_and_name_a_bad_field(tmp_path):
    """`--set` works in the CLI as in jobs/: a typo in a field name fails with exit 2 before Ray."""
    cfg = tmp_path / "run.yaml"
    cfg.write_text("task: {labels: [a, b]}\ncorpus: {url: /nowhere}\n")
    res = run_cli("run", str(cfg), "--run", str(tmp_path / "run"), "--set", "run.batch_sise=50",
                  env={"RAY_ADDRESS": NO_RAY}, timeout=60)
    assert res.code == 2 and "batch_sise" in res.stderr and "Traceback" not in res.output, res.output
    res = run_cli("run", str(cfg), "--run", str(tmp_path / "run"), "--set", "novalue",
                  env={"RAY_ADDRESS": NO_RAY}, timeout=60)
    assert res.code == 2 and "--set expects KEY=VALUE" in res.stderr, res.output
