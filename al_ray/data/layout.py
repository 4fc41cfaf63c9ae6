"""Where a prepared data set's files live, and the gold/test-split files' written schema.

A prepared data set (demo corpus, Davidson tweets, synthetic corpus) is three siblings::

    DATA/corpus/part-00000.parquet ...   id: string, text: string   <- what the model sees
    DATA/corpus/_dataset.json            how it was made (ignored by shard listing: leading "_")
    DATA/gold/gold.parquet               id, label, n_annotators, votes_<label>..., tie, split, ...
    DATA/gold/test_ids.parquet           id: string (the held-out evaluation items)
    DATA/gold/dataset.json               counts, class rates, ties, seed, parsing notes

Why gold sits *beside* the corpus and never inside it: corpus listing
(``storage.list_files``) is recursive, so a gold file under the corpus folder would be scored as
a shard, and the labels would leak into what the model sees. The default gold location is the
corpus URL's sibling ``gold`` (``s3://b/demo/corpus`` -> ``s3://b/demo/gold``); pass ``gold_url``
to put it anywhere else (e.g. a bucket the annotators' simulator may read but the scorers not).

Test ids are part of the corpus (the model must score them to be evaluated); the driver keeps them
out of selection and labels them only for evaluation.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pyarrow as pa

from al_ray.errors import ConfigError, InputError
from al_ray.layout import (  # noqa: F401  (re-exported: the names' home is al_ray.layout)
    CORPUS_INFO_FILE, GOLD_DIR, GOLD_FILE, GOLD_INFO_FILE, TEST_IDS_FILE, gold_file, shard_name,
    test_ids_file,
)
from al_ray.schemas import (  # noqa: F401  (re-exported: the schemas' home is al_ray.schemas)
    GOLD_CORE_COLUMNS, SPLIT_TEST, SPLIT_TRAIN, TEST_IDS_SCHEMA, gold_schema, votes_column,
)
from al_ray.security import scrub
from al_ray.storage import join, read_json, read_parquet


def default_gold_url(corpus_url: str) -> str:
    """The corpus URL's sibling folder ``gold``; refuses a corpus at a bucket/filesystem root."""
    url = str(corpus_url).rstrip("/")
    scheme, sep, path = url.partition("://")
    if not sep:
        scheme, path = "", url
    parent = posixpath.dirname(path)
    # "s3://bucket" has path "bucket" whose dirname is "": no sibling exists inside the bucket.
    if not parent or parent == path or (sep and "/" not in path):
        raise ConfigError(
            f"cannot place gold beside corpus {corpus_url!r} (it is a root); pass gold_url explicitly"
        )
    return f"{scheme}{sep}{posixpath.join(parent, GOLD_DIR)}"


@dataclass(frozen=True)
class PreparedDataset:
    """The URLs of one prepared data set plus its headline figures (returned by every generator)."""

    corpus_url: str
    gold_url: str
    n_rows: int
    n_shards: int
    labels: tuple[str, ...]
    positive_label: str
    positive_rate: float
    n_test: int
    n_ties: int
    shard_urls: tuple[str, ...]
    extra: Mapping[str, Any]

    @property
    def gold_file(self) -> str:
        return join(self.gold_url, GOLD_FILE)

    @property
    def test_ids_file(self) -> str:
        return join(self.gold_url, TEST_IDS_FILE)

    @property
    def info_file(self) -> str:
        return join(self.gold_url, GOLD_INFO_FILE)


def read_gold(gold_url: str, storage_options: Mapping[str, Any] | None = None, *,
              required: Sequence[str] = GOLD_CORE_COLUMNS) -> pa.Table:
    """Read ``gold.parquet`` from a gold folder (or the file itself), check it has the ``required``
    columns (by default the core columns of ``schemas.gold_schema``), and return it with ``id`` as
    strings. The simulator asks only for ``id`` (a hand-made gold file may hold just id and votes)."""
    url = gold_file(gold_url)
    try:
        table = read_parquet(url, storage_options)
    except FileNotFoundError as exc:
        raise InputError("gold file not found", location=scrub(url)) from exc
    missing = [c for c in required if c not in table.schema.names]
    if missing:
        raise InputError(f"gold file lacks columns {missing}", location=scrub(url))
    if "id" in table.schema.names and not pa.types.is_string(table.schema.field("id").type):
        table = table.set_column(table.schema.get_field_index("id"), "id", table["id"].cast(pa.string()))
    return table


def read_test_ids(gold_url: str, storage_options: Mapping[str, Any] | None = None) -> list[str]:
    url = test_ids_file(gold_url)
    try:
        table = read_parquet(url, storage_options, columns=["id"])
    except FileNotFoundError as exc:
        raise InputError("test id file not found", location=scrub(url)) from exc
    return table.column("id").to_pylist()


def read_gold_info(gold_url: str, storage_options: Mapping[str, Any] | None = None) -> dict:
    return read_json(join(gold_url, GOLD_INFO_FILE), storage_options)
