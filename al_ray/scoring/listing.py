"""One listing of a scoring output prefix, joined with the shards it is for as it is walked.

The driver lists the output once per run (paged on object stores, ~1 request per 1,000 keys) rather
than asking for each shard's ``.done`` marker. At 100K shards that listing names ~400K objects. Held
as Python ``set``/``dict`` entries it cost ~0.5 KB a shard; held as its own sorted numpy columns
(one array of keys per kind of file, then looked up) it still cost ~140 bytes a shard plus a sort's
copies, and was the largest part of the driver's growth between 10K and 100K shards
(benchmarks/RESULTS.md 5b). Here the listing is never held at all: the walk's files are gathered a
few thousand at a time, matched against the shards' sorted keys in one vectorised lookup
(``al_ray.scoring.keys``), and what they say is written into columns with one entry per shard (done
or not, the id sidecar's and the score file's size and fingerprint): ~50 bytes a shard, no keys of
its own, nothing to sort. Output files of shards not asked about (removed from the corpus, or
filtered out) are counted and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from al_ray import storage
from al_ray.scoring.keys import index_in, utf8_keys

_BATCH = 4096  # walked files gathered as Python objects before one vectorised lookup


@dataclass
class OutputListing:
    """What one listing of the output prefix found for each of ``keys`` (sorted relative paths).

    ``done``: its ``.done`` marker is listed. ``sidecar_sizes``/``sidecar_fps``: its id sidecar
    (``<score file>.ids.npy``; size -1: none). ``score_sizes``/``score_fps``: its score file, the
    duplicate check's fallback where a sidecar is missing (files scored before sidecars existed).
    Sizes plan the check's partitions; fingerprints make its digest. ``unmatched``: output files of
    no shard among ``keys``.
    """

    keys: np.ndarray  # dtype S: the shards' UTF-8 relative paths, sorted (the caller's array, not a copy)
    done: np.ndarray  # bool
    sidecar_sizes: np.ndarray  # int64, -1 where not listed
    sidecar_fps: np.ndarray  # dtype S
    score_sizes: np.ndarray  # int64, -1 where not listed
    score_fps: np.ndarray  # dtype S
    unmatched: int = 0

    def __len__(self) -> int:
        return len(self.keys)

    def index_of(self, rels: Sequence[str] | np.ndarray) -> np.ndarray:
        """Position of each of ``rels`` among the keys, -1 where it is not one."""
        return index_in(self.keys, rels)

    def is_done(self, rel: str) -> bool:
        i = int(self.index_of([rel])[0])
        return i >= 0 and bool(self.done[i])

    def sidecar(self, rel: str) -> tuple[int, str] | None:
        """(size, fingerprint) of one shard's id sidecar, or None (a scalar lookup, for tests)."""
        return self._file(rel, self.sidecar_sizes, self.sidecar_fps)

    def score_file(self, rel: str) -> tuple[int, str] | None:
        return self._file(rel, self.score_sizes, self.score_fps)

    def _file(self, rel: str, sizes: np.ndarray, fps: np.ndarray) -> tuple[int, str] | None:
        i = int(self.index_of([rel])[0])
        return None if i < 0 or sizes[i] < 0 else (int(sizes[i]), fps[i].decode("utf-8"))


class _Columns:
    """The per-shard columns being filled; a fingerprint column widens when a longer one arrives."""

    def __init__(self, keys: np.ndarray) -> None:
        n = len(keys)
        self.keys, self.unmatched = keys, 0
        self.done = np.zeros(n, bool)
        self.sizes = {"sidecar": np.full(n, -1, np.int64), "score": np.full(n, -1, np.int64)}
        self.fps = {"sidecar": np.zeros(n, "S1"), "score": np.zeros(n, "S1")}

    def put(self, kind: str, rels: list[str], sizes: list[int], fps: list[str]) -> None:
        pos = index_in(self.keys, rels)
        hit = pos >= 0
        self.unmatched += int((~hit).sum())
        if kind == "done":
            self.done[pos[hit]] = True
            return
        self.sizes[kind][pos[hit]] = np.asarray(sizes, np.int64)[hit]
        new = utf8_keys(fps)[hit]
        if new.dtype.itemsize > self.fps[kind].dtype.itemsize:
            self.fps[kind] = self.fps[kind].astype(new.dtype)
        self.fps[kind][pos[hit]] = new

    def listing(self) -> OutputListing:
        return OutputListing(self.keys, self.done, self.sizes["sidecar"], self.fps["sidecar"],
                             self.sizes["score"], self.fps["score"], self.unmatched)


def list_outputs(out: str, keys: Sequence[str] | np.ndarray, storage_options: dict | None = None) -> OutputListing:
    """One recursive listing of ``out`` (``storage.iter_files``, a folder at a time), joined with the
    shards whose sorted relative paths are ``keys`` (``ShardTable.keys()``)."""
    from al_ray.layout import SCORE_IDS_SUFFIX
    from al_ray.scoring.reader import normalise_url

    keys = utf8_keys(keys)
    if len(keys) > 1 and not bool(np.all(keys[:-1] < keys[1:])):
        raise ValueError("list_outputs needs the shards' keys sorted and distinct (ShardTable.keys() is)")
    root = normalise_url(out, storage_options) + "/"
    columns = _Columns(keys)
    suffixes = {"done": storage.DONE_SUFFIX, "sidecar": SCORE_IDS_SUFFIX}  # anything else ".parquet": a score file
    batch: dict[str, tuple[list[str], list[int], list[str]]] = {k: ([], [], []) for k in ("done", "sidecar", "score")}

    def flush(kind: str) -> None:
        if batch[kind][0]:
            columns.put(kind, *batch[kind])
            batch[kind] = ([], [], [])

    for fi in storage.iter_files(out, storage_options):
        if not fi.url.startswith(root):
            continue
        rel = fi.url[len(root):]
        kind = next((k for k, suffix in suffixes.items() if rel.endswith(suffix)), "score")
        if kind != "score":
            rel = rel[: -len(suffixes[kind])]
        elif not rel.endswith(".parquet"):
            continue
        rels, sizes, fps = batch[kind]
        rels.append(rel)
        sizes.append(fi.size)
        fps.append(fi.fingerprint)
        if len(rels) >= _BATCH:
            flush(kind)
    for kind in batch:
        flush(kind)
    return columns.listing()
