"""``make_engine(config)``: the one place that picks a backend and fetches the checkpoint."""

from __future__ import annotations

from al_ray.scoring.config import ScoringConfig
from al_ray.scoring.engines.base import Engine, EngineOutput


def make_engine(config: ScoringConfig, *, model_dir: str | None = None, lora_dir: str | None = None) -> Engine:
    """Build the configured engine; remote ``model``/``lora_adapter`` URLs are cached locally first."""
    from al_ray.scoring.model_cache import local_copy

    model_dir = model_dir or local_copy(config.model, config.model_version, config.storage_options,
                                        config.model_cache_dir)
    if lora_dir is None and config.lora_adapter:
        lora_dir = local_copy(config.lora_adapter, config.model_version, config.storage_options,
                              config.model_cache_dir)
    if config.backend == "vllm":
        from al_ray.scoring.engines.vllm_engine import VLLMEngine

        return VLLMEngine(config, model_dir, lora_dir)
    from al_ray.scoring.engines.transformers_engine import TransformersEngine

    return TransformersEngine(config, model_dir, lora_dir)


__all__ = ["Engine", "EngineOutput", "make_engine"]
