"""``ScoringConfig``: everything one scoring job needs, validated before any work starts.

One object serves both modes (generative LLM with label verbalizers, sequence classifier) and
both backends (vLLM, plain transformers), so the CLI, the round driver and nightly rescoring all
build the same thing. Field descriptions are the documentation.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from al_ray.task import TaskConfig

MiB = 1 << 20


class ScoringConfig(BaseModel):
    """A scoring job: which model, how to run it, how to turn its outputs into uncertainty."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    task: TaskConfig = Field(..., description="Labels, text/id columns and (generative) prompt template.")
    model: str = Field(..., description="Checkpoint: a local directory or an fsspec URL of one "
                       "(remote directories are copied to a local cache inside each worker).")
    model_version: str | None = Field(
        None, description="Version id written to every score row; defaults to the checkpoint's "
        "al_ray_version.txt, else its directory name.")
    mode: Literal["generative", "classifier", "auto"] = Field(
        "auto", description="generative: causal LM + prompt + label verbalizers (next-token "
        "logprobs); classifier: sequence-classification head; auto: from config.json's architectures.")
    backend: Literal["vllm", "transformers"] = Field("vllm", description="Inference engine.")
    lora_adapter: str | None = Field(
        None, description="PEFT LoRA adapter directory or URL, applied on top of `model` "
        "(generative mode: a vLLM LoRARequest; transformers: PeftModel).")
    dtype: str = Field("auto", description="Weights/compute dtype passed to the engine "
                       "('auto', 'float32', 'bfloat16', 'float16'). vLLM on CPU: auto means float32 (bf16 there "
                       "measured ~5x slower). Use float32 to compare backends.")
    max_input_tokens: int = Field(512, ge=8, description="Longer inputs are truncated (and flagged), never dropped. "
                                  "Clamped to the model's maximum positions.")
    label_variants: Literal["both", "space", "bare"] = Field(
        "both", description="Generative mode: which verbalizer spellings count for a label: 'label', "
        "' label' (leading space) or both (their first-token probabilities are added).")
    calibration: Literal["none", "batch", "corpus"] = Field(
        "none", description="Divide a label prior out of every row's probabilities and renormalise "
        "(batch calibration, Zhou et al. 2023): a model that leans to one label on every input has that "
        "lean removed. 'corpus': one prior for the whole corpus, the mean renormalised probability over a "
        "seeded sample of calibration_rows rows (the exact mean when the corpus is smaller), estimated by "
        "the workers before scoring and recorded in _summary.json and _calibration.json, so the same text "
        "gets the same probabilities in every shard and on a resume. 'batch': a prior per shard (a "
        "text's probabilities then depend on its shard). 'none': raw renormalised probabilities.")
    calibration_rows: int = Field(4096, ge=16, description="calibration 'corpus': rows sampled to estimate "
                                  "the prior (standard error ~0.5/sqrt(rows) per label; spread over at "
                                  "most 64 shards picked by a hash of their paths).")
    batch_rows: int = Field(1024, ge=1, description="Rows per record batch read from a shard and "
                            "handed to the engine in one call.")
    workers: int = Field(1, ge=1, description="Ray actors, each owning one engine.")
    num_gpus_per_worker: float | None = Field(
        None, ge=0, description="GPUs per actor; None: 1 when the cluster has GPUs, else 0.")
    num_cpus_per_worker: float | None = Field(
        None, ge=0, description="CPUs reserved per actor (Ray also sets the actor's OMP/torch threads "
        "to this). None: 1 on a GPU cluster; on a CPU-only cluster the nodes' CPUs shared out among the "
        "workers, since a CPU engine's speed is its thread count.")
    shards_in_flight_per_worker: int = Field(2, ge=1, le=8, description="Backpressure: shards queued per actor.")
    max_shard_attempts: int = Field(3, ge=1, description="Tries per shard when its actor dies before finishing it.")
    max_actor_restarts: int = Field(2, ge=0, description="Ray restarts a dead actor this many times.")
    kv_cache_memory_bytes: int | None = Field(256 * MiB, description="vLLM KV cache size; on CPU "
                                              "it must be set or vLLM reserves most of RAM.")
    engine_process: Literal["auto", "inline", "separate"] = Field(
        "auto", description="vLLM: run the engine core and its worker inside the actor's process "
        "(inline) or as vLLM's own child processes (separate). auto: inline on CPU, where the separate "
        "engine core's busy loop takes a whole core (MiniLM classify on 2 cores: 409 vs 216 rows/s, "
        "2.4 vs 16 s start-up); separate on GPU, where that loop overlaps scheduling with the GPU.")
    enforce_eager: bool = Field(True, description="vLLM: skip graph capture/compilation (faster start).")
    engine_kwargs: dict[str, Any] = Field(default_factory=dict, description="Extra vLLM LLM(...) arguments.")
    transformers_batching: Literal["token_budget", "fixed"] = Field(
        "token_budget", description="transformers backend: length-sorted batches under a token "
        "budget, or fixed-size batches in input order.")
    transformers_token_budget: int = Field(16384, ge=64, description="Padded tokens per forward pass.")
    transformers_batch_size: int = Field(32, ge=1, description="Rows per forward pass (fixed batching; "
                                         "also the cap for token-budget batches is 8x this).")
    check_duplicate_ids: bool = Field(True, description="Report ids seen more than once: after scoring, a "
                                      "hash-partitioned pass of Ray tasks over the per-shard id sidecars "
                                      "(<score file>.ids.npy, always written); memory per task is bounded, "
                                      "the driver holds none of the ids. Its partitions are saved under "
                                      "<scores>/_duplicate_ids/, so a resume after a change reads only "
                                      "the changed shards' sidecars; a resume with no change reuses the "
                                      "report.")
    candidates_per_shard: int = Field(
        2048, ge=0, description="K of the candidate sidecar each actor writes beside a score file "
        "(<score file>.cand.pq): the shard's top K rows by each uncertainty measure (entropy, margin, "
        "least_confidence), overall and per predicted label, with the shard's cut-offs, so that "
        "selection merges K x shards rows instead of reading every score row. The pool is exact "
        "whatever K (a shard whose cut-off could hide a pool row is read in full); it needs no such "
        "rescan while the pool's size per stratum (pool_size, or pool_size / labels when "
        "stratified) plus the already-labelled ids in the shard is at most K. 0: no sidecars "
        "(selection reads the score files in full). The round driver may set this from "
        "selection.pool_size.")
    model_cache_dir: str | None = Field(None, description="Where workers cache remote checkpoints; "
                                        "default ~/.cache/al_ray/models.")
    storage_options: dict[str, Any] = Field(default_factory=dict, description="fsspec options "
                                            "(credentials, endpoint_url) for corpus, output and model URLs.")

    @field_validator("engine_kwargs")
    @classmethod
    def _no_reserved_engine_kwargs(cls, kw: dict[str, Any]) -> dict[str, Any]:
        reserved = {"model", "runner", "enable_lora", "max_model_len"} & set(kw)
        if reserved:
            raise ValueError(f"set {sorted(reserved)} through the scoring config, not engine_kwargs")
        return kw

    @model_validator(mode="after")
    def _consistent(self) -> "ScoringConfig":
        if self.lora_adapter and self.mode == "classifier" and self.backend == "vllm":
            raise ValueError("lora_adapter with a vLLM classifier is not supported: merge the adapter "
                             "into the checkpoint (merge_and_unload) and score the merged model")
        return self
