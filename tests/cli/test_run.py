"""``al-ray report`` (and ``status``) on a folder that is not a run: one line naming it, exit 2."""

from __future__ import annotations

import pytest

from tests.cli.conftest import run_cli


@pytest.mark.parametrize("exists", [True, False])
def test_report_on_a_folder_that_is_not_a_run(tmp_path, exists):
    folder = tmp_path / "not-a-run"
    if exists:
        folder.mkdir()
        (folder / "something.txt").write_text("x")
    res = run_cli("report", str(folder))
    assert res.code == 2, res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert str(folder) in lines[0] and "not a run folder" in lines[0]
    assert ("no manifest.json" if exists else "no such folder") in lines[0]
    assert not (folder / "report.html").exists()


def test_status_on_a_folder_that_is_not_a_run(tmp_path):
    res = run_cli("status", str(tmp_path))
    assert res.code == 2, res.output  # bad input, not an internal error (4)
    assert "Traceback" not in res.output and f"{tmp_path}: not a run folder" in res.stderr


@pytest.mark.parametrize("problem", ["column", "missing"])
def test_run_checks_a_given_corpus_before_ray_starts(tmp_path, problem):
    """A wrong text column or corpus path answers before Ray (NO_RAY would fail or hang) and before the
    round-0 model is built, naming the shard or the path (it took ~25 s, after both, before)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.cli.conftest import NO_RAY

    corpus = tmp_path / "corpus"
    if problem == "column":
        corpus.mkdir()
        pq.write_table(pa.table({"id": ["a", "b"], "text": ["hello", "you idiot"]}), corpus / "part-00000.parquet")
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"""run: {{name: t, max_rounds: 1, batch_size: 2, label_budget: 2}}
task: {{name: t, labels: [ok, toxic], text_column: body}}
corpus: {{url: {corpus}}}
""")
    res = run_cli("run", str(cfg), "--run", str(tmp_path / "run"), "--ray-address", NO_RAY, "--no-report")
    assert res.code == 2, res.output
    assert "Traceback" not in res.output
    if problem == "column":
        assert f"{corpus / 'part-00000.parquet'}: missing text column 'body'" in res.stderr
    else:
        assert f"{corpus}: corpus does not exist" in res.stderr
    assert not (tmp_path / "run" / "base_model").exists()
