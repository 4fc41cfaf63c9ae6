"""Texts are joined back by (shard, row), reading only the needed row groups."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from al_ray import storage
from al_ray.errors import InputError
from al_ray.selection.texts import join_texts
from al_ray.task import TaskConfig

TASK = TaskConfig(labels=["neg", "pos"])


def _corpus(root, n=100):
    storage.write_parquet_atomic(pa.table({"id": [f"d{i}" for i in range(n)], "text": [f"text {i}" for i in range(n)]}),
                                 f"{root}/c/a.parquet", row_group_size=7)
    return f"{root}/c/a.parquet"


def test_join_texts_across_row_groups(tmp_path):
    shard = _corpus(tmp_path)
    rows = np.array([99, 0, 50, 7, 6])
    t = pa.table({"id": [f"d{r}" for r in rows], "shard": [shard] * 5, "row": rows})
    assert join_texts(t, TASK, None).to_pylist() == [f"text {r}" for r in rows]


def test_moved_shard_found_under_corpus(tmp_path):
    _corpus(tmp_path)
    t = pa.table({"id": ["d3"], "shard": ["s3://old-bucket/corpus/a.parquet"], "row": [3]})
    assert join_texts(t, TASK, f"{tmp_path}/c").to_pylist() == ["text 3"]
    t = pa.table({"id": ["d3"], "shard": ["a.parquet"], "row": [3]})  # relative shard name
    assert join_texts(t, TASK, f"{tmp_path}/c").to_pylist() == ["text 3"]


def test_changed_corpus_is_an_error(tmp_path):
    shard = _corpus(tmp_path)
    with pytest.raises(InputError, match="changed"):
        join_texts(pa.table({"id": ["d4"], "shard": [shard], "row": [5]}), TASK, None)
    with pytest.raises(InputError, match="beyond"):
        join_texts(pa.table({"id": ["d4"], "shard": [shard], "row": [500]}), TASK, None)
    with pytest.raises(InputError, match="text column"):
        join_texts(pa.table({"id": ["d4"], "shard": [shard], "row": [4]}),
                   TaskConfig(labels=["a", "b"], text_column="body"), None)
    with pytest.raises(InputError, match="not found"):
        join_texts(pa.table({"id": ["d4"], "shard": [f"{tmp_path}/nope.parquet"], "row": [4]}), TASK, None)
