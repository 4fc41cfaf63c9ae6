"""The narrow interface every engine implements, and what both backends share.

``Engine.score_texts(texts) -> EngineOutput`` returns, per text, the *raw* probability of each
label (before renormalising; a classifier's softmax has mass 1) and whether the text was
truncated. Engines are closed explicitly (``close()`` or ``with``), never in ``__del__``: vLLM
must shut its EngineCore processes down before the interpreter exits.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from al_ray.errors import ConfigError
from al_ray.layout import ADAPTER_CONFIG_FILE, CHECKPOINT_CONFIG_FILE
from al_ray.scoring.config import ScoringConfig


@dataclass
class EngineOutput:
    label_probs: np.ndarray  # (n, K) float64, raw probability per label in task.labels order
    truncated: np.ndarray  # (n,) bool


class Engine(ABC):
    """One loaded model; ``labels`` is the column order of ``label_probs``."""

    labels: list[str]
    mode: str
    max_input_tokens: int

    def _load_common(self, config: ScoringConfig, model_dir: str | Path) -> dict[str, Any]:
        """What every backend derives the same way from a checkpoint; returns its HF config."""
        self.config = config
        self.labels = list(config.task.labels)
        hf = read_hf_config(model_dir)
        self.mode = resolve_mode(config, hf)
        self.max_input_tokens = effective_max_tokens(config, hf, self.mode)
        self.tokenizer = load_tokenizer(model_dir)
        return hf

    @abstractmethod
    def score_texts(self, texts: list[str]) -> EngineOutput: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_hf_config(model_dir: str | Path) -> dict[str, Any]:
    p = Path(model_dir) / CHECKPOINT_CONFIG_FILE
    if not p.is_file():
        raise ConfigError(f"{model_dir}: not a checkpoint directory (no {CHECKPOINT_CONFIG_FILE})")
    return json.loads(p.read_text())


def resolve_mode(config: ScoringConfig, hf_config: dict[str, Any]) -> str:
    if config.mode != "auto":
        return config.mode
    archs = hf_config.get("architectures") or []
    if any(a.endswith("ForSequenceClassification") for a in archs):
        return "classifier"
    if any(a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")) for a in archs):
        return "generative"
    raise ConfigError(f"cannot tell the scoring mode from architectures {archs}; set mode explicitly")


def effective_max_tokens(config: ScoringConfig, hf_config: dict[str, Any], mode: str) -> int:
    """Clamp to the model's positions; generative mode needs one position for the answer token."""
    limit = hf_config.get("max_position_embeddings") or hf_config.get("n_positions")
    m = config.max_input_tokens
    if limit:
        m = min(m, int(limit) - (1 if mode == "generative" else 0))
    return m


def classifier_label_order(labels: list[str], hf_config: dict[str, Any]) -> list[int]:
    """Index of each task label among the checkpoint's outputs (``id2label``).

    Generic names (LABEL_0, ...) are matched by position when the counts agree.
    """
    id2label = {int(k): v for k, v in (hf_config.get("id2label") or {}).items()}
    n = len(id2label) or int(hf_config.get("num_labels", 0))
    by_name = {v: k for k, v in id2label.items()}
    if all(lab in by_name for lab in labels):
        return [by_name[lab] for lab in labels]
    generic = all(v == f"LABEL_{k}" for k, v in id2label.items())
    if (generic or not id2label) and n == len(labels):
        return list(range(n))
    raise ConfigError(f"task labels {labels} do not match the checkpoint's id2label {id2label}")


def checkpoint_labels(hf_config: dict[str, Any]) -> list[str] | None:
    """The label names a classifier checkpoint declares, in output order (None if generic)."""
    id2label = {int(k): v for k, v in (hf_config.get("id2label") or {}).items()}
    if not id2label or all(v == f"LABEL_{k}" for k, v in id2label.items()):
        return None
    return [id2label[i] for i in sorted(id2label)]


def load_tokenizer(model_dir: str | Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    tok.model_max_length = 1 << 30  # we truncate ourselves; silence "sequence too long" warnings
    return tok


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def lora_rank(adapter_dir: str | Path) -> int:
    cfg = json.loads((Path(adapter_dir) / ADAPTER_CONFIG_FILE).read_text())
    return int(cfg.get("r", 8))
