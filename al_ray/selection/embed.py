"""Sentence embeddings for candidates: mean pooling over an encoder's last hidden states.

This is what sentence-transformers does for all-MiniLM-L6-v2 (mean over non-padding tokens, then
L2 normalisation), written with transformers because sentence-transformers is not installed.
The same pooling works on the scoring model's checkpoint when it is a local encoder directory.
torch and transformers are imported lazily: importing this module is free.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from al_ray.layout import CHECKPOINT_CONFIG_FILE

log = logging.getLogger(__name__)

# Architectures whose mean-pooled hidden states make sensible sentence embeddings.
ENCODER_TYPES = {"bert", "roberta", "xlm-roberta", "distilbert", "deberta", "deberta-v2", "mpnet",
                 "electra", "camembert", "albert", "modernbert"}


def is_local_encoder(path: str | None) -> bool:
    """True for a local checkpoint directory of an encoder architecture (config.json model_type)."""
    if not path or "://" in path:
        return False
    cfg = Path(path) / CHECKPOINT_CONFIG_FILE
    if not cfg.is_file():
        return False
    try:
        return json.loads(cfg.read_text()).get("model_type") in ENCODER_TYPES
    except (OSError, ValueError):
        return False


class MeanPoolEmbedder:
    """Mean-pooled, L2-normalised embeddings from a transformers checkpoint directory."""

    def __init__(self, model_dir: str | Path | None = None, *, batch_size: int = 64, max_length: int = 128) -> None:
        from al_ray.models import minilm_path

        self.model_dir = str(model_dir) if model_dir else str(minilm_path())
        self.batch_size = batch_size
        self.max_length = max_length
        self._model = None
        self._tokenizer = None

    def _load(self):
        if self._model is None:
            from transformers import AutoModel, AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
            # AutoModel loads the encoder body of a *ForSequenceClassification checkpoint too.
            self._model = AutoModel.from_pretrained(self.model_dir)
            self._model.eval()
        return self._model, self._tokenizer

    @property
    def dim(self) -> int:
        model, _ = self._load()
        return int(model.config.hidden_size)

    def embed(self, texts: Sequence[str | None]) -> np.ndarray:
        import torch

        model, tok = self._load()
        texts = [t if t else "" for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Length-sorted batches waste less compute on padding; results go back to input order.
        order = np.argsort([len(t) for t in texts], kind="stable")
        with torch.no_grad():
            for start in range(0, len(texts), self.batch_size):
                idx = order[start:start + self.batch_size]
                enc = tok([texts[i] for i in idx], padding=True, truncation=True,
                          max_length=self.max_length, return_tensors="pt")
                hidden = model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=-1)
                out[idx] = pooled.float().numpy()
        return out


def normalise(emb: np.ndarray) -> np.ndarray:
    """L2-normalise rows (zero rows stay zero)."""
    emb = np.asarray(emb, dtype=np.float32)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    return emb / np.maximum(norms, 1e-12)
