"""The corpus listing the driver plans from, held as columns rather than one object per shard.

At 100K shards a list of ``Shard`` records cost ~250 bytes a shard in the driver (the record, its
relative path and its fingerprint as Python strings: benchmarks/RESULTS.md 5b), and the plan kept
four lists of them (every shard, the readable ones, the done ones, the ones to do). Here the listing
is one sorted numpy array of UTF-8 relative paths, one of fingerprints and one of row counts (-1:
the footer was not read), with the few sampled footers' errors beside them; the plan's subsets are
views (index arrays) into it. A ``Shard`` is made only when one is asked for (``table[i]``, or while
iterating), for the shards a caller actually touches: the ones dispatched to an actor, the failed
ones it reports. Lookups by path go through ``al_ray.scoring.keys``, as the output listing's do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from al_ray.scoring.keys import KeyColumns, index_in
from al_ray.security import scrub

@dataclass(frozen=True, slots=True)
class Shard:
    """One corpus shard: what a scoring actor is sent and what a failure report names. The driver
    holds its listing as a ``ShardTable`` and makes these only for the shards it touches; a shard
    keeps its root (one string shared by every shard of a table) and relative path, not also the URL."""

    root: str  # the corpus root the shard is listed under; ``url`` is root + "/" + rel
    rel: str  # path under the corpus root; the score file has the same relative path
    fingerprint: str = ""
    num_rows: int | None = None
    error: str | None = None  # footer unreadable -> quarantined up front
    error_kind: str = "quarantined"  # "quarantined" (corrupt data) | "failed" (storage error after retries)

    @property
    def url(self) -> str:
        return f"{self.root}/{self.rel}"

    @classmethod
    def at(cls, url: str, rel: str, fingerprint: str = "") -> "Shard":
        """The shard at ``url`` whose relative path is ``rel`` (a scoring actor is told both)."""
        if not url.endswith("/" + rel):
            raise ValueError(f"{rel!r} is not the end of {scrub(url)}")
        return cls(url[: len(url) - len(rel) - 1], rel, fingerprint)


class ShardTable:
    """Shards under one corpus root, sorted by relative path; a view when ``positions`` is given.

    Reads like a sequence of ``Shard`` (``len``, ``[i]``, iteration); ``where`` and ``keys`` are
    the columnar operations the planner uses instead of list comprehensions over 100K records."""

    __slots__ = ("root", "_rels", "_fps", "_rows", "_errors", "_positions")

    def __init__(self, root: str, rels: np.ndarray, fingerprints: np.ndarray, rows: np.ndarray | None = None,
                 errors: dict[int, tuple[str, str]] | None = None, positions: np.ndarray | None = None) -> None:
        self.root = root
        self._rels = rels
        self._fps = fingerprints
        self._rows = np.full(len(rels), -1, np.int64) if rows is None else rows
        self._errors = {} if errors is None else errors  # position -> (error, error_kind): sampled footers
        self._positions = positions

    @classmethod
    def build(cls, root: str, pairs: Iterable[tuple[str, str]]) -> "ShardTable":
        """From (relative path, fingerprint) pairs in any order, gathered a chunk at a time."""
        columns = KeyColumns()
        for rel, fp in pairs:
            columns.add(rel, 0, fp)
        rels, _, fps = columns.finish()
        return cls(root, rels, fps)

    @classmethod
    def of(cls, root: str, shards: Iterable[Shard]) -> "ShardTable":
        """A table holding these shards (each under ``root``), footers and errors included."""
        shards = list(shards)
        table = cls.build(root, ((s.rel, s.fingerprint) for s in shards))
        for s in shards:
            table.record(int(table.index_of([s.rel])[0]), s)
        return table

    # -- the sequence of Shard -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._rels) if self._positions is None else len(self._positions)

    def _position(self, i: int) -> int:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"shard {i} of {n}")
        i %= n
        return i if self._positions is None else int(self._positions[i])

    def _shard(self, p: int) -> Shard:
        rows = int(self._rows[p])
        error, kind = self._errors.get(p, (None, "quarantined"))
        return Shard(self.root, self._rels[p].decode("utf-8"), self._fps[p].decode("utf-8"),
                     None if rows < 0 else rows, error, kind)

    def __getitem__(self, i: int) -> Shard:
        return self._shard(self._position(int(i)))

    def __iter__(self) -> Iterator[Shard]:
        for p in (range(len(self._rels)) if self._positions is None else self._positions):
            yield self._shard(int(p))

    # -- columns -----------------------------------------------------------------------------------
    def _all_positions(self) -> np.ndarray:
        return np.arange(len(self._rels)) if self._positions is None else self._positions

    def keys(self) -> np.ndarray:
        """The relative paths of this view as UTF-8 bytes (numpy ``S``), in order."""
        return self._rels if self._positions is None else self._rels[self._positions]

    def index_of(self, rels: Iterable[str]) -> np.ndarray:
        """Position in the whole table of each relative path (-1: not listed)."""
        return index_in(self._rels, rels)

    def where(self, mask: np.ndarray) -> "ShardTable":
        """The view of this view's shards where ``mask`` (one bool per shard of this view) is True."""
        mask = np.asarray(mask, bool)
        if len(mask) != len(self):
            raise ValueError(f"mask of {len(mask)} for {len(self)} shards")
        # every shard of the whole table (the usual readable or all-done case): no index array, and
        # ``keys()`` stays the table's own column rather than a 100K-entry copy
        positions = None if self._positions is None and mask.all() else self._all_positions()[mask]
        return ShardTable(self.root, self._rels, self._fps, self._rows, self._errors, positions)

    def error_mask(self) -> np.ndarray:
        """True for each shard of this view whose sampled footer was flagged."""
        bad = np.zeros(len(self._rels), bool)
        bad[list(self._errors)] = True
        return bad if self._positions is None else bad[self._positions]

    def known_rows(self) -> np.ndarray:
        """Row counts of the shards of this view whose footer was read."""
        rows = self._rows if self._positions is None else self._rows[self._positions]
        return rows[rows >= 0]

    def record(self, i: int, shard: Shard) -> None:
        """Keep what reading shard ``i``'s footer found (its row count, or its error)."""
        p = self._position(i)
        self._rows[p] = -1 if shard.num_rows is None else shard.num_rows
        if shard.error:
            self._errors[p] = (shard.error, shard.error_kind)
        else:
            self._errors.pop(p, None)

    def failed(self) -> list[Shard]:
        """The shards of this view whose sampled footer was flagged (a handful at most)."""
        flagged = sorted(self._errors)
        if self._positions is not None:
            flagged = [p for p in flagged if np.isin(p, self._positions)]
        return [self._shard(p) for p in flagged]
