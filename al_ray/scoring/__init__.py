"""Scoring stage: LLM/classifier uncertainty over a Parquet corpus with Ray actors owning engines.

Public API: ``ScoringConfig``, ``run_scoring``, ``ScoringSummary``, ``make_engine`` /
``Engine`` / ``EngineOutput`` and ``uncertainty.compute``. Heavy modules (vLLM, torch, ray) are
imported lazily, so importing this package is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from al_ray.scoring.config import ScoringConfig
from al_ray.scoring.summary import ScoringSummary

if TYPE_CHECKING:
    from al_ray.scoring.engines import Engine, EngineOutput, make_engine
    from al_ray.scoring.job import run_scoring


def __getattr__(name: str) -> Any:
    if name == "run_scoring":
        from al_ray.scoring.job import run_scoring

        return run_scoring
    if name in ("make_engine", "Engine", "EngineOutput"):
        from al_ray.scoring import engines

        return getattr(engines, name)
    raise AttributeError(name)


__all__ = ["ScoringConfig", "ScoringSummary", "run_scoring", "make_engine", "Engine", "EngineOutput"]
