"""Fine-tune settings: one typed object whose field descriptions are the documentation.

Load it from YAML with ``al_ray.config_io.load(FinetuneConfig, url, overrides)``.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from al_ray.errors import ConfigError

Mode = Literal["classifier", "generative"]
Recipe = Literal["lora", "contrastive", "floor"]
MODES: tuple[str, ...] = ("classifier", "generative")

# LoRA targets per architecture (``config.model_type`` of the base checkpoint). Encoders adapt the
# attention query/value projections (the LoRA paper's choice); decoders add o_proj and gate_proj,
# all of which vLLM's LoRA kernels support.
DEFAULT_TARGET_MODULES: dict[str, list[str]] = {
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "xlm-roberta": ["query", "value"],
    "electra": ["query", "value"],
    "distilbert": ["q_lin", "v_lin"],
    "llama": ["q_proj", "v_proj", "o_proj", "gate_proj"],
    "mistral": ["q_proj", "v_proj", "o_proj", "gate_proj"],
    "qwen2": ["q_proj", "v_proj", "o_proj", "gate_proj"],
    "qwen3": ["q_proj", "v_proj", "o_proj", "gate_proj"],
    "gemma": ["q_proj", "v_proj", "o_proj", "gate_proj"],
    "gemma2": ["q_proj", "v_proj", "o_proj", "gate_proj"],
    "phi3": ["qkv_proj", "o_proj"],
}

# Classifier mode trains the task head in full (it is tiny: hidden x K) next to the LoRA matrices.
# The BERT pooler (dense + tanh in front of the head) stays frozen: the round-0 head was built on
# the pretrained pooler's output, LoRA on query/value already moves the [CLS] representation the
# pooler reads, and training the 384x384 pooler in full would double the trainable parameters for
# a few hundred labels, the regime where overfitting, not capacity, is the risk.
DEFAULT_MODULES_TO_SAVE: dict[str, list[str]] = {"classifier": ["classifier"], "generative": []}

# Chosen from the few-labels ablation (benchmarks/bench_recipe.py, RESULTS.md section 1b).
MIN_STEPS_DEFAULT = 150

DEFAULT_LEARNING_RATE: dict[str, float] = {"classifier": 5e-4, "generative": 2e-4}

# vLLM accepts only these values for ``max_lora_rank`` (vllm.config.lora.MaxLoRARanks, 0.32).
VLLM_MAX_LORA_RANKS: tuple[int, ...] = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def vllm_max_lora_rank(r: int) -> int:
    """The smallest ``max_lora_rank`` a vLLM engine needs to serve an adapter of rank ``r``."""
    for allowed in VLLM_MAX_LORA_RANKS:
        if allowed >= r:
            return allowed
    raise ConfigError(f"LoRA rank {r} exceeds vLLM's largest max_lora_rank {VLLM_MAX_LORA_RANKS[-1]}")


class FinetuneConfig(BaseModel):
    """How one round's LoRA fine-tune runs. Defaults are the recipe measured in DESIGN.md."""

    model_config = ConfigDict(extra="forbid")

    lora_r: int = Field(8, ge=1, le=512, description="LoRA rank. vLLM must be started with "
                        "max_lora_rank >= this (recorded in metrics.json as max_lora_rank).")
    lora_alpha: float = Field(16.0, gt=0, description="LoRA scaling numerator (scale = alpha / r).")
    lora_dropout: float = Field(0.1, ge=0.0, lt=1.0, description="Dropout on the LoRA input.")
    target_modules: list[str] | None = Field(
        None, description="Module name suffixes that get LoRA matrices. None = per-architecture "
        "default (bert: query,value; llama: q_proj,v_proj,o_proj,gate_proj; see DEFAULT_TARGET_MODULES).",
    )
    modules_to_save: list[str] | None = Field(
        None, description="Modules trained in full and saved in the adapter. None = per mode: "
        "classifier -> ['classifier'] (the head; the pooler stays frozen), generative -> [].",
    )
    recipe: Recipe = Field(
        "lora", description="Classifier mode. 'lora': LoRA + head on weighted cross-entropy. 'contrastive': "
        "SetFit's recipe on the same LoRA model (al_ray.finetune.contrastive): LoRA steps on a cosine loss over "
        "pairs of labelled texts, then a logistic-regression head (C = head_init_c) on the tuned embeddings. "
        "'floor': no gradient step, the head becomes a class-balanced logistic regression on the frozen "
        "features (the frozen-embedding floor as a servable checkpoint). Measured in the few-labels ablation "
        "(RESULTS.md section 1b). Ignored when recipe_candidates is set.",
    )
    recipe_candidates: list[Recipe] | None = Field(
        None, description="Classifier mode: choose the recipe every round among these, by Cohen's kappa on a "
        "stratified holdout (recipe_holdout) of the labels so far; each candidate trains on the rest, the "
        "winner then retrains on all labels (ties: the one listed first). Why: whether LoRA beats the "
        "frozen-embedding floor depends on how many labels each class has, so the loop measures it instead of "
        "trusting a constant (al_ray.finetune.recipes). Costs one extra fit per candidate. Measured worse than "
        "plain LoRA on the shared data (RESULTS.md 1b, finding 8: a 25% holdout of <= 150 labels is too noisy), "
        "so off by default. None = always `recipe`.",
    )
    recipe_holdout: float = Field(
        0.25, gt=0.0, lt=1.0, description="recipe_candidates: the share of the labels held out to score the "
        "candidates (stratified; at least one per class). With a class of fewer than 2 labels there is no "
        "holdout and the first candidate is used (metrics.json says so).",
    )
    contrastive_pairs_per_example: int = Field(
        20, ge=1, description="recipe 'contrastive': positive and negative partners drawn per labelled example "
        "(SetFit's num_iterations, whose default is 20).",
    )
    contrastive_max_steps: int = Field(
        300, ge=1, description="recipe 'contrastive': cap on its optimiser steps (pairs grow with the labels; "
        "one pass over 2 x 20 x n pairs would cost 50 steps per 20 labels).",
    )
    epochs: int = Field(
        12, ge=1, le=1000, description="Passes over the training set (at least; see min_steps). Why 12: with "
        "5 (the old default) a model trained on 500 labels still missed 8-18% of its own training labels, "
        "and 400 steps (12.5 passes) instead of 160 raised test kappa on all three shared data sets "
        "(benchmarks/RESULTS.md 1b, steps400); the budget has to grow with the labels, not only have a floor.")
    min_steps: int = Field(
        MIN_STEPS_DEFAULT, ge=0, description="Optimiser steps at least, whatever the number of labels: "
        "training runs max(epochs x steps per epoch, min_steps) steps. Why: with 30-150 labels, 5 epochs "
        "are 10-50 steps, and the model ended under-trained (65% training accuracy on 121 labels); an "
        "optimiser budget in steps does not shrink with the label count. 0 = epochs only.",
    )
    head_init: Literal["keep", "logistic"] = Field(
        "keep", description="Classifier mode. 'keep': start from the checkpoint's head (round 0's zero-shot "
        "head). 'logistic': before LoRA, fit a logistic regression (class-weighted as class_weighting says) "
        "on the frozen features the head reads and load it as the head, so the fine-tune starts at the "
        "frozen-embedding floor. Measured (benchmarks/bench_recipe.py, RESULTS.md section 1b): the warm "
        "start was *worse* than 'keep' at 30, 150 and 500 labels, because the fitted head already "
        "separates the few training labels and leaves LoRA almost no gradient. Ignored in generative "
        "mode; skipped (noted in metrics.json) when the head is not one linear layer or one class is labelled.",
    )
    head_init_c: float = Field(
        1.0, gt=0, description="Inverse L2 strength of the warm-start logistic regression, on standardised "
        "features (scikit-learn's C, whose default is also 1.0).",
    )
    batch_size: int = Field(16, ge=1, description="Examples per optimiser step.")
    learning_rate: float | None = Field(
        None, gt=0, description="AdamW learning rate. None = per mode (classifier 5e-4, generative 2e-4).",
    )
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay.")
    warmup_ratio: float = Field(0.06, ge=0.0, lt=1.0, description="Fraction of steps with linear "
                                "warm-up; the rest decays linearly to 0.")
    max_grad_norm: float | None = Field(1.0, gt=0, description="Gradient clipping; null disables.")
    max_length: int = Field(128, ge=8, le=8192, description="Max tokens per example. Classifier mode "
                            "truncates the end of the text; generative mode truncates the start of the "
                            "prompt so that the answer cue at its end survives.")
    class_weighting: Literal["balanced", "none"] = Field(
        "balanced", description="'balanced': cross-entropy weight n / (K * count_k) per class "
        "(see al_ray.finetune.data.class_weights); 'none': plain cross-entropy.",
    )
    generative_loss: Literal["label_tokens", "full_vocab"] = Field(
        "label_tokens", description="Generative mode: softmax over the label tokens' logits only (what "
        "the scorer renormalises over) or over the whole vocabulary (also raises label mass).",
    )
    label_variants: Literal["both", "space", "bare"] = Field(
        "both", description="Generative mode: which spellings of a label count ('label', ' label' or "
        "both, their probabilities summed). Must match the scorer's label_variants.",
    )
    seed: int = Field(0, description="Seeds LoRA init, dropout and the shuffle; same seed, same data, "
                      "same machine -> bit-identical adapter.")
    deterministic: bool = Field(True, description="torch.use_deterministic_algorithms during training.")
    save_merged: bool | None = Field(
        None, description="Also write merged/ (merge_and_unload). None = per mode: classifier yes "
        "(the pooling engine loads a plain checkpoint), generative no (vLLM applies the adapter).",
    )
    dtype: Literal["float32", "bfloat16"] = Field(
        "float32", description="Dtype of the frozen base weights while training. bfloat16 halves memory "
        "for billion-parameter bases on GPU; the LoRA matrices stay float32 (PEFT's default), and the "
        "saved adapter is float32 either way.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto = cuda when visible.")
    num_gpus: float | None = Field(
        None, ge=0, description="GPUs the Ray task asks for. None = 1 if the cluster has any GPU, else 0.",
    )
    num_cpus: float | None = Field(None, gt=0, description="CPUs the Ray task asks for (Ray sets the "
                                   "task's torch threads from it). None: 1 beside a GPU, else one node's CPUs.")
    torch_threads: int | None = Field(
        None, ge=1, description="torch intra-op threads while training (restored after). None = leave "
        "torch's setting (inside a Ray task Ray sets it from num_cpus). On a busy shared machine fewer "
        "threads than cores avoids OpenMP oversubscription, which was measured here to slow training 8x.",
    )
    eval_train_loss: bool = Field(True, description="Measure the weighted loss on the training set "
                                  "before and after training (one extra inference pass each).")

    @field_validator("target_modules", "modules_to_save")
    @classmethod
    def _names_valid(cls, names: list[str] | None) -> list[str] | None:
        if names is None:
            return None
        if any(not isinstance(n, str) or not n.strip() for n in names):
            raise ValueError("module names must be non-empty strings")
        return names

    @field_validator("recipe_candidates")
    @classmethod
    def _candidates_valid(cls, names: list[str] | None) -> list[str] | None:
        if names is None:
            return None
        if len(names) < 2 or len(set(names)) != len(names):
            raise ValueError("recipe_candidates must name at least two different recipes (or be null)")
        return names

    @field_validator("target_modules")
    @classmethod
    def _targets_nonempty(cls, names: list[str] | None) -> list[str] | None:
        if names is not None and not names:
            raise ValueError("target_modules must name at least one module (or be null for the default)")
        return names

    def optimizer_steps(self, n_examples: int) -> int:
        """Steps a LoRA fine-tune on ``n_examples`` runs: ``epochs`` passes, and at least ``min_steps``."""
        return max(math.ceil(n_examples / self.batch_size) * self.epochs, self.min_steps)

    def learning_rate_for(self, mode: str) -> float:
        _check_mode(mode)
        return self.learning_rate if self.learning_rate is not None else DEFAULT_LEARNING_RATE[mode]

    def target_modules_for(self, model_type: str) -> list[str]:
        if self.target_modules is not None:
            return list(self.target_modules)
        try:
            return list(DEFAULT_TARGET_MODULES[model_type])
        except KeyError:
            raise ConfigError(
                f"no default LoRA target_modules for model_type {model_type!r}; set finetune.target_modules "
                f"(known defaults: {sorted(DEFAULT_TARGET_MODULES)})"
            ) from None

    def modules_to_save_for(self, mode: str) -> list[str]:
        _check_mode(mode)
        return list(self.modules_to_save if self.modules_to_save is not None else DEFAULT_MODULES_TO_SAVE[mode])

    def save_merged_for(self, mode: str) -> bool:
        _check_mode(mode)
        return self.save_merged if self.save_merged is not None else mode == "classifier"


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {MODES}, got {mode!r}")
