"""Output location not writable, and a disk that fills up mid-job.

We run as root in CI, and root ignores ``chmod 0o500``; an output path *under a regular file*
(``<file>/sub``) is unwritable for everyone. A full disk is a real 1 MiB tmpfs when this process
may mount one (root in a container with CAP_SYS_ADMIN), and an injected ``ENOSPC`` otherwise.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

from al_ray import storage
from al_ray.errors import InputError, StorageError
from al_ray.scoring.job import run_scoring
from al_ray.testing import invariants
from al_ray.testing.faults import fast_config, fill_disk, write_corpus_local


def test_unwritable_output_fails_before_any_engine_starts(ray_cluster, tmp_path, minilm_classifier_dir):
    write_corpus_local(tmp_path / "corpus", n_shards=2, rows=20)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    out = blocker / "scores"
    t0 = time.monotonic()
    # a path through a file is the user's input (InputError, exit 2), not a failing store (StorageError, 4)
    with pytest.raises(InputError) as ei:
        run_scoring(fast_config(minilm_classifier_dir), str(tmp_path / "corpus"), str(out), progress=False)
    assert f"cannot write {out}/_summary.json" in str(ei.value) and "Not a directory" in str(ei.value)
    assert time.monotonic() - t0 < 30  # no engine was started, no shard scored three times


@pytest.mark.slow
def test_cli_unwritable_output_clear_error_exit_2(ray_cluster, tmp_path, minilm_classifier_dir):
    write_corpus_local(tmp_path / "corpus", n_shards=1, rows=10)
    (tmp_path / "f").write_text("x")
    out = tmp_path / "f" / "out"
    cmd = [sys.executable, "-m", "al_ray.cli", "score", "--model", str(minilm_classifier_dir), "--corpus",
           str(tmp_path / "corpus"), "--out", str(out), "--backend", "transformers", "--no-progress"]
    proc = subprocess.run(cmd, env=dict(os.environ, RAY_ADDRESS=ray_cluster.address), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    err = proc.stderr.replace("\n", "")  # rich wraps long lines at the console width
    assert f"cannot write {out}/_summary.json" in err and "Not a directory" in err
    assert "Traceback" not in err


def test_enospc_while_publishing_names_file_and_leaves_nothing(tmp_path, monkeypatch):
    """In-process: the disk fills while a score file is written (fsync raises ENOSPC)."""
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(storage.os, "fsync", full)
    url = str(tmp_path / "out" / "part-0.parquet")
    with pytest.raises(StorageError, match=rf"cannot write {url}: \[Errno 28\] No space left on device"):
        storage.write_parquet_atomic(pa.table({"id": ["a"]}), url)
    assert os.listdir(tmp_path / "out") == []  # the temp file was removed, nothing partial visible


@pytest.fixture
def tiny_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.slow
def test_disk_fills_mid_job_then_recovers(ray_cluster, tmp_path, tiny_disk, minilm_classifier_dir):
    corpus = tmp_path / "corpus"
    expected = write_corpus_local(corpus, n_shards=4, rows=300)
    out = tiny_disk / "scores"
    cfg = fast_config(minilm_classifier_dir, batch_rows=32)
    filler = tiny_disk / "filler"
    result: dict = {}

    def job():
        try:
            result["summary"] = run_scoring(cfg, str(corpus), str(out), progress=False)
        except BaseException as exc:
            result["error"] = exc

    t = threading.Thread(target=job, daemon=True)
    t.start()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and t.is_alive() and not list(out.glob("*.done")):
        time.sleep(0.02)
    fill_disk(filler)  # the disk is full from now on
    t.join(timeout=400)
    assert not t.is_alive()
    err = result.get("error")
    if err is None:  # the job outran the filler; nothing to test about a full disk then
        pytest.skip("every shard was written before the disk filled up")
    assert isinstance(err, StorageError), repr(err)
    assert f"cannot write {out}/_summary.json" in str(err) and "No space left on device" in str(err)
    # nothing partial is visible, and what is there is complete and marked
    res = invariants.check(str(corpus), str(out), expected=expected,
                           summary={"failed_shards": [{"shard": s, "reason": "disk full"} for s in expected
                                                      if not (out / (Path(s).name + ".done")).exists()]})
    assert not res.problems, res.problems
    assert not [p for p in out.iterdir() if p.name.startswith(".tmp")]
    # space comes back: the rerun scores only what is missing
    filler.unlink()
    s = run_scoring(cfg, str(corpus), str(out), progress=False)
    assert s.ok and s.shards_skipped_done >= 1 and s.shards_skipped_done + s.shards_scored == 4
    res = invariants.assert_invariant(str(corpus), str(out), expected=expected)
    assert (res.rows_out, res.lost, res.duplicated) == (1200, 0, 0)
    assert json.loads((out / "_summary.json").read_text())["finished_at"]


def test_stale_temp_files_of_killed_writers_are_removed(tmp_path):
    """A writer killed between writing its temporary file and renaming it leaves `.tmp-*` behind;
    the scoring job sweeps them once its actors are gone (tests/faults/test_kills.py kills one
    mid-publish). Regular files and completion markers stay."""
    from al_ray import storage

    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    keep = [out / "part-0.parquet", out / "part-0.parquet.done", out / "_summary.json"]
    stale = [out / ".tmp-0d48-part-1.parquet.done", out / "sub" / ".tmp-99-part-2.parquet"]
    for p in keep + stale:
        p.write_bytes(b"x")
    removed = storage.remove_stale_temp_files(str(out))
    assert sorted(removed) == sorted(str(p) for p in stale)
    assert all(p.exists() for p in keep) and not any(p.exists() for p in stale)
    assert storage.remove_stale_temp_files(str(tmp_path / "missing")) == []
