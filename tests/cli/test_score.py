"""``al-ray score`` input errors: exit 2, the path named, and answered before Ray is contacted.

Every command here runs with ``RAY_ADDRESS`` pointing where no Ray listens: had the CLI reached
``ray.init`` first (as it did before these checks moved ahead of it), the command would fail on
the connection, or hang until the timeout, instead of naming the user's mistake.
"""

from __future__ import annotations

import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.cli.conftest import NO_RAY, run_cli


def _own_corpus(root) -> str:
    """A corpus with non-default column names, as a user's own data has."""
    root.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"doc_id": ["d1", "d2"], "body": ["hello there", "go away"]}), root / "part-0.parquet")
    return str(root)


def _score(tmp_path, *args: str):
    model = tmp_path / "model"  # exists: the model path check passes, the corpus checks are reached
    model.mkdir(exist_ok=True)
    t0 = time.monotonic()
    res = run_cli("score", "--model", str(model), "--out", str(tmp_path / "out"), "--labels", "a,b", *args,
                  env={"RAY_ADDRESS": NO_RAY}, timeout=60)
    return res, time.monotonic() - t0


@pytest.mark.parametrize("kind", ["missing_dir", "missing_file", "empty_dir"])
def test_missing_corpus_exits_2_naming_the_path(tmp_path, kind):
    corpus = {"missing_dir": tmp_path / "no" / "such" / "dir", "missing_file": tmp_path / "gone.parquet",
              "empty_dir": tmp_path / "empty"}[kind]
    if kind == "empty_dir":
        corpus.mkdir()
    res, seconds = _score(tmp_path, "--corpus", str(corpus))
    assert res.code == 2, res.output
    assert str(corpus) in res.stderr, res.stderr
    assert ("does not exist" if kind != "empty_dir" else "no Parquet shards") in res.stderr
    assert "Traceback" not in res.output and "scored 0 rows" not in res.output
    assert not (tmp_path / "out").exists(), "no summary is written for a corpus that is not there"
    assert seconds < 30, f"took {seconds:.1f}s: the check must not wait for Ray"


def test_missing_shard_flag_names_the_shard(tmp_path):
    corpus = _own_corpus(tmp_path / "corpus")
    res, _ = _score(tmp_path, "--corpus", corpus, "--text-column", "body", "--id-column", "doc_id",
                    "--shard", f"{corpus}/part-9.parquet")
    assert res.code == 2, res.output
    assert f"{corpus}/part-9.parquet" in res.stderr and "Traceback" not in res.output


def test_missing_column_fails_before_ray(tmp_path):
    corpus = _own_corpus(tmp_path / "corpus")
    res, seconds = _score(tmp_path, "--corpus", corpus)  # default text column 'text': not in this corpus
    assert res.code == 2, res.output
    assert f"{corpus}/part-0.parquet" in res.stderr and "missing text column 'text'" in res.stderr
    assert "'body'" in res.stderr, "the error lists the columns the shard has"
    assert seconds < 30


def test_missing_model_directory_is_named(tmp_path):
    corpus = _own_corpus(tmp_path / "corpus")
    res = run_cli("score", "--model", str(tmp_path / "nomodel"), "--corpus", corpus, "--out", str(tmp_path / "o"),
                  "--labels", "a,b", "--text-column", "body", "--id-column", "doc_id", env={"RAY_ADDRESS": NO_RAY},
                  timeout=60)
    assert res.code == 2, res.output
    assert f"--model {tmp_path / 'nomodel'}" in res.stderr and "al-ray model init" in res.stderr
