"""Plain-transformers adapter: the reference the vLLM numbers are checked against, and a
fallback where vLLM is unavailable.

Batches are length-sorted under a padded-token budget by default (fewer pad tokens, bigger
batches for short texts); ``transformers_batching='fixed'`` keeps fixed-size batches in input
order, the naive baseline. Generative mode left-pads with explicit position ids and computes
logits for the last position only (``logits_to_keep=1``): a full (batch, length, vocab) tensor
would dominate memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from al_ray.scoring.config import ScoringConfig
from al_ray.scoring.engines.base import (
    Engine, EngineOutput, classifier_label_order, softmax,
)
from al_ray.verbalize import ClassifierEncoder, GenerativePromptEncoder, label_token_ids


# A length-sorted batch is closed early once padding would pass MAX_PAD_SHARE of its tokens, but
# not before it holds MIN_FILL_SHARE of the budget. With a long tail of lengths, one batch per
# budget padded the first batches heavily; tiny batches waste a GPU instead. Measured on an H100
# (benchmarks/RESULTS.md, 1,024 rows per call, 128K budget): 988 -> 1,184 texts/s with a row cap
# of 8,192, 1,143 -> 1,212 with a cap of 256; a fill share of 0.25 made the second case worse (1,011).
MAX_PAD_SHARE = 0.2
MIN_FILL_SHARE = 0.5


def plan_batches(lengths: np.ndarray, mode: str, token_budget: int, batch_size: int) -> list[np.ndarray]:
    """Row-index batches: fixed-size in input order, or length-sorted under a padded-token budget.

    Token-budget batches hold at most ``8 * batch_size`` rows and ``token_budget`` padded tokens
    (one longer row alone may exceed it); within that, each batch is as long as it can be with at
    most ``MAX_PAD_SHARE`` padding, and at least ``MIN_FILL_SHARE`` of the budget.
    """
    n = len(lengths)
    if mode == "fixed":
        return [np.arange(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    order = np.argsort(-lengths, kind="stable")
    ordered = np.maximum(lengths[order].astype(np.int64), 1)
    batches, start, cap = [], 0, batch_size * 8
    while start < n:
        longest = int(ordered[start])
        limit = max(1, min(cap, token_budget // longest, n - start))
        real = np.cumsum(ordered[start:start + limit])
        padded = longest * np.arange(1, limit + 1)
        within = np.flatnonzero(real >= (1 - MAX_PAD_SHARE) * padded)  # non-increasing lengths: a prefix
        size = int(within[-1]) + 1
        size = max(size, min(limit, -(-int(MIN_FILL_SHARE * token_budget) // longest)))
        batches.append(order[start:start + size])
        start += size
    return batches


def _torch_dtype(name: str, hf: dict):
    import torch

    if name == "auto":
        return torch.float32 if not torch.cuda.is_available() else torch.bfloat16
    return getattr(torch, name)


class TransformersEngine(Engine):
    def __init__(self, config: ScoringConfig, model_dir: str | Path, lora_dir: str | Path | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

        from al_ray.models import apply_checkpoint_pooling

        hf = self._load_common(config, model_dir)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = _torch_dtype(config.dtype, hf)
        if self.mode == "generative":
            self.encoder = GenerativePromptEncoder(self.tokenizer, config.task.prompt_template, self.labels,
                                                   self.max_input_tokens)
            self.label_tokens = label_token_ids(self.tokenizer, self.labels, self.encoder.tail, config.label_variants)
            self._tok_idx = torch.tensor(self.label_tokens.token_ids)
            self._matrix = self.label_tokens.matrix
            model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=dtype)
        else:
            self.encoder = ClassifierEncoder(self.tokenizer, self.max_input_tokens)
            self._order = classifier_label_order(self.labels, hf)
            model = apply_checkpoint_pooling(AutoModelForSequenceClassification.from_pretrained(str(model_dir),
                                                                                                dtype=dtype))
        if lora_dir is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(lora_dir))
        self.model = model.to(self.device).eval()
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        import torch

        n, width = len(batch), max(len(x) for x in batch)
        ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        left = self.mode == "generative"
        for i, x in enumerate(batch):
            if left:
                ids[i, width - len(x):] = torch.tensor(x)
                mask[i, width - len(x):] = 1
            else:
                ids[i, : len(x)] = torch.tensor(x)
                mask[i, : len(x)] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        with torch.inference_mode():
            if left:
                pos = (mask.cumsum(dim=1) - 1).clamp(min=0)
                logits = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, logits_to_keep=1).logits
                lp = torch.log_softmax(logits[:, -1, :].float(), dim=-1)[:, self._tok_idx.to(self.device)]
                return lp.double().cpu().numpy()
            return self.model(input_ids=ids, attention_mask=mask).logits.double().cpu().numpy()

    def score_texts(self, texts: list[str]) -> EngineOutput:
        n = len(texts)
        if n == 0:
            return EngineOutput(np.zeros((0, len(self.labels))), np.zeros(0, dtype=bool))
        ids, truncated = self.encoder.encode(texts)
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=n)
        width = len(self.label_tokens.token_ids) if self.mode == "generative" else None
        out = None
        for rows in plan_batches(lengths, self.config.transformers_batching,
                                 self.config.transformers_token_budget, self.config.transformers_batch_size):
            res = self._forward([ids[i] for i in rows])
            if out is None:
                out = np.empty((n, width or res.shape[1]))
            out[rows] = res
        if self.mode == "generative":
            probs = np.exp(out) @ self._matrix
        else:
            probs = softmax(out)[:, self._order]
        return EngineOutput(probs, truncated)

    def close(self) -> None:
        self.model = None
        import gc

        gc.collect()
