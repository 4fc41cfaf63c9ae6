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
