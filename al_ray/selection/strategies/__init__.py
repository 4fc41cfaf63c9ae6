"""Selection strategies, one small class each, named after the literature; ``STRATEGIES`` maps names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from al_ray.selection.strategies.base import Selection, SelectionStrategy
from al_ray.selection.strategies.boundary_pairs import BoundaryPairs
from al_ray.selection.strategies.cluster_margin import ClusterMargin
from al_ray.selection.strategies.random import RandomSampling
from al_ray.selection.strategies.top_uncertainty import LeastConfidence, MaxEntropy, SmallestMargin, TopUncertainty
from al_ray.selection.strategies.typical import Typical

if TYPE_CHECKING:
    from al_ray.selection.config import SelectionConfig

STRATEGIES: dict[str, type[SelectionStrategy]] = {
    "boundary_pairs": BoundaryPairs,
    "cluster_margin": ClusterMargin,
    "top_uncertainty": TopUncertainty,
    "entropy": MaxEntropy,
    "margin": SmallestMargin,
    "least_confidence": LeastConfidence,
    "random": RandomSampling,
    "typical": Typical,
}


def build_strategy(config: "SelectionConfig") -> SelectionStrategy:
    """The configured strategy, its parameters taken from the config."""
    name = config.strategy
    if name == "boundary_pairs":
        b = config.boundary
        return BoundaryPairs(b.multiclass, b.clusters_per_side, b.radius_quantile, fill_measure=config.measure)
    if name == "cluster_margin":
        return ClusterMargin(config.k_m_factor, config.n_clusters)
    if name == "top_uncertainty":
        return TopUncertainty(config.measure)
    return STRATEGIES[name]()


__all__ = ["STRATEGIES", "BoundaryPairs", "ClusterMargin", "LeastConfidence", "MaxEntropy", "RandomSampling",
           "Selection", "SelectionStrategy", "SmallestMargin", "TopUncertainty", "Typical", "build_strategy"]
