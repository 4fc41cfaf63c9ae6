"""Join candidate texts back from the corpus: read only the row groups holding candidate rows.

Candidates are grouped by their ``shard`` URL; for each shard only the text column (and the id
column, to check the corpus has not changed since it was scored) of the row groups that hold a
candidate row is read, and the wanted rows are taken. The corpus is never read whole.
"""

from __future__ import annotations

import posixpath
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from al_ray import storage
from al_ray.errors import InputError, StorageError
from al_ray.security import scrub
from al_ray.task import TaskConfig


def _exists(url: str, storage_options: Mapping[str, Any] | None, failures: list[str]) -> bool:
    """Whether ``url`` exists; a store that cannot be asked (unreachable, no credentials for it) is
    "not usable here", so the next candidate is tried, but the failure is kept for the error."""
    try:
        return storage.exists(url, storage_options)
    except Exception as exc:  # noqa: BLE001 - s3fs/gcsfs raise their clients' own types
        failures.append(f"{scrub(url)}: {type(exc).__name__}: {scrub(str(exc))}")
        return False


def locate_shard(shard: str, corpus: str | None, storage_options: Mapping[str, Any] | None = None) -> str:
    """The readable URL of a corpus shard named in a score file.

    ``shard`` as written by the scorer is used when it exists; a relative name is taken under
    ``corpus``; a shard that moved is looked for under ``corpus`` by its file name.
    """
    has_scheme = "://" in shard
    if not has_scheme and not shard.startswith("/") and corpus:
        return storage.join(corpus, shard)
    if corpus and shard.startswith(corpus.rstrip("/")):
        return shard
    failures: list[str] = []
    if _exists(shard, storage_options, failures):
        return shard
    if corpus:
        fs, path = storage.resolve(corpus, storage_options)
        if _exists(corpus, storage_options, failures) and fs.isfile(path):
            return corpus
        cand = storage.join(corpus, posixpath.basename(shard.split("://", 1)[-1]))
        if _exists(cand, storage_options, failures):
            return cand
    if failures:  # not "does not exist": the store could not say (credentials, network)
        raise StorageError(f"{scrub(shard)}: cannot locate the corpus shard; asking the store failed: "
                           + "; ".join(failures))
    raise InputError(f"corpus shard not found (also looked under --corpus {corpus})", location=shard)


def _read_rows(url: str, rows: np.ndarray, ids: list[str], task: TaskConfig,
               storage_options: Mapping[str, Any] | None) -> list[str | None]:
    fs, path = storage.resolve(url, storage_options)
    with fs.open(path, "rb") as f:
        pf = pq.ParquetFile(f)
        names = pf.schema_arrow.names
        if task.text_column not in names:
            raise InputError(f"corpus shard has no text column {task.text_column!r} (columns: {names})", location=url)
        check_ids = task.id_column is not None and task.id_column in names
        cols = [task.text_column] + ([task.id_column] if check_ids else [])
        md = pf.metadata
        bounds = np.cumsum([0] + [md.row_group(i).num_rows for i in range(md.num_row_groups)])
        total = int(bounds[-1])
        bad = rows[(rows < 0) | (rows >= total)]
        if len(bad):
            raise InputError(f"score rows {bad[:5].tolist()} are beyond the shard's {total} rows: "
                             "the corpus changed since it was scored", location=url)
        rg_of = np.searchsorted(bounds, rows, side="right") - 1
        texts: list[str | None] = [None] * len(rows)
        for rg in np.unique(rg_of):
            sel = np.flatnonzero(rg_of == rg)
            t = pf.read_row_group(int(rg), columns=cols)
            local = pa.array(rows[sel] - bounds[rg])
            got = t.column(task.text_column).take(local).to_pylist()
            if check_ids:
                got_ids = t.column(task.id_column).take(local).cast(pa.string()).to_pylist()
                for j, gid in zip(sel, got_ids):
                    if gid != ids[j]:
                        raise InputError(f"row {int(rows[j])} has id {gid!r} but the score file says "
                                         f"{ids[j]!r}: the corpus changed since it was scored", location=url)
            for j, txt in zip(sel, got):
                texts[j] = txt
    return texts


def join_texts(table: pa.Table, task: TaskConfig, corpus: str | None,
               storage_options: Mapping[str, Any] | None = None, workers: int = 4) -> pa.Array:
    """Texts for the pool's rows (same order), read from the corpus shards named in ``shard``."""
    shards = table.column("shard").cast(pa.string()).to_pylist()
    rows = table.column("row").to_numpy(zero_copy_only=False).astype(np.int64)
    ids = table.column("id").cast(pa.string()).to_pylist()
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(shards):
        if s is None:
            raise InputError(f"candidate {ids[i]!r} has no shard: cannot find its text")
        groups.setdefault(s, []).append(i)
    out: list[str | None] = [None] * len(table)

    def one(item: tuple[str, list[int]]) -> None:
        shard, idx = item
        url = locate_shard(shard, corpus, storage_options)
        try:
            got = _read_rows(url, rows[idx], [ids[i] for i in idx], task, storage_options)
        except (InputError, StorageError):
            raise
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"cannot read corpus shard: {exc}", location=url) from exc
        for i, txt in zip(idx, got):
            out[i] = txt

    items = sorted(groups.items())
    if workers <= 1 or len(items) <= 1:
        for item in items:
            one(item)
    else:
        with ThreadPoolExecutor(max_workers=min(workers, len(items))) as ex:
            list(ex.map(one, items))
    return pa.array(out, pa.string())
