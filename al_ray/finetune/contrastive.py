"""The contrastive recipe (``finetune.recipe: contrastive``): SetFit's two stages on the LoRA model.

SetFit (Tunstall et al. 2022) learns from a few labels in two stages: (1) fine-tune the sentence
encoder contrastively on pairs of labelled texts, same label -> cosine 1, different label ->
cosine 0, which multiplies the training signal (n labels give ~n^2 pairs); (2) fit a logistic
regression head on the tuned embeddings. Here stage (1) trains the *LoRA* matrices of the round's
classifier on the embedding its head reads (the checkpoint's pooler output: tanh of the mean for the
zero-shot MiniLM), and stage (2) is ``peft_adapter.warm_start_head``. So the round still produces
an adapter plus a merged ``*ForSequenceClassification`` checkpoint that vLLM serves, exactly like
the cross-entropy recipe; only the optimisation differs.

Why not the ``setfit`` package: it trains a ``SentenceTransformer`` object (full-body, no PEFT) and
saves a sentence-transformers model plus a pickled scikit-learn head, which neither vLLM nor the
round's checkpoint contract can load; it also pulls in ``datasets``/``evaluate``. The loss is
sentence-transformers' own ``CosineSimilarityLoss`` (what SetFit uses), fed with our embeddings.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Sequence

from al_ray.errors import ConfigError
from al_ray.finetune.config import FinetuneConfig


def sample_pairs(label_ids: Sequence[int], per_example: int, seed: int) -> list[tuple[int, int, float]]:
    """SetFit's pair sampling: for each example, ``per_example`` times, one partner with the same
    label (target 1.0) and one with another label (target 0.0), drawn with a seeded generator;
    shuffled. An example alone in its class gets only negative pairs."""
    import numpy as np

    y = np.asarray(label_ids)
    rng = np.random.default_rng([seed, 7])
    by_label = {lab: np.flatnonzero(y == lab) for lab in np.unique(y)}
    others = {lab: np.flatnonzero(y != lab) for lab in by_label}
    pairs: list[tuple[int, int, float]] = []
    for _ in range(per_example):
        for i, lab in enumerate(y.tolist()):
            same = by_label[lab][by_label[lab] != i]
            if len(same):
                pairs.append((i, int(rng.choice(same)), 1.0))
            if len(others[lab]):
                pairs.append((i, int(rng.choice(others[lab])), 0.0))
    order = rng.permutation(len(pairs))
    return [pairs[k] for k in order]


def head_input_embeddings(lm: Any, texts: Sequence[str], max_length: int, device: str) -> Any:
    """[B, d] what the classifier head reads (the encoder's pooler output), with gradients."""
    inner = lm.model.get_base_model() if hasattr(lm.model, "get_base_model") else lm.model
    encoder = getattr(inner, getattr(inner, "base_model_prefix", "bert"), None)
    if encoder is None or not hasattr(encoder, "pooler") or encoder.pooler is None:
        raise ConfigError(f"finetune.recipe 'contrastive' needs a BERT-style encoder with a pooler; "
                          f"{type(inner).__name__} has none (use recipe 'lora')")
    enc = lm.tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    enc = {k: v.to(device) for k, v in enc.items()}
    return encoder(**enc).pooler_output


def train_contrastive(lm: Any, texts: Sequence[str], label_ids: Sequence[int], config: FinetuneConfig, *,
                      device: str = "cpu", log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Stage (1): LoRA steps on the cosine-similarity loss over sampled pairs. Returns what was done.

    The step count is the pairs' single pass (SetFit's default: one epoch over the pairs), at least
    ``min_steps`` (pairs are reused when there are fewer) and at most ``contrastive_max_steps``, so
    a round's cost stays bounded as labels accumulate (pairs grow with the labels, SetFit's own
    advice is a step cap for larger sets).
    """
    import torch
    from sentence_transformers.losses import CosineSimilarityLoss

    if lm.mode != "classifier":
        raise ConfigError("finetune.recipe 'contrastive' is for classifier mode (generative mode: use 'lora')")
    t0 = time.perf_counter()
    pairs = sample_pairs(label_ids, config.contrastive_pairs_per_example, config.seed)
    if not pairs:
        return {"steps": 0, "pairs": 0, "loss_first": None, "loss_last": None, "seconds": 0.0}
    bs = config.batch_size
    total = min(max(math.ceil(len(pairs) / bs), config.min_steps), config.contrastive_max_steps)
    from al_ray.finetune.peft_adapter import Stepper

    loss_fn = CosineSimilarityLoss(lm.model)  # the library's loss; we hand it our embeddings
    lm.model.to(device)
    stepper = Stepper(lm, config, total, lr=config.learning_rate_for("classifier"))
    torch.manual_seed(config.seed)  # dropout masks
    lm.model.train()
    losses: list[float] = []
    for step in range(total):
        start = (step * bs) % len(pairs)
        batch = (pairs[start:start + bs] + pairs[: max(0, start + bs - len(pairs))])[:bs]
        u = head_input_embeddings(lm, [texts[i] for i, _, _ in batch], config.max_length, device)
        v = head_input_embeddings(lm, [texts[j] for _, j, _ in batch], config.max_length, device)
        target = torch.tensor([t for _, _, t in batch], dtype=torch.float32, device=device)
        loss = loss_fn.compute_loss_from_embeddings([u, v], target)
        stepper.step(loss)
        losses.append(float(loss.detach()))
        if log and (step + 1) % max(1, total // 5) == 0:
            log(f"contrastive step {step + 1}/{total}: cosine loss {sum(losses[-20:]) / len(losses[-20:]):.4f}")
    lm.model.eval()
    head = min(20, len(losses))
    return {"steps": total, "pairs": len(pairs), "loss_first": round(sum(losses[:head]) / head, 5),
            "loss_last": round(sum(losses[-head:]) / head, 5), "seconds": round(time.perf_counter() - t0, 3)}
