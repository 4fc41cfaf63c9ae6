"""Uncertainty sampling (Lewis & Gale 1994): the n most uncertain candidates by one measure."""

from __future__ import annotations

import numpy as np

from al_ray.selection.candidates import Candidates
from al_ray.selection.strategies.base import Selection, SelectionStrategy, top_by_uncertainty


class TopUncertainty(SelectionStrategy):
    name = "top_uncertainty"

    def __init__(self, measure: str = "entropy") -> None:
        self.measure = measure

    @classmethod
    def from_config(cls, config) -> "TopUncertainty":
        return cls(config.measure)

    def _select(self, pool: Candidates, n: int, rng: np.random.Generator) -> Selection:
        idx = top_by_uncertainty(pool, self.measure)[:n]
        values = getattr(pool, self.measure)
        reasons = [f"top-{self.measure}: rank {r + 1}, {self.measure}={values[i]:.4f}" for r, i in enumerate(idx)]
        return Selection(indices=idx, reasons=reasons)


class _FixedMeasure(TopUncertainty):
    """One measure, fixed by the strategy's name (the config's ``measure`` does not apply)."""

    @classmethod
    def from_config(cls, config) -> "TopUncertainty":
        return cls()


class MaxEntropy(_FixedMeasure):
    """Entropy sampling (Settles 2009)."""

    name = "entropy"

    def __init__(self) -> None:
        super().__init__("entropy")


class SmallestMargin(_FixedMeasure):
    """Margin sampling / breaking ties (Scheffer et al. 2001)."""

    name = "margin"

    def __init__(self) -> None:
        super().__init__("margin")


class LeastConfidence(_FixedMeasure):
    """Least-confidence sampling (Culotta & McCallum 2005)."""

    name = "least_confidence"

    def __init__(self) -> None:
        super().__init__("least_confidence")
