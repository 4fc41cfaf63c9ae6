"""vLLM adapter: lazy import, exact token-id prompts, explicit shutdown, optional LoRA.

Generative mode asks for ``SamplingParams(max_tokens=1, logprob_token_ids=...)``, which returns the
exact logprob of every label token whatever its rank. Classifier mode runs vLLM's pooling runner
(``LLM.classify``) with activation off and applies softmax here, so both backends share one
definition of the probabilities.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from al_ray.errors import ConfigError
from al_ray.models import checkpoint_pooling
from al_ray.scoring.config import ScoringConfig
from al_ray.scoring.engines.base import (
    Engine, EngineOutput, classifier_label_order, lora_rank, softmax,
)
from al_ray.verbalize import ClassifierEncoder, GenerativePromptEncoder, label_token_ids

log = logging.getLogger(__name__)

_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


class VLLMEngine(Engine):
    def __init__(self, config: ScoringConfig, model_dir: str | Path, lora_dir: str | Path | None = None) -> None:
        from vllm import LLM

        hf = self._load_common(config, model_dir)
        self._lora = None
        kwargs = dict(enforce_eager=config.enforce_eager, dtype=_engine_dtype(config.dtype), seed=0)
        if config.kv_cache_memory_bytes:
            kwargs["kv_cache_memory_bytes"] = config.kv_cache_memory_bytes
        if _inline_engine(config.engine_process):
            kwargs["distributed_executor_backend"] = "uni"
        kwargs.update(config.engine_kwargs)
        if self.mode == "generative":
            self.encoder = GenerativePromptEncoder(self.tokenizer, config.task.prompt_template, self.labels,
                                                   self.max_input_tokens)
            self.label_tokens = label_token_ids(self.tokenizer, self.labels, self.encoder.tail, config.label_variants)
            self._matrix = self.label_tokens.matrix
            kwargs.setdefault("max_logprobs", max(20, len(self.label_tokens.token_ids)))
            if lora_dir is not None:
                r = lora_rank(lora_dir)
                kwargs.update(enable_lora=True, max_lora_rank=next(x for x in _LORA_RANKS if x >= r), max_loras=1)
            self.llm = LLM(model=str(model_dir), max_model_len=self.max_input_tokens + 1, **kwargs)
            if lora_dir is not None:
                from vllm.lora.request import LoRARequest

                self._lora = LoRARequest("al_ray_adapter", 1, str(lora_dir))
                # Load it now: a bad adapter fails at start-up, and a silently ignored one cannot pass.
                if not self.llm.llm_engine.add_lora(self._lora):
                    raise ConfigError(f"vLLM refused the LoRA adapter {lora_dir}")
            from vllm import SamplingParams

            self._params = SamplingParams(max_tokens=1, temperature=0.0, detokenize=False,
                                          logprob_token_ids=list(self.label_tokens.token_ids))
        else:
            if lora_dir is not None:
                raise ConfigError("vLLM classifier mode takes no LoRA adapter: score the merged checkpoint")
            self.encoder = ClassifierEncoder(self.tokenizer, self.max_input_tokens)
            self._order = classifier_label_order(self.labels, hf)
            if checkpoint_pooling(hf) == "mean":  # the checkpoint's choice (al_ray.models.POOLING_ATTR)
                from vllm.config import PoolerConfig

                kwargs.setdefault("pooler_config", PoolerConfig(pooling_type="MEAN"))
            self.llm = LLM(model=str(model_dir), runner="pooling", max_model_len=self.max_input_tokens, **kwargs)
            from vllm.pooling_params import PoolingParams

            self._params = PoolingParams(use_activation=False)

    def score_texts(self, texts: list[str]) -> EngineOutput:
        n = len(texts)
        if n == 0:
            return EngineOutput(np.zeros((0, len(self.labels))), np.zeros(0, dtype=bool))
        ids, truncated = self.encoder.encode(texts)
        prompts = [{"prompt_token_ids": x} for x in ids]
        if self.mode == "generative":
            outs = _raising_if_engine_dies(
                self.llm, lambda: self.llm.generate(prompts, self._params, use_tqdm=False, lora_request=self._lora))
            toks = self.label_tokens.token_ids
            lp = np.empty((n, len(toks)))
            for i, o in enumerate(outs):
                d = o.outputs[0].logprobs[0]
                lp[i] = [d[t].logprob for t in toks]
            probs = np.exp(lp) @ self._matrix
        else:
            outs = _raising_if_engine_dies(
                self.llm, lambda: self.llm.classify(prompts, pooling_params=self._params, use_tqdm=False))
            logits = np.array([o.outputs.probs for o in outs], dtype=np.float64)
            probs = softmax(logits)[:, self._order]
        if len(outs) != n:
            raise RuntimeError(f"vLLM returned {len(outs)} outputs for {n} prompts")
        return EngineOutput(probs, truncated)

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is None:
            return
        self.llm = None
        try:
            llm.llm_engine.engine_core.shutdown()
        except Exception as exc:  # shutting down must not mask the job's own result
            log.warning("vLLM shutdown raised %s", exc)
        del llm
        import gc

        gc.collect()


def _raising_if_engine_dies(llm, call):
    """Run one engine call; raise vLLM's ``EngineDeadError`` if its engine-core process is dead or
    dies while the call waits.

    Why: vLLM 0.32's synchronous multiprocess client notices a dead engine core (its monitor thread
    sets ``resources.engine_dead`` and shuts the client down) but never wakes a caller blocked in
    ``get_output``: the output thread exits on the shutdown signal without queueing an error (the
    async client does queue ``EngineDeadError``). The scoring actor then hung forever instead of
    restarting its engine. A watcher thread queues the error the async client would have. In-process
    engines (the CPU default) have no such client and are called directly.
    """
    import threading

    client = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
    resources = getattr(client, "resources", None)
    outputs = getattr(client, "outputs_queue", None)
    if resources is None or outputs is None or not hasattr(resources, "engine_dead"):
        return call()
    from vllm.v1.engine.exceptions import EngineDeadError

    if resources.engine_dead:
        raise EngineDeadError()
    finished = threading.Event()

    def watch() -> None:
        while not finished.wait(0.5):
            if resources.engine_dead:
                outputs.put_nowait(EngineDeadError())
                return

    threading.Thread(target=watch, daemon=True, name="al_ray-engine-watch").start()
    try:
        return call()
    finally:
        finished.set()


def _inline_engine(engine_process: str) -> bool:
    """Run vLLM's engine core in this process. vLLM reads ``VLLM_ENABLE_V1_MULTIPROCESSING`` when an
    engine is built, so it is set in this process's environment: a scoring actor's process owns one
    engine, so the setting cannot leak into an engine that asked otherwise (one that did is built
    with the variable set back to 1 here)."""
    if engine_process == "auto":
        import torch

        inline = not torch.cuda.is_available()
    else:
        inline = engine_process == "inline"
    os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0" if inline else "1"
    return inline


def _engine_dtype(dtype: str) -> str:
    """``auto`` means float32 on CPU: vLLM's own auto picks bfloat16 there, measured ~5x slower
    for MiniLM classify on this project's x86 CPUs (35 vs 166 rows/s). GPUs keep vLLM's choice."""
    if dtype != "auto":
        return dtype
    import torch

    return "auto" if torch.cuda.is_available() else "float32"
