"""The bad-input table: every case gets a clear error or a documented, counted quarantine.

Scoring cases share one job (module fixture): one good shard plus one shard per bad case. Cases a
job must refuse before any work (a renamed or retyped column) run alone and fail up front.
Label-file cases go through ``import_annotations``; unknown labels, unknown ids, another round's
ids and path-like ids are already in tests/labeling/test_ingest.py, so only the rest is here.
"""

from __future__ import annotations

import io
import json
import os
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from al_ray.errors import InputError
from al_ray.labeling import import_annotations
from al_ray.scoring.job import run_scoring
from al_ray.task import TaskConfig
from al_ray.testing import invariants
from al_ray.testing.faults import fast_config
from tests.labeling.conftest import LABELS, batch_rows, write_batch
from tests.scoring.conftest import make_texts

TEN_MB = 10 * 1024 * 1024


def _parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _bad_utf8_strings() -> pa.Array:
    return pa.Array.from_buffers(pa.string(), 2, [None, pa.py_buffer(b"\x00\x00\x00\x00\x02\x00\x00\x00\x05\x00\x00\x00"),
                                                  pa.py_buffer(b"ok\xff\xfe!")], null_count=0)


def _write_bad_corpus(c: Path) -> None:
    c.mkdir(parents=True)
    pq.write_table(pa.table({"id": [f"g{i}" for i in range(40)], "text": make_texts(40, 7)}), c / "good.parquet")
    (c / "empty_file.parquet").write_bytes(b"")
    pq.write_table(pa.table({"id": pa.array([], pa.string()), "text": pa.array([], pa.string())}),
                   c / "zero_rows.parquet")
    pq.write_table(pa.table({"id": ["n0", None, "n2", None], "text": ["a", "b", "c", "d"]}), c / "null_ids.parquet")
    pq.write_table(pa.table({"id": ["d0", "d0", "g1"], "text": ["x", "x again", "y"]}), c / "dup_ids.parquet")
    pq.write_table(pa.table({"id": ["big"], "text": ["word " * (TEN_MB // 5)]}), c / "ten_mb_text.parquet")
    (c / "garbage.parquet").write_bytes(random.Random(0).randbytes(4096))
    whole = _parquet_bytes(pa.table({"id": [f"t{i}" for i in range(100)], "text": make_texts(100, 8)}))
    (c / "truncated.parquet").write_bytes(whole[: len(whole) // 2])
    pq.write_table(pa.table({"id": ["u0", "u1"], "text": _bad_utf8_strings()}), c / "bad_utf8.parquet")
    pq.write_table(pa.table({"id": ["b0", "b1"], "text": pa.array([b"bytes ok", None], pa.binary())}),
                   c / "binary_text.parquet")
    pq.write_table(pa.table({"id": pa.array([7, 8], pa.int64()), "text": ["int id", "another"]}),
                   c / "int_ids.parquet")
    pq.write_table(pa.table({"id": ["e0", "e1"], "text": ["", None]}), c / "empty_texts.parquet")


@pytest.fixture(scope="module")
def bad_job(ray_cluster, tmp_path_factory, minilm_classifier_dir):
    root = tmp_path_factory.mktemp("bad_input")
    corpus, out = root / "corpus", root / "out"
    _write_bad_corpus(corpus)
    s = run_scoring(fast_config(minilm_classifier_dir), str(corpus), str(out), progress=False)
    return {"summary": s, "corpus": corpus, "out": out}


def _score(job, name: str) -> dict:
    return pq.read_table(job["out"] / name).to_pydict()


def _failure(job, name: str):
    found = [f for f in job["summary"].failed_shards if Path(f.shard).name == name]
    assert len(found) == 1, job["summary"].failed_shards
    assert found[0].shard == str(job["corpus"] / name)  # names the file
    return found[0]


# case -> (expected outcome, check)
SCORING_CASES = {
    "empty file": "empty_file.parquet",
    "zero-row shard": "zero_rows.parquet",
    "null ids": "null_ids.parquet",
    "duplicate ids": "dup_ids.parquet",
    "10 MB text": "ten_mb_text.parquet",
    "binary garbage": "garbage.parquet",
    "truncated Parquet": "truncated.parquet",
    "invalid UTF-8": "bad_utf8.parquet",
    "binary text column": "binary_text.parquet",
    "integer ids": "int_ids.parquet",
    "empty and null texts": "empty_texts.parquet",
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(SCORING_CASES))
def test_scoring_bad_input(bad_job, case):
    name = SCORING_CASES[case]
    if case == "empty file":
        f = _failure(bad_job, name)
        assert f.kind == "quarantined" and "unreadable Parquet" in f.reason and "0 bytes" in f.reason
    elif case == "binary garbage":
        f = _failure(bad_job, name)
        assert f.kind == "quarantined" and "unreadable Parquet" in f.reason
    elif case == "truncated Parquet":
        f = _failure(bad_job, name)
        assert f.kind == "quarantined" and "unreadable Parquet" in f.reason
    elif case == "invalid UTF-8":
        f = _failure(bad_job, name)
        assert f.kind == "quarantined" and "invalid UTF-8 in column 'text'" in f.reason and "rows 0..1" in f.reason
    elif case == "zero-row shard":
        assert _score(bad_job, name)["id"] == [] and (bad_job["out"] / f"{name}.done").exists()
    elif case == "null ids":
        got = _score(bad_job, name)
        assert got["id"] == ["n0", "n2"] and got["row"] == [0, 2]  # rows keep their input position
    elif case == "duplicate ids":
        assert _score(bad_job, name)["id"] == ["d0", "d0", "g1"]  # reported, never silently dropped
        dup = bad_job["summary"].duplicate_ids
        ex = {e["id"]: e for e in dup.examples}
        assert ex["d0"]["shards"] == [name] and ex["d0"]["occurrences"] == 2
        assert sorted(ex["g1"]["shards"]) == [name, "good.parquet"]
    elif case == "10 MB text":
        got = _score(bad_job, name)
        assert got["id"] == ["big"] and got["truncated"] == [True]
    elif case == "binary text column":
        got = _score(bad_job, name)
        assert got["id"] == ["b0", "b1"] and got["empty_text"] == [False, True]
    elif case == "integer ids":
        assert _score(bad_job, name)["id"] == ["7", "8"]  # ids are strings in score files
    elif case == "empty and null texts":
        assert _score(bad_job, name)["empty_text"] == [True, True]


@pytest.mark.slow
def test_scoring_bad_input_counts_add_up(bad_job):
    s = bad_job["summary"]
    assert {Path(f.shard).name for f in s.failed_shards} == {"empty_file.parquet", "garbage.parquet",
                                                             "truncated.parquet", "bad_utf8.parquet"}
    assert s.shards_total == 12 and s.shards_scored == 8
    assert s.rows_scored == 40 + 0 + 2 + 3 + 1 + 2 + 2 + 2
    assert s.rows_skipped == 2 and s.rows_truncated == 1 and s.rows_empty_text == 3
    assert s.rows_quarantined == 2  # bad_utf8's two rows; unreadable files have no known row count
    assert s.duplicate_ids.count == 2 and s.duplicate_ids.extra_rows == 2
    summary = json.loads((bad_job["out"] / "_summary.json").read_text())
    assert len(summary["failed_shards"]) == 4 and all(f["reason"] for f in summary["failed_shards"])
    res = invariants.assert_invariant(str(bad_job["corpus"]), str(bad_job["out"]))
    assert res.lost == 0 and res.duplicated == 0 and res.quarantined == 2 + 2  # bad_utf8 rows + null ids


UP_FRONT = {
    "renamed text column": (pa.table({"id": ["r0"], "body": ["x"]}), r"drift\.parquet: missing text column 'text'"),
    "text column as int64": (pa.table({"id": ["r0"], "text": pa.array([5], pa.int64())}),
                             r"drift\.parquet: text column 'text' has type int64, expected string"),
    "renamed id column": (pa.table({"doc": ["r0"], "text": ["x"]}), r"drift\.parquet: missing id column 'id'"),
    "id column as list": (pa.table({"id": pa.array([[1]], pa.list_(pa.int64())), "text": ["x"]}),
                          r"drift\.parquet: id column 'id' has type list<.*>, expected string or integer"),
}


@pytest.mark.parametrize("case", list(UP_FRONT))
def test_schema_drift_fails_up_front_naming_shard_and_column(ray_cluster, tmp_path, minilm_classifier_dir, case):
    table, pattern = UP_FRONT[case]
    c = tmp_path / "corpus"
    c.mkdir()
    pq.write_table(pa.table({"id": ["a"], "text": ["fine"]}), c / "a.parquet")
    pq.write_table(table, c / "drift.parquet")
    with pytest.raises(InputError, match=pattern):
        run_scoring(fast_config(minilm_classifier_dir), str(c), str(tmp_path / "out"), progress=False)
    assert not (tmp_path / "out").exists()  # refused before any work: nothing written


# --- label files -------------------------------------------------------------------------------

@pytest.fixture
def label_batch(tmp_path) -> tuple[str, str, TaskConfig]:
    return (write_batch(str(tmp_path / "batch"), batch_rows(8)), str(tmp_path / "labels"),
            TaskConfig(name="violating", labels=LABELS))


LABEL_CASES = {
    "binary garbage": ("garbage.jsonl", random.Random(1).randbytes(300), r"garbage\.jsonl:1: not valid UTF-8"),
    "invalid UTF-8 (jsonl)": ("bad.jsonl", b'{"id": "t0", "annotator_id": "a", "label": "neither"}\n'
                              b'{"id": "t1", "annotator_id": "a", "label": "neither", "note": "\xff\xfe"}\n',
                              r"bad\.jsonl:2: not valid UTF-8"),
    "invalid UTF-8 (csv)": ("bad.csv", b"id,annotator_id,label,note\nt0,a,neither,\xff\xfe\n",
                            r"bad\.csv:2: not valid UTF-8"),
    "wrong field types": ("types.jsonl", b'{"id": ["t0"], "annotator_id": "a", "label": "neither"}\n'
                          b'{"id": "t1", "annotator_id": "a", "label": 1}\n'
                          b'{"id": "t2", "annotator_id": "a", "label": "neither", "round": "x"}\n',
                          r"types\.jsonl:1: missing item id(.|\n)*types\.jsonl:2: label must be a string"
                          r"(.|\n)*types\.jsonl:3: round must be an integer"),
    "not an object per line": ("list.jsonl", b"[1, 2]\n", r"list\.jsonl:1: expected a JSON object per line"),
    "absolute-path id": ("abs.jsonl", b'{"id": "/etc/passwd", "annotator_id": "a", "label": "neither"}\n',
                         r"abs\.jsonl:1: unknown item id '/etc/passwd'"),
}


@pytest.mark.parametrize("case", list(LABEL_CASES))
def test_label_file_bad_input(label_batch, tmp_path, case):
    batch_dir, labels_dir, task = label_batch
    name, data, pattern = LABEL_CASES[case]
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(InputError, match=pattern) as ei:
        import_annotations([str(p)], batch_dir, labels_dir, task, round=2)
    assert str(ei.value).startswith(str(p))  # the message starts with file:line
    assert not Path(labels_dir).exists() or not os.listdir(labels_dir)  # all or nothing


def test_empty_label_file_imports_nothing_and_says_so(label_batch, tmp_path):
    batch_dir, labels_dir, task = label_batch
    p = tmp_path / "empty.jsonl"
    p.write_bytes(b"")
    res = import_annotations([str(p)], batch_dir, labels_dir, task, round=2)
    assert (res.n_files, res.n_read, res.n_new, res.n_total, res.n_items) == (1, 0, 0, 0, 8)
