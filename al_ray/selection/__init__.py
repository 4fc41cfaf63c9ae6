"""The selection stage: score files -> candidate pool -> dedup -> strategy -> labelling batch.

Entry point: ``select_batch`` (al_ray.selection.api); CLI: ``al-ray select``.
"""

from al_ray.selection.api import SelectionResult, select_batch
from al_ray.selection.candidates import Candidates
from al_ray.selection.config import BoundaryConfig, DedupConfig, EmbeddingConfig, SelectionConfig
from al_ray.selection.pool import PoolResult, extract_pool, read_exclude_ids
from al_ray.selection.strategies import STRATEGIES, Selection, SelectionStrategy, build_strategy

__all__ = ["STRATEGIES", "BoundaryConfig", "Candidates", "DedupConfig", "EmbeddingConfig", "PoolResult",
           "Selection", "SelectionConfig", "SelectionResult", "SelectionStrategy", "build_strategy",
           "extract_pool", "read_exclude_ids", "select_batch"]
