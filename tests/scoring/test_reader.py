"""Shard listing, relative paths and the up-front footer check."""

import pytest

from al_ray.errors import ConfigError, InputError
from al_ray.scoring.reader import check_shards, iter_batches, list_shards
from al_ray.task import TaskConfig
from tests.scoring.conftest import make_texts, write_shard


def test_list_and_relative_paths(tmp_path):
    write_shard(tmp_path / "c" / "a.parquet", ["1"], ["x"])
    write_shard(tmp_path / "c" / "sub" / "b.parquet", ["2"], ["y"])
    (tmp_path / "c" / "_ignored.parquet").write_bytes(b"x")
    shards = list_shards(str(tmp_path / "c"))
    assert [s.rel for s in shards] == ["a.parquet", "sub/b.parquet"]
    single = list_shards(str(tmp_path / "c" / "sub" / "b.parquet"))
    assert [s.rel for s in single] == ["b.parquet"]
    only = list_shards(str(tmp_path / "c"), only=[str(tmp_path / "c" / "sub" / "b.parquet")])
    assert [s.rel for s in only] == ["sub/b.parquet"]
    with pytest.raises(ConfigError, match="not found"):
        list_shards(str(tmp_path / "c"), only=[str(tmp_path / "c" / "nope.parquet")])


def test_missing_columns_fail_up_front_naming_shard_and_column(tmp_path):
    write_shard(tmp_path / "a.parquet", ["1"], ["x"])
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ["2"], "body": ["y"]}), tmp_path / "b.parquet")
    task = TaskConfig(labels=["a", "b"])
    with pytest.raises(InputError) as exc:
        check_shards(list_shards(str(tmp_path)), task)
    assert "b.parquet" in str(exc.value) and "'text'" in str(exc.value)
    with pytest.raises(InputError, match="missing id column 'doc_id'"):
        check_shards(list_shards(str(tmp_path / "a.parquet")), TaskConfig(labels=["a", "b"], id_column="doc_id"))


def test_corrupt_footer_is_flagged_not_fatal(tmp_path):
    write_shard(tmp_path / "a.parquet", ["1"], ["x"])
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 this is not parquet")
    checked = check_shards(list_shards(str(tmp_path)), TaskConfig(labels=["a", "b"]))
    assert checked[0].error is None and checked[0].num_rows == 1
    assert "unreadable Parquet" in checked[1].error


def test_streaming_reads_batches(tmp_path):
    write_shard(tmp_path / "a.parquet", [str(i) for i in range(1000)], make_texts(1000, 0), row_group_size=100)
    sizes = [b.num_rows for b in iter_batches(str(tmp_path / "a.parquet"), ["text"], 64)]
    assert sum(sizes) == 1000 and max(sizes) <= 64
