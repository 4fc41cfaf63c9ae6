"""The duplicate check's sources as columns (al_ray.scoring.duplicates.IdSources) and its map groups."""

import pickle

import numpy as np
import pyarrow as pa

from al_ray.scoring.duplicates import IdSource, IdSources, digest, map_partition, plan_groups
from al_ray.scoring.shard import hash_ids
from al_ray.scoring.writer import encode_id_hashes, ids_sidecar_url


def _records(n: int) -> list[IdSource]:
    return [IdSource(f"d/s{i}é.parquet", "/out", i % 3 != 0, 10 * (i + 1), f"{i}:fp") for i in range(n)]


def test_columns_read_back_as_the_records_and_digest_alike():
    recs = _records(7)
    cols = IdSources.of(recs)
    assert list(cols) == recs and cols[3] == recs[3] and len(cols) == 7
    # a previous run's report is reused only when the digest matches: the columns must give the
    # digest the records gave, byte for byte
    assert digest(cols) == digest(recs)
    assert digest(cols.slice(0, 6)) != digest(cols)


def test_groups_are_slices_that_keep_global_owner_indices():
    cols = IdSources.of(_records(10))  # rows 10, 20, ..., 100
    groups = plan_groups(cols, rows_per_task=100, files_per_task=3)
    # 10+20+30: the file cap; 40+50 <= 100 rows; then each alone, as 60+70 > 100
    assert [len(g) for g in groups] == [3, 2, 1, 1, 1, 1, 1]
    assert [g.offset for g in groups] == [0, 3, 5, 6, 7, 8, 9]
    assert [i for g in groups for i, _ in g.items()] == list(range(10))
    assert [s for g in groups for _, s in g.items()] == list(cols)
    assert len(plan_groups(IdSources.of([]))) == 0


def test_a_map_task_reads_a_slice_as_it_reads_pairs(tmp_path):
    recs = []
    for k in range(4):
        rel = f"s{k}.parquet"
        with open(ids_sidecar_url(str(tmp_path / rel)), "wb") as f:
            f.write(encode_id_hashes(hash_ids(pa.array([f"id-{k}-{i}" for i in range(5)]))))
        recs.append(IdSource(rel, str(tmp_path), True, 5))
    cols = IdSources.of(recs)
    task = cols.slice(1, 4).for_map_task()  # what find_duplicate_ids sends: paths and flags only
    assert [(i, s.rel, s.sidecar) for i, s in task.items()] == [(i, r.rel, r.sidecar) for i, r in enumerate(recs)][1:]
    assert len(pickle.dumps(task)) < len(pickle.dumps(cols.slice(1, 4)))
    by_slice = map_partition(task, 2, None)
    by_pairs = map_partition(list(enumerate(recs))[1:], 2, None)
    for (h1, o1), (h2, o2) in zip(by_slice[:-1], by_pairs[:-1]):
        assert h1.tolist() == h2.tolist() and o1.tolist() == o2.tolist()
    assert sorted({int(o) for _, own in by_slice[:-1] for o in own}) == [1, 2, 3]  # global indices
    assert by_slice[-1]["rows"] == 15 and by_slice[-1]["from_sidecars"] == 3


def test_a_subset_of_sources_keeps_its_indices_in_the_whole_through_groups_and_map_tasks():
    """The incremental check reads only the changed shards (``take``): their owners must still be
    their indices in the whole list, through ``plan_groups`` slices and ``for_map_task``."""
    cols = IdSources.of(_records(10))
    sub = cols.take(np.array([1, 4, 5, 8]))
    assert [s for _, s in sub.items()] == [cols[i] for i in (1, 4, 5, 8)]
    groups = plan_groups(sub, rows_per_task=10_000, files_per_task=3)
    assert [[i for i, _ in g.for_map_task().items()] for g in groups] == [[1, 4, 5], [8]]
    assert digest(sub) == digest([cols[i] for i in (1, 4, 5, 8)])
