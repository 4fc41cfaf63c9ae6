"""A store that fails (a timeout, a refused connection, no credentials) is reported as a storage
error, "retry", never as bad input ("fix your file"), nor as a file that does not exist."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from al_ray import storage
from al_ray.errors import ExitCode, InputError, StorageError, exit_code_for
from al_ray.finetune.data import read_labels
from al_ray.selection.texts import locate_shard


def _labels_file(tmp_path) -> str:
    path = tmp_path / "labels.parquet"
    pq.write_table(pa.table({"id": ["a"], "text": ["hi"], "label": ["x"], "round": [0]}), path)
    return str(path)


def test_a_failing_store_is_a_storage_error_when_reading_labels(tmp_path, monkeypatch):
    url = _labels_file(tmp_path)

    def timeout(*a, **k):
        raise TimeoutError("read timed out")

    monkeypatch.setattr(storage, "read_parquet", timeout)
    with pytest.raises(StorageError, match="read timed out") as err:
        read_labels([url], ["x", "y"])
    assert exit_code_for(err.value) == ExitCode.INTERNAL_ERROR


def test_a_corrupt_labels_file_is_still_bad_input(tmp_path):
    bad = tmp_path / "labels.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="cannot read as Parquet") as err:
        read_labels([str(bad)], ["x", "y"])
    assert exit_code_for(err.value) == ExitCode.BAD_INPUT


def test_a_shard_the_store_cannot_check_is_not_reported_missing(tmp_path, monkeypatch):
    def denied(url, so=None):
        raise PermissionError(13, "Access Denied (no credentials)")

    monkeypatch.setattr(storage, "exists", denied)
    with pytest.raises(StorageError, match="Access Denied") as err:
        locate_shard("s3://bucket/corpus/part-0.parquet", str(tmp_path / "corpus"))
    assert "not found" not in str(err.value)


def test_a_shard_that_is_really_gone_is_bad_input(tmp_path):
    (tmp_path / "corpus").mkdir()
    with pytest.raises(InputError, match="corpus shard not found"):
        locate_shard(str(tmp_path / "old" / "part-0.parquet"), str(tmp_path / "corpus"))
