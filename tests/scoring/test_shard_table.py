"""The corpus listing as columns (al_ray.scoring.shard_table): what the planner's views keep."""

import numpy as np
import pytest

from al_ray.scoring.shard_table import Shard, ShardTable


def _table(n: int = 6) -> ShardTable:
    # given out of order, with a non-ASCII name: the table sorts by the UTF-8 bytes of the path
    pairs = [(f"d{k % 2}/p{k}.parquet", f"fp{k}") for k in reversed(range(n))] + [("é.parquet", "fpé")]
    return ShardTable.build("s3://b/corpus", pairs)


def test_a_table_reads_as_sorted_shards_with_their_fingerprints():
    t = _table()
    rels = [s.rel for s in t]
    assert rels == sorted(rels, key=lambda r: r.encode()) and len(t) == 7 and "é.parquet" in rels
    s = t[0]
    assert s == Shard("s3://b/corpus", "d0/p0.parquet", "fp0") and s.url == "s3://b/corpus/d0/p0.parquet"
    assert t[-1].rel == "é.parquet" and t[-1].fingerprint == "fpé"
    with pytest.raises(IndexError):
        t[7]
    assert list(t.keys()) == [r.encode() for r in rels]
    assert list(t.index_of(["d1/p1.parquet", "nope.parquet"])) == [3, -1]


def test_views_keep_positions_footers_and_errors():
    t = _table()
    t.record(0, Shard(t.root, "d0/p0.parquet", "fp0", num_rows=10))
    t.record(4, Shard(t.root, "d1/p3.parquet", "fp3", error="unreadable Parquet: x"))
    readable = t.where(~t.error_mask())
    assert len(readable) == 6 and "d1/p3.parquet" not in [s.rel for s in readable]
    assert readable[0].num_rows == 10 and list(t.known_rows()) == [10]
    odd = readable.where(np.array([i % 2 == 1 for i in range(6)]))  # a view of a view
    assert [s.rel for s in odd] == [readable[i].rel for i in (1, 3, 5)]
    assert [s.rel for s in t.failed()] == ["d1/p3.parquet"] and readable.failed() == []
    assert t.failed()[0].error == "unreadable Parquet: x" and t.failed()[0].num_rows is None
    t.record(4, Shard(t.root, "d1/p3.parquet", "fp3", num_rows=2))  # read again, fine this time
    assert t.failed() == [] and sorted(t.known_rows()) == [2, 10]
    with pytest.raises(ValueError, match="mask of 2 for 7"):
        t.where(np.array([True, False]))


def test_of_and_an_empty_table():
    shards = [Shard("/c", "b.parquet", "2", num_rows=3), Shard("/c", "a.parquet", "1", error="bad", error_kind="failed")]
    t = ShardTable.of("/c", shards)
    assert list(t) == sorted(shards, key=lambda s: s.rel)
    empty = ShardTable.build("/c", [])
    assert len(empty) == 0 and list(empty) == [] and not empty and len(empty.where(np.zeros(0, bool))) == 0


def test_shard_at_splits_a_url_into_root_and_path():
    assert Shard.at("s3://b/c/d/x.parquet", "d/x.parquet", "f") == Shard("s3://b/c", "d/x.parquet", "f")
    with pytest.raises(ValueError, match="is not the end of"):
        Shard.at("s3://b/c/x.parquet", "y.parquet")
