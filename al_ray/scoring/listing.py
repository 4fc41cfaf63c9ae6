"""One listing of a scoring output prefix, held as numpy columns: what is done, and each file's size.

The driver lists the output once per run (paged on object stores, ~1 request per 1,000 keys) rather
than asking for each shard's ``.done`` marker. At 100K shards that listing names ~400K objects; held
as Python ``set``/``dict`` entries of strings and tuples it cost ~0.5 KB a shard, and was the largest
part of the driver's growth between 10K and 100K shards (benchmarks/RESULTS.md 5b). Here each kind of
file is one sorted numpy array of UTF-8 relative paths (fixed-width bytes, ``np.searchsorted``
for lookups) with numpy arrays of sizes and fingerprints: ~100 bytes a file, built a few thousand
entries at a time so the listing never exists as Python objects all at once, and looked up for every
shard in one vectorised call (``al_ray.scoring.keys``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from al_ray import storage
from al_ray.scoring.keys import KeyColumns, index_in

@dataclass
class ListedFiles:
    """Files of one kind, keyed by the relative path of the score file they belong to (sorted)."""

    keys: np.ndarray  # dtype S: UTF-8 relative paths, sorted
    sizes: np.ndarray  # int64
    fingerprints: np.ndarray  # dtype S: UTF-8

    def __len__(self) -> int:
        return len(self.keys)

    def index_of(self, rels: Sequence[str] | np.ndarray) -> np.ndarray:
        """Position of each of ``rels`` among the keys, -1 where it is not listed."""
        return index_in(self.keys, rels)

    def fingerprint(self, i: int) -> str:
        return self.fingerprints[i].decode("utf-8")

    def get(self, rel: str) -> tuple[int, str] | None:
        """(size, fingerprint) of one file, or None (a scalar lookup, for tests and single shards)."""
        i = int(self.index_of([rel])[0])
        return None if i < 0 else (int(self.sizes[i]), self.fingerprint(i))


@dataclass
class OutputListing:
    """What one listing of the output prefix found.

    ``done``: score files whose ``.done`` marker is listed. ``sidecars``: id sidecars
    (``<score file>.ids.npy``), keyed by their score file. ``scores``: the score files themselves,
    the duplicate check's fallback where a sidecar is missing (files scored before sidecars existed).
    Sizes plan the check's partitions; fingerprints make its digest.
    """

    done: ListedFiles
    sidecars: ListedFiles
    scores: ListedFiles

    def done_mask(self, rels: Sequence[str] | np.ndarray) -> np.ndarray:
        """True for each of ``rels`` whose ``.done`` marker is listed."""
        return self.done.index_of(rels) >= 0

    def is_done(self, rel: str) -> bool:
        return bool(self.done_mask([rel])[0])


def list_outputs(out: str, storage_options: dict | None = None) -> OutputListing:
    """One recursive listing of ``out``, streamed a folder at a time (``storage.iter_files``)."""
    from al_ray.layout import SCORE_IDS_SUFFIX
    from al_ray.scoring.reader import normalise_url

    root = normalise_url(out, storage_options) + "/"
    done, sidecars, scores = KeyColumns(), KeyColumns(), KeyColumns()
    for fi in storage.iter_files(out, storage_options):
        if not fi.url.startswith(root):
            continue
        rel = fi.url[len(root):]
        if rel.endswith(storage.DONE_SUFFIX):
            done.add(rel[: -len(storage.DONE_SUFFIX)])
        elif rel.endswith(SCORE_IDS_SUFFIX):
            sidecars.add(rel[: -len(SCORE_IDS_SUFFIX)], fi.size, fi.fingerprint)
        elif rel.endswith(".parquet"):
            scores.add(rel, fi.size, fi.fingerprint)
    return OutputListing(ListedFiles(*done.finish()), ListedFiles(*sidecars.finish()), ListedFiles(*scores.finish()))
