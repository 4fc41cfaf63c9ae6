"""Find corpus shards, check their schemas from Parquet footers, and stream their rows.

Schemas are checked from footers only (a few KB each). The driver checks a small sample before
any engine starts (``sample_shards``: the first shard and a seeded handful), so a wrong column name
fails the job in seconds instead of after hours of GPU time; every other shard's footer is checked
by the scoring actor that opens it (``check_shard``), so the driver never reads 100K footers one
after another. A shard whose footer cannot be read, or whose columns drifted, is *not* fatal when
an actor finds it: it is quarantined with its reason while the others are scored. Rows are streamed
in record batches; a shard is never loaded whole.
"""

from __future__ import annotations

import posixpath
import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from operator import attrgetter
from typing import Any, Iterator, Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from al_ray.errors import ConfigError, InputError
from al_ray.security import scrub
from al_ray.scoring.shard_table import Shard, ShardTable
from al_ray.storage import FileInfo, is_storage_error, join, list_files, resolve, unstrip, walk_files
from al_ray.task import TaskConfig


def relative_path(root: str, url: str) -> str:
    root_s, url_s = root.rstrip("/"), url
    if url_s == root_s:
        return posixpath.basename(url_s)
    if not url_s.startswith(root_s + "/"):
        raise ConfigError(f"shard {scrub(url)} is not under the corpus root {scrub(root)}")
    return url_s[len(root_s) + 1:]


def normalise_url(url: str, storage_options: Mapping[str, Any] | None = None) -> str:
    """The form ``list_files`` reports (absolute local paths, ``s3://bucket/key``)."""
    fs, path = resolve(url, storage_options)
    return unstrip(fs, path, url).rstrip("/")


def list_shards(corpus: str, storage_options: Mapping[str, Any] | None = None,
                 only: list[str] | None = None) -> ShardTable:
    """Every ``*.parquet`` under ``corpus`` (or a single file), or just ``only`` (URLs under it), as
    one ``ShardTable`` sorted by relative path: columns, not a record per shard (its module doc)."""
    corpus = normalise_url(corpus, storage_options)
    if only is not None:
        infos: list[FileInfo] = list_files(corpus, ".parquet", storage_options)
        only = [normalise_url(u, storage_options) for u in only]
        by_url = {fi.url: fi for fi in infos}
        missing = [u for u in only if u not in by_url]
        if missing:
            raise ConfigError(f"shards not found under {scrub(corpus)}: {[scrub(m) for m in missing[:5]]}")
        found: Iterator[FileInfo] = iter([by_url[u] for u in dict.fromkeys(only)])
    else:
        # streamed: a 100K-shard listing never holds a FileInfo per shard
        found = walk_files(corpus, ".parquet", storage_options)
    first = next(found, None)
    # the corpus itself is the only file listed when it names a file: its root is its folder
    # ("" for a file at "/": its url is "/" + rel)
    single = first is not None and first.url.rstrip("/") == corpus
    root = posixpath.dirname(corpus).rstrip("/") if single else corpus
    return ShardTable.build(root, _pairs(root, first, found))


def _pairs(root: str, first: FileInfo | None, rest: Iterator[FileInfo]) -> Iterator[tuple[str, str]]:
    if first is None:
        return
    yield relative_path(root, first.url), first.fingerprint
    for fi in rest:
        yield relative_path(root, fi.url), fi.fingerprint


def _check_one(shard: Shard, task: TaskConfig, storage_options: Mapping[str, Any] | None) -> Shard:
    fs, path = resolve(shard.url, storage_options)
    try:
        with fs.open(path, "rb") as f:
            meta = pq.ParquetFile(f).metadata
            schema = meta.schema.to_arrow_schema()
    except Exception as exc:  # corrupt footer, truncated upload, storage error after retries ...
        if is_storage_error(exc):
            return replace(shard, num_rows=None, error_kind="failed",
                           error=f"cannot read {scrub(shard.url)}: {type(exc).__name__}: {scrub(str(exc))}")
        return replace(shard, num_rows=None, error=f"unreadable Parquet: {type(exc).__name__}: {scrub(str(exc))}")
    needed = [task.text_column] + ([task.id_column] if task.id_column else [])
    for col in needed:
        if col not in schema.names:
            kind = "text" if col == task.text_column else "id"
            raise InputError(f"missing {kind} column {col!r} (columns: {schema.names})", location=scrub(shard.url))
    t = schema.field(task.text_column).type
    if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
            or pa.types.is_large_binary(t) or pa.types.is_null(t) or pa.types.is_string_view(t)):
        raise InputError(f"text column {task.text_column!r} has type {t}, expected string", location=scrub(shard.url))
    if task.id_column:
        t = schema.field(task.id_column).type
        if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
                or pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_integer(t)
                or pa.types.is_null(t)):
            raise InputError(f"id column {task.id_column!r} has type {t}, expected string or integer",
                             location=scrub(shard.url))
    return replace(shard, num_rows=meta.num_rows, error=None)


check_shard = _check_one  # public name: the scoring actor checks each shard it opens with it

PREFLIGHT_SAMPLE = 16  # footers the driver reads up front; every shard when the corpus is this small


def sample_shards(shards: ShardTable | list[Shard], k: int | None = None) -> list[int]:
    """Indices of the shards the driver checks up front: the first one (a corpus whose columns are
    named differently fails on it) plus a seeded handful picked by a hash of their relative paths
    (stable across runs and machines, spread over the whole listing rather than its head). All of
    them when there are at most ``k``. O(shards) hashing, no I/O."""
    k = PREFLIGHT_SAMPLE if k is None else k
    n = len(shards)
    if n <= k:
        return list(range(n))
    keys = shards.keys() if isinstance(shards, ShardTable) else [s.rel.encode("utf-8") for s in shards]
    rest = sorted(range(1, n), key=lambda i: hashlib.sha256(keys[i]).digest())[: max(k - 1, 0)]
    return [0] + sorted(rest)


def check_shards(shards: ShardTable | list[Shard], task: TaskConfig, storage_options: Mapping[str, Any] | None = None,
                 threads: int = 16) -> list[Shard]:
    """Footer check of every shard; raises ``InputError`` on a missing column, flags unreadable ones."""
    if not shards:
        return []
    with ThreadPoolExecutor(max_workers=min(threads, len(shards))) as pool:
        return list(pool.map(lambda s: _check_one(s, task, storage_options), shards))


def iter_batches(url: str, columns: list[str], batch_rows: int,
                 storage_options: Mapping[str, Any] | None = None) -> Iterator[pa.RecordBatch]:
    """Stream ``columns`` of one shard, row group by row group, ``batch_rows`` at a time."""
    fs, path = resolve(url, storage_options)
    with fs.open(path, "rb") as f:
        pf = pq.ParquetFile(f)
        yield from pf.iter_batches(batch_size=batch_rows, columns=columns)


def score_url(out: str, rel: str) -> str:
    return join(out, rel)
