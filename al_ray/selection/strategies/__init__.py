"""Selection strategies, one small class each, named after the literature.

``STRATEGIES`` is the one registry: name -> class. Each class builds itself from a
``SelectionConfig`` (``from_config``), so adding a strategy is adding it here, and this package
never imports the config module (the config imports this registry to validate names).
"""

from __future__ import annotations

from typing import Any

from al_ray.selection.strategies.base import Selection, SelectionStrategy
from al_ray.selection.strategies.boundary_pairs import BoundaryPairs
from al_ray.selection.strategies.cluster_margin import ClusterMargin
from al_ray.selection.strategies.random import RandomSampling
from al_ray.selection.strategies.top_uncertainty import LeastConfidence, MaxEntropy, SmallestMargin, TopUncertainty
from al_ray.selection.strategies.typical import Typical

STRATEGIES: dict[str, type[SelectionStrategy]] = {
    cls.name: cls
    for cls in (BoundaryPairs, ClusterMargin, TopUncertainty, MaxEntropy, SmallestMargin, LeastConfidence,
                RandomSampling, Typical)
}


def build_strategy(config: Any) -> SelectionStrategy:
    """The configured strategy (a ``SelectionConfig``), its parameters taken from the config."""
    return STRATEGIES[config.strategy].from_config(config)


__all__ = ["STRATEGIES", "BoundaryPairs", "ClusterMargin", "LeastConfidence", "MaxEntropy", "RandomSampling",
           "Selection", "SelectionStrategy", "SmallestMargin", "TopUncertainty", "Typical", "build_strategy"]
