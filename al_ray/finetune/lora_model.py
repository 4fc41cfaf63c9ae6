"""Model construction: load the base checkpoint for a mode and wrap it with fresh LoRA matrices.

Why a module of its own: everything that decides *which* model is trained lives here (the
checkpoint's head and label order checked against the task, the LoRA targets and the modules
trained in full, the seeded draws of a new head and of the LoRA A matrices, the generative
prompt encoder and label tokens), and ``LoraModel`` is the handle every other part of the adapter
takes. torch/transformers/peft are imported inside the functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from al_ray.errors import ConfigError
from al_ray.finetune.config import FinetuneConfig
from al_ray.verbalize import GenerativePromptEncoder, LabelTokens, label_token_ids


@dataclass
class LoraModel:
    """A PEFT-wrapped model ready to train, with what the loop needs to feed it."""

    model: Any  # peft.PeftModel
    tokenizer: Any
    mode: str
    model_type: str
    target_modules: list[str]
    modules_to_save: list[str]
    label_tokens: LabelTokens | None = None  # generative mode
    encoder: GenerativePromptEncoder | None = None  # generative mode
    notes: list[str] = field(default_factory=list)

    def trainable_parameters(self) -> tuple[int, int]:
        trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        total = sum(p.numel() for p in self.model.parameters())
        return trainable, total


def load_tokenizer(model_dir: str | Path, mode: str) -> Any:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    if mode == "generative" and tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def load_base_model(model_dir: str | Path, mode: str, labels: Sequence[str],
                    dtype: str = "float32") -> tuple[Any, list[str]]:
    """Load the base checkpoint for ``mode``; returns (model, notes)."""
    import torch

    torch_dtype = getattr(torch, dtype)
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification

    notes: list[str] = []
    cfg = AutoConfig.from_pretrained(str(model_dir))
    if mode == "classifier":
        archs = list(getattr(cfg, "architectures", None) or [])
        has_head = any(a.endswith("ForSequenceClassification") for a in archs)
        if has_head:
            ckpt_labels = [cfg.id2label[i] for i in sorted(cfg.id2label)] if cfg.id2label else []
            if ckpt_labels != list(labels):
                raise ConfigError(
                    f"classifier checkpoint {model_dir} has labels {ckpt_labels}, the task has {list(labels)} "
                    "(same names, same order); rebuild the round-0 classifier for this task"
                )
            model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), dtype=torch_dtype)
        else:
            notes.append("base has no classification head: a new head was initialised from the seed")
            model = AutoModelForSequenceClassification.from_pretrained(
                str(model_dir), dtype=torch_dtype, num_labels=len(labels),
                id2label=dict(enumerate(labels)), label2id={lab: i for i, lab in enumerate(labels)},
            )
        from al_ray.models import apply_checkpoint_pooling

        apply_checkpoint_pooling(model)
    elif mode == "generative":
        model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch_dtype)
    else:
        raise ConfigError(f"mode must be 'classifier' or 'generative', got {mode!r}")
    return model, notes


def build_lora_model(model_dir: str | Path, mode: str, labels: Sequence[str], config: FinetuneConfig,
                     prompt_template: str | None = None) -> LoraModel:
    """Load ``model_dir`` and wrap it with fresh LoRA matrices (seeded from ``config.seed``)."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model

    tokenizer = load_tokenizer(model_dir, mode)
    torch.manual_seed(config.seed)  # a classifier head missing from the checkpoint is drawn here
    base, notes = load_base_model(model_dir, mode, labels, config.dtype)
    model_type = str(base.config.model_type)
    targets = config.target_modules_for(model_type)
    to_save = config.modules_to_save_for(mode)
    lora_cfg = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        modules_to_save=list(to_save) or None,  # a copy: PEFT extends the list it is given
        bias="none",
        task_type=TaskType.SEQ_CLS if mode == "classifier" else TaskType.CAUSAL_LM,
    )
    torch.manual_seed(config.seed)  # LoRA A matrices (kaiming-uniform) come from the global generator
    try:
        model = get_peft_model(base, lora_cfg)
    except ValueError as exc:  # PEFT: "Target modules {...} not found in the base model"
        raise ConfigError(f"cannot apply LoRA to {model_type} checkpoint {model_dir}: {exc}") from exc
    # What PEFT actually trains in full (SEQ_CLS adds the usual head names 'classifier'/'score' itself),
    # restricted to the modules this model has.
    effective = list(getattr(model.peft_config["default"], "modules_to_save", None) or [])
    names = {name.rsplit(".", 1)[-1] for name, _ in base.named_modules()}
    to_save = list(dict.fromkeys(m for m in effective if m in names))
    lm = LoraModel(model=model, tokenizer=tokenizer, mode=mode, model_type=model_type,
                   target_modules=targets, modules_to_save=to_save, notes=notes)
    if mode == "generative":
        if prompt_template is None:
            raise ConfigError("generative mode needs the task's prompt_template")
        lm.encoder = GenerativePromptEncoder(tokenizer, prompt_template, list(labels), config.max_length)
        lm.label_tokens = label_token_ids(tokenizer, list(labels), lm.encoder.tail, config.label_variants)
    return lm
