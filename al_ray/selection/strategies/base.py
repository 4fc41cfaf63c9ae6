"""One interface for every selection strategy (small-text's shape: one method to fill in)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from al_ray.errors import EmptyPoolError, PoolExhaustedError
from al_ray.selection.candidates import Candidates


@dataclass
class Selection:
    """What a strategy chose: positions into the pool, in batch order, each with its reason.

    ``cluster_ids`` / ``pair_ids`` are per selected item (-1 = none); ``warnings`` explain any
    fallback the strategy had to take.
    """

    indices: np.ndarray
    reasons: list[str]
    cluster_ids: np.ndarray | None = None
    pair_ids: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.indices)


class SelectionStrategy(ABC):
    """Choose ``n`` distinct candidates from a pool; all randomness comes from ``rng``."""

    name: ClassVar[str] = "strategy"
    needs_embeddings: ClassVar[bool] = False
    # The candidate pool this strategy wants when SelectionConfig leaves pool_order / stratify on
    # 'auto' (None): the most uncertain rows, unstratified, unless a strategy says otherwise.
    pool_order: ClassVar[str] = "uncertainty"
    pool_stratify: ClassVar[bool] = False

    @classmethod
    def from_config(cls, config: Any) -> "SelectionStrategy":
        """The strategy with its parameters taken from a ``SelectionConfig`` (read by attribute, so
        the strategies never import the config module); parameterless by default."""
        return cls()

    def select(self, pool: Candidates, n: int, rng: np.random.Generator) -> Selection:
        if n < 1:
            raise ValueError(f"batch size must be at least 1, got {n}")
        if len(pool) == 0:
            raise EmptyPoolError(f"{self.name}: the candidate pool is empty")
        if n > len(pool):
            raise PoolExhaustedError(f"{self.name}: asked for {n} items but the pool holds only {len(pool)}")
        if self.needs_embeddings:
            pool.require_embeddings(self.name)
        sel = self._select(pool, n, rng)
        sel.indices = np.asarray(sel.indices, dtype=np.int64)
        if len(sel.indices) != n or len(np.unique(sel.indices)) != n or len(sel.reasons) != n:
            raise AssertionError(f"{self.name} returned {len(sel.indices)} items "
                                 f"({len(np.unique(sel.indices))} distinct, {len(sel.reasons)} reasons) for n={n}")
        return sel

    @abstractmethod
    def _select(self, pool: Candidates, n: int, rng: np.random.Generator) -> Selection:
        """Return exactly n distinct pool positions; ``select`` has checked the pool is big enough."""

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


def top_by_uncertainty(pool: Candidates, measure: str, exclude: np.ndarray | None = None) -> np.ndarray:
    """Pool positions, most uncertain first (ties: pool order), optionally without ``exclude``."""
    order = np.lexsort((np.arange(len(pool)), -pool.uncertainty(measure)))
    if exclude is not None and len(exclude):
        order = order[~np.isin(order, exclude)]
    return order
