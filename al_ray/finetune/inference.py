"""Forward passes: logits and probabilities over the label set, one row per text.

Why a module of its own: these are the quantities the scorer reads, computed the scorer's way
(prompts encoded by ``al_ray.verbalize``'s encoder, a label's probability the summed probability of
its first-token spellings, renormalised over the label tokens), so they serve both the training
loop (its loss is taken on them) and the tests and audits that check the engines against this
reference (``label_probabilities``). No gradients are taken here except by the caller; torch is
imported inside the functions.
"""

from __future__ import annotations

from typing import Any, Sequence

from al_ray.errors import ConfigError
from al_ray.verbalize import GenerativePromptEncoder, LabelTokens, label_token_ids


def classifier_logits(model: Any, tokenizer: Any, texts: Sequence[str], max_length: int, device: str) -> Any:
    """[B, K] head logits of a (PEFT or plain) sequence classifier."""
    enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    enc = {k: v.to(device) for k, v in enc.items()}
    return model(**enc).logits


def next_token_logits(model: Any, prompt_ids: Sequence[Sequence[int]], pad_id: int, device: str) -> Any:
    """[B, V] next-token logits after each prompt (token ids; left-padded, positions count real tokens)."""
    import torch

    width = max(len(p) for p in prompt_ids)
    ids = torch.full((len(prompt_ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompt_ids), width), dtype=torch.long)
    for i, p in enumerate(prompt_ids):
        ids[i, width - len(p):] = torch.tensor(list(p), dtype=torch.long)
        mask[i, width - len(p):] = 1
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=position_ids.to(device),
                logits_to_keep=1)
    return out.logits[:, -1, :]


def label_log_probs(next_logits: Any, lt: LabelTokens, over_vocab: bool) -> Any:
    """[B, K] log-probability of each label: log of the summed probability of its tokens, the softmax
    taken over the label tokens only (``over_vocab`` False: renormalised, what the scorer reports)
    or over the whole vocabulary (True: the raw label mass, below 1)."""
    import torch

    tok_ids = torch.tensor(lt.token_ids, dtype=torch.long, device=next_logits.device)
    logits = next_logits if next_logits.dtype == torch.float64 else next_logits.float()
    logp = torch.log_softmax(logits, dim=-1)[:, tok_ids] if over_vocab else torch.log_softmax(logits[:, tok_ids], -1)
    owner = torch.tensor(lt.token_label, dtype=torch.long, device=logits.device)
    cols = [torch.logsumexp(logp[:, owner == k], dim=-1) for k in range(len(lt.labels))]
    return torch.stack(cols, dim=-1)


def label_probabilities(model: Any, tokenizer: Any, texts: Sequence[str], *, mode: str, max_length: int,
                        labels: Sequence[str] | None = None, prompt_template: str | None = None,
                        label_variants: str = "both", batch_size: int = 32, device: str = "cpu") -> Any:
    """[N, K] probabilities over the label set, renormalised as the scorer does (float64 tensor).

    Generative mode renders ``prompt_template`` around each text with the scorer's encoding and
    reads the label tokens after it. Inference only: the reference the engines are checked against.
    """
    import torch

    if mode == "generative":
        if labels is None or prompt_template is None:
            raise ConfigError("generative mode needs labels and prompt_template")
        encoder = GenerativePromptEncoder(tokenizer, prompt_template, list(labels), max_length)
        lt = label_token_ids(tokenizer, list(labels), encoder.tail, label_variants)
    was_training = model.training
    model.eval()
    rows = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            chunk = list(texts[start:start + batch_size])
            if mode == "classifier":
                logp = torch.log_softmax(classifier_logits(model, tokenizer, chunk, max_length, device).double(), -1)
            else:
                nt = next_token_logits(model, encoder.encode(list(chunk))[0], tokenizer.pad_token_id, device)
                logp = label_log_probs(nt.double(), lt, over_vocab=False)
            rows.append(logp.exp().cpu())
    model.train(was_training)
    return torch.cat(rows) if rows else torch.zeros((0, 0), dtype=torch.float64)
