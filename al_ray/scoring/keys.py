"""Sorted UTF-8 keys in numpy arrays: how the driver looks up 100K relative paths at once.

The output listing (``listing``) and the corpus listing (``shard_table``) both hold their paths as
one sorted numpy ``S`` array and answer "where is each of these paths" with one ``searchsorted``
rather than a Python dict of 100K strings. Numpy rather than Arrow: building a first Arrow array
from Python objects imports pandas into the driver (~40 MiB), which otherwise never needs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

_FLUSH = 1024  # entries gathered as Python objects (~75 B each) before they become one numpy chunk


def utf8_keys(values: Sequence[str] | np.ndarray) -> np.ndarray:
    """``values`` as a numpy ``S`` array of their UTF-8 bytes (returned as is when it is one)."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "S":
        return values
    return np.array([v.encode("utf-8") for v in values], dtype=bytes) if len(values) else np.zeros(0, "S1")


def index_in(keys: np.ndarray, query: Iterable[str] | np.ndarray) -> np.ndarray:
    """Position of each of ``query`` in the sorted ``keys``, -1 where it is not there."""
    q = utf8_keys(query if isinstance(query, np.ndarray) else list(query))
    if not len(keys) or not len(q):
        return np.full(len(q), -1, np.int64)
    pos = np.searchsorted(keys, q)
    hit = keys[np.minimum(pos, len(keys) - 1)] == q
    return np.where(hit, pos, -1).astype(np.int64)


@dataclass
class KeyColumns:
    """Gathers (key, size, fingerprint) in small Python batches and keeps them as numpy chunks, then
    gives the three columns sorted by key (``finish``): how both listings are built.

    One chunk list per column, so ``finish`` can drop each column's chunks as soon as they are joined:
    the listing's peak is then about twice one column, not the chunks plus every joined and sorted copy."""

    keys: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    fps: list[str] = field(default_factory=list)
    key_chunks: list[np.ndarray] = field(default_factory=list)
    size_chunks: list[np.ndarray] = field(default_factory=list)
    fp_chunks: list[np.ndarray] = field(default_factory=list)

    def add(self, key: str, size: int = 0, fp: str = "") -> None:
        self.keys.append(key)
        self.sizes.append(size)
        self.fps.append(fp)
        if len(self.keys) >= _FLUSH:
            self.flush()

    def flush(self) -> None:
        if self.keys:
            self.key_chunks.append(utf8_keys(self.keys))
            self.size_chunks.append(np.asarray(self.sizes, np.int64))
            self.fp_chunks.append(utf8_keys(self.fps))
            self.keys, self.sizes, self.fps = [], [], []

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(keys, sizes, fingerprints), sorted by key."""
        self.flush()
        if not self.key_chunks:
            return np.zeros(0, "S1"), np.zeros(0, np.int64), np.zeros(0, "S1")
        keys = _joined(self.key_chunks)
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        sizes = _joined(self.size_chunks)[order]
        return keys, sizes, _joined(self.fp_chunks)[order]


def _joined(chunks: list[np.ndarray]) -> np.ndarray:
    """The chunks as one array; the list is emptied so the chunks are freed once joined."""
    out = np.concatenate(chunks)
    chunks.clear()
    return out
