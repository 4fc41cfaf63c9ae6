"""Saving and loading: the adapter files, the merged checkpoint, and the reference PEFT model.

Why a module of its own: these define the files a round leaves behind (``adapter/`` as vLLM's
LoRARequest and ``PeftModel.from_pretrained`` read it, ``merged/`` for classifier mode) and how
they are read back, independent of how the adapter was trained. torch/safetensors/peft/
transformers are imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from al_ray.finetune.lora_model import LoraModel, load_tokenizer


def save_adapter(lm: LoraModel, out_dir: str | Path, *, base_model_name: str | None = None) -> Path:
    """``adapter_config.json`` + ``adapter_model.safetensors`` (what vLLM's LoRARequest and
    ``PeftModel.from_pretrained`` read). ``base_model_name`` is recorded in the adapter config."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = lm.model
    if base_model_name is not None:
        for cfg in model.peft_config.values():
            cfg.base_model_name_or_path = base_model_name
    model.save_pretrained(str(out))
    return out


def save_merged(lm: LoraModel, out_dir: str | Path) -> Path:
    """Fold the LoRA deltas into the base weights (``merge_and_unload``) and write a plain checkpoint
    plus the tokenizer. Consumes ``lm.model``: save the adapter first."""
    import torch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        merged = lm.model.merge_and_unload()
    merged.save_pretrained(str(out))
    tok = lm.tokenizer
    tok.save_pretrained(str(out))
    lm.model = merged
    return out


def adapter_state(adapter_dir: str | Path) -> dict[str, Any]:
    """The saved adapter tensors (for comparisons in tests and audits)."""
    from safetensors.torch import load_file

    from al_ray.layout import ADAPTER_WEIGHTS_FILE

    return load_file(str(Path(adapter_dir) / ADAPTER_WEIGHTS_FILE))


def load_peft_model(base_dir: str | Path, adapter_dir: str | Path, mode: str) -> tuple[Any, Any]:
    """Base + saved adapter as a PEFT model (eval mode) and its tokenizer: the reference
    implementation the engines are checked against."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    tok = load_tokenizer(base_dir, mode)
    cls = AutoModelForSequenceClassification if mode == "classifier" else AutoModelForCausalLM
    base = cls.from_pretrained(str(base_dir), dtype=torch.float32)
    if mode == "classifier":
        from al_ray.models import apply_checkpoint_pooling

        apply_checkpoint_pooling(base)
    model = PeftModel.from_pretrained(base, str(adapter_dir))
    model.eval()
    return model, tok
