"""Random sampling: the seeded baseline every strategy must beat."""

from __future__ import annotations

import numpy as np

from al_ray.selection.candidates import Candidates
from al_ray.selection.strategies.base import Selection, SelectionStrategy


class RandomSampling(SelectionStrategy):
    name = "random"

    def _select(self, pool: Candidates, n: int, rng: np.random.Generator) -> Selection:
        idx = rng.choice(len(pool), size=n, replace=False)
        return Selection(indices=idx, reasons=["random: uniform draw from the pool (baseline)"] * n)
