"""What the last duplicate-id check saw, kept beside the scores so that the next check after a change
reads only the shards that changed.

A full check reads every done shard's id sidecar (8 bytes a row; on an object store one GET per
shard: 10K shards took ~45 s on the S3 emulator, RESULTS.md 5d) whenever anything changed since the
last report. Here each reduce task also saves its partition, the (hash, owner shard) pairs it
checked, and the driver saves which shards those owners are (relative path, sidecar flag, listed
fingerprint). The next check joins that list with the shards done now:

- a shard listed with the same fingerprint is *unchanged*: its hashes come from the saved partitions;
- any other done shard (new, rescored, or fingerprint changed) is read, as in a full check;
- a saved shard that is gone or changed has its saved hashes dropped (its owner maps to -1).

Each reduce task then holds the saved partition plus what the changed shards add to it, the same
bound as a full check (``ROWS_PER_PARTITION``), and the result is the full check's, exactly: the same
pairs of (hash, shard) are compared. The saved partitions are read whole, so a check still costs
O(rows) bytes; what it saves is the requests (one per partition instead of one per shard), the
sidecar reads of unchanged shards, and most of the sort: a partition is saved sorted by hash, so
the reduce task's stable sort (timsort) finds one long sorted run plus the changed rows (6M hashes:
1.1 s from random order, 0.03 s as a sorted run plus 1,000, measured). When the corpus outgrew the saved partition count, or the saved
state is unreadable or of another format, the check is a full one and saves a new state.

Files, under ``<scores>/_duplicate_ids/`` (``al_ray.layout.DUPLICATE_STATE_DIR``), each run's own
token in their names so that a check killed half way never mixes two runs' partitions::

    state.json                     {"version": 1, "token": T, "partitions": P}   written last
    covered-T.npz                  rels (S), sidecar (bool), fingerprints (S): the owners' shards
    part-T-00000.npz ...           hashes (uint64, sorted), owners (int32), one file per partition
    remap-T.npz                    while a check runs: each saved owner's index now (-1: dropped)

Plain ``.npz`` through ``al_ray.storage`` rather than Parquet: each file is two fixed-width numpy
columns that the reduce task holds as numpy arrays anyway.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from al_ray import storage
from al_ray.layout import DUPLICATE_STATE_FILE
from al_ray.security import scrub

log = logging.getLogger(__name__)

VERSION = 1
STATE_FILE = DUPLICATE_STATE_FILE
# A check that saves its state plans this many times the partitions its rows need, so the corpus can
# grow by a quarter before a partition would exceed ROWS_PER_PARTITION and a full check re-plans it.
GROWTH_ROOM = 1.25


def new_token() -> str:
    return uuid.uuid4().hex[:16]


def part_url(state_dir: str, token: str, p: int) -> str:
    return storage.join(state_dir, f"part-{token}-{p:05d}.npz")


def save_remap(state_dir: str, token: str, remap: np.ndarray, storage_options: Mapping[str, Any] | None) -> str:
    """The saved owners' indices now (-1: dropped), for the reduce tasks to read; returns its URL."""
    url = storage.join(state_dir, f"remap-{token}.npz")
    storage.write_bytes_atomic(url, _npz(remap=remap.astype(np.int32, copy=False)), storage_options)
    return url


def load_remap(url: str, storage_options: Mapping[str, Any] | None) -> np.ndarray:
    return _load_npz(url, storage_options)["remap"]


def remove_quietly(url: str, storage_options: Mapping[str, Any] | None) -> None:
    """A file of this state that is no longer needed: one left behind costs space, not correctness."""
    try:
        storage.remove(url, storage_options)
    except OSError as exc:
        log.warning("could not remove %s: %s", scrub(url), exc)


def _npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _load_npz(url: str, storage_options: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(storage.read_bytes(url, storage_options)), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def save_partition(url: str, hashes: np.ndarray, owners: np.ndarray, storage_options: Mapping[str, Any] | None) -> None:
    storage.write_bytes_atomic(url, _npz(hashes=hashes.astype(np.uint64, copy=False),
                                         owners=owners.astype(np.int32, copy=False)), storage_options)


def load_partition(url: str, storage_options: Mapping[str, Any] | None) -> tuple[np.ndarray, np.ndarray]:
    z = _load_npz(url, storage_options)
    return z["hashes"], z["owners"]


@dataclass
class SavedState:
    """The last check's state: its partition count, token and the shards its owners index."""

    state_dir: str
    token: str
    partitions: int
    rels: np.ndarray  # dtype S, sorted
    sidecar: np.ndarray
    fingerprints: np.ndarray

    def part_url(self, p: int) -> str:
        return part_url(self.state_dir, self.token, p)

    def join(self, rels: np.ndarray, sidecar: np.ndarray, fingerprints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(remap, changed) for the shards now done (``rels`` sorted): ``remap[i]`` is the index now of
        saved shard ``i`` when it is unchanged, else -1; ``changed`` marks the shards now done whose
        hashes must be read (not saved, or saved with another fingerprint or sidecar flag)."""
        from al_ray.scoring.keys import index_in

        pos = index_in(self.rels, rels)
        hit = pos >= 0
        same = hit.copy()
        same[hit] = (self.fingerprints[pos[hit]] == fingerprints[hit]) & (self.sidecar[pos[hit]] == sidecar[hit])
        remap = np.full(len(self.rels), -1, np.int32)
        remap[pos[same]] = np.flatnonzero(same).astype(np.int32)
        return remap, ~same


def load(state_dir: str, storage_options: Mapping[str, Any] | None) -> SavedState | None:
    """The saved state, or None (none yet, unreadable, another format: the check is then a full one)."""
    try:
        meta = json.loads(storage.read_bytes(storage.join(state_dir, STATE_FILE), storage_options))
        if meta.get("version") != VERSION:
            return None
        token, partitions = str(meta["token"]), int(meta["partitions"])
        z = _load_npz(storage.join(state_dir, f"covered-{token}.npz"), storage_options)
        return SavedState(state_dir, token, partitions, z["rels"], z["sidecar"], z["fingerprints"])
    except FileNotFoundError:
        return None
    except Exception as exc:  # a damaged state only costs a full check; say so
        log.warning("the duplicate-id check's saved state under %s is unreadable (%s: %s); checking every shard",
                    scrub(state_dir), type(exc).__name__, scrub(str(exc))[:200])
        return None


def commit(state_dir: str, token: str, partitions: int, rels: np.ndarray, sidecar: np.ndarray,
           fingerprints: np.ndarray, storage_options: Mapping[str, Any] | None) -> None:
    """Make ``token``'s partitions (already written by the reduce tasks) the saved state, then remove
    every other run's files. ``state.json`` is written after the shard list it names, so a reader
    sees either the old state or the new one whole."""
    storage.write_bytes_atomic(storage.join(state_dir, f"covered-{token}.npz"),
                               _npz(rels=rels, sidecar=sidecar, fingerprints=fingerprints), storage_options)
    storage.write_json_atomic(storage.join(state_dir, STATE_FILE),
                              {"version": VERSION, "token": token, "partitions": partitions}, storage_options)
    for fi in storage.iter_files(state_dir, storage_options):
        name = fi.url.rsplit("/", 1)[-1]
        if name != STATE_FILE and token not in name:
            remove_quietly(fi.url, storage_options)
