"""Shared writing steps of every prepared data set: shards, gold, test split, info files.

Kept in one place so the demo corpus and the Davidson preparation produce the same layout
(``al_ray.data.layout``) and the same guarantees: shards are published atomically through
``al_ray.storage``, written in a fixed order with fixed Parquet settings, so the same inputs give
byte-identical files (a regenerated corpus has the same fingerprints, and a resumed run does not
rescore it).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa

from al_ray.errors import ConfigError
from al_ray.layout import CORPUS_INFO_FILE, GOLD_FILE, GOLD_INFO_FILE, TEST_IDS_FILE, shard_name
from al_ray.schemas import SPLIT_TEST, SPLIT_TRAIN, TEST_IDS_SCHEMA
from al_ray.storage import join, write_json_atomic, write_parquet_atomic

CORPUS_SCHEMA = pa.schema([pa.field("id", pa.string(), nullable=False), pa.field("text", pa.string())])

# Fixed writer settings: part of the "same seed -> same bytes" promise.
PARQUET_KWARGS: dict[str, Any] = {"compression": "zstd", "row_group_size": 1 << 20}


def shard_bounds(n_rows: int, n_shards: int) -> list[tuple[int, int]]:
    """Contiguous [start, stop) row ranges; sizes differ by at most one row."""
    if n_shards < 1:
        raise ConfigError(f"n_shards must be >= 1, got {n_shards}")
    edges = np.linspace(0, n_rows, n_shards + 1).round().astype(np.int64)
    return [(int(edges[i]), int(edges[i + 1])) for i in range(n_shards)]


def write_shards(
    corpus_url: str,
    ids: Sequence[str],
    texts: Sequence[str],
    n_shards: int,
    storage_options: Mapping[str, Any] | None = None,
) -> list[str]:
    """Write ``part-NNNNN.parquet`` shards (id, text) and return their URLs in order."""
    if len(ids) != len(texts):
        raise ValueError("ids and texts differ in length")
    if n_shards > max(1, len(ids)):
        raise ConfigError(f"n_shards={n_shards} exceeds the number of rows ({len(ids)})")
    urls = []
    for i, (lo, hi) in enumerate(shard_bounds(len(ids), n_shards)):
        table = pa.table({"id": pa.array(ids[lo:hi], pa.string()), "text": pa.array(texts[lo:hi], pa.string())},
                         schema=CORPUS_SCHEMA)
        url = join(corpus_url, shard_name(i))
        write_parquet_atomic(table, url, storage_options, **dict(PARQUET_KWARGS))
        urls.append(url)
    return urls


def stratified_test_mask(
    labels: np.ndarray, test_fraction: float, rng: np.random.Generator, groups: np.ndarray | None = None
) -> np.ndarray:
    """Seeded test split, stratified by label so a 6%-positive task keeps 6% in test.

    ``groups`` (optional, one key per row) keeps rows of a group on the same side: near-duplicate
    retweets in both train and test would inflate test agreement.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in [0, 1), got {test_fraction}")
    n = len(labels)
    mask = np.zeros(n, dtype=bool)
    if test_fraction == 0.0 or n == 0:
        return mask
    if groups is None:
        groups = np.arange(n)
    # One representative label per group (the first row's), then split groups per label.
    uniq, first_idx, inverse = np.unique(groups, return_index=True, return_inverse=True)
    group_labels = labels[first_idx]
    test_groups = np.zeros(len(uniq), dtype=bool)
    for lab in np.unique(group_labels):
        members = np.flatnonzero(group_labels == lab)
        members = members[rng.permutation(len(members))]
        k = int(round(test_fraction * len(members)))
        test_groups[members[:k]] = True
    mask[:] = test_groups[inverse]
    return mask


def split_column(test_mask: np.ndarray) -> pa.Array:
    return pa.array(np.where(test_mask, SPLIT_TEST, SPLIT_TRAIN).tolist(), pa.string())


def write_gold_files(
    gold_url: str,
    gold: pa.Table,
    info: Mapping[str, Any],
    storage_options: Mapping[str, Any] | None = None,
) -> None:
    """gold.parquet, test_ids.parquet (ids whose split is "test", in corpus order), dataset.json."""
    write_parquet_atomic(gold, join(gold_url, GOLD_FILE), storage_options, **dict(PARQUET_KWARGS))
    is_test = np.asarray(gold.column("split").to_numpy(zero_copy_only=False)) == SPLIT_TEST
    test_ids = pa.table({"id": gold.column("id").filter(pa.array(is_test))}, schema=TEST_IDS_SCHEMA)
    write_parquet_atomic(test_ids, join(gold_url, TEST_IDS_FILE), storage_options, **dict(PARQUET_KWARGS))
    write_json_atomic(join(gold_url, GOLD_INFO_FILE), dict(info), storage_options)


def write_corpus_info(corpus_url: str, info: Mapping[str, Any],
                      storage_options: Mapping[str, Any] | None = None) -> None:
    """``_dataset.json`` inside the corpus folder: provenance only, never labels."""
    write_json_atomic(join(corpus_url, CORPUS_INFO_FILE), dict(info), storage_options)
