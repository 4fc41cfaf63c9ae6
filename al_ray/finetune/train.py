"""One round's fine-tune: labels.parquet files in, adapter (+ merged checkpoint) + metrics out.

Outputs under ``out_url`` (normally ``RunLayout.model_dir(r)``), each published with a completion
marker written after it, in this order:

    adapter/        adapter_config.json, adapter_model.safetensors, al_ray_version.txt
    adapter.done
    merged/         (classifier mode) config.json, model.safetensors, tokenizer files, al_ray_version.txt
    merged.done
    metrics.json    losses, class counts and weights, timings, settings, label token ids, max_lora_rank
    metrics.json.done   <- the round's model is complete only once this exists

A rerun whose ``metrics.json.done`` exists for the same ``version`` returns the stored result
without training (datatrove-style resume); any other rerun trains again and overwrites.

Cumulative retraining: every round trains fresh LoRA matrices on the ORIGINAL round-0 base using
all labels gathered so far (the driver passes every round's labels.parquet). That keeps each round's
model a function of (base, all labels, seed) only, independent of earlier rounds' optimiser paths,
so rounds can be re-run alone and reproduced exactly. Cost grows with the labels so far: measured
on this project's shared 2-core machine, 500 tweets x 5 epochs (160 steps, batch 16, max 128 tokens)
took ~180 CPU-seconds; the default since issue 13's ablation, 12 epochs, is 384 steps there
(355-360 s wall on one thread under load 5-12, RESULTS.md section 1).
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from al_ray import storage
from al_ray.errors import ConfigError
from al_ray.finetune.config import MODES, FinetuneConfig, vllm_max_lora_rank
from al_ray.finetune.data import class_weights, read_labels
from al_ray.finetune.recipes import choose_recipe, fit_recipe
from al_ray.layout import ADAPTER_DIR, CHECKPOINT_CONFIG_FILE, MERGED_DIR, METRICS_FILE
from al_ray.models import MODEL_VERSION_FILE, read_model_version, write_model_version
from al_ray.security import register_storage_options, scrub
from al_ray.task import TaskConfig


class FinetuneResult(BaseModel):
    """Where a round's weights went. ``merged_url`` is None in generative mode (vLLM applies the
    adapter with a LoRARequest on the unchanged base)."""

    model_config = ConfigDict(extra="forbid")

    mode: str
    version: str
    base_model: str
    adapter_url: str
    merged_url: str | None
    metrics_url: str
    metrics: dict[str, Any] = Field(default_factory=dict)
    resumed: bool = Field(False, description="True when a completed earlier run was found and reused.")


def output_urls(out_url: str) -> dict[str, str]:
    return {
        "adapter": storage.join(out_url, ADAPTER_DIR),
        "merged": storage.join(out_url, MERGED_DIR),
        "metrics": storage.join(out_url, METRICS_FILE),
    }


def train_round(
    config: FinetuneConfig,
    task: TaskConfig,
    *,
    mode: str,
    base_model: str,
    labels: Sequence[str] | str,
    out_url: str,
    version: str,
    storage_options: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> FinetuneResult:
    """Fine-tune ``base_model`` with LoRA on all ``labels`` files and publish the weights to ``out_url``.

    mode: 'classifier' (base = ``*ForSequenceClassification`` dir; writes adapter/ and merged/) or
    'generative' (base = causal LM dir; writes adapter/ only).
    base_model: local directory or fsspec URL of the round-0 checkpoint (copied locally first).
    labels: labels.parquet URLs (or folders), every round so far.
    version: the id written into al_ray_version.txt of each output (what scorers put in model_version).
    """
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {MODES}, got {mode!r}")
    if not version or not str(version).strip():
        raise ConfigError("version must be a non-empty id (e.g. 'r001-<run>')")
    register_storage_options(storage_options)
    label_urls = [labels] if isinstance(labels, str) else list(labels)
    urls = output_urls(out_url)
    save_merged = config.save_merged_for(mode)

    # Resume: a completed run of this version is reused as is.
    if storage.is_done(urls["metrics"], storage_options):
        try:
            stored = storage.read_json(urls["metrics"], storage_options)
        except (FileNotFoundError, ValueError):
            stored = {}
        if stored.get("version") == version and stored.get("mode") == mode:
            return FinetuneResult(
                mode=mode, version=version, base_model=scrub(str(base_model)), adapter_url=urls["adapter"],
                merged_url=urls["merged"] if stored.get("merged") else None, metrics_url=urls["metrics"],
                metrics=stored, resumed=True,
            )

    t_start = time.perf_counter()
    data = read_labels(label_urls, task.labels, storage_options)  # fail fast, before loading a model
    counts = data.class_counts()
    weights = class_weights(counts, config.class_weighting)

    from al_ray.finetune import peft_adapter as pa  # lazy: torch/transformers/peft

    with tempfile.TemporaryDirectory(prefix="al_ray_ft_") as tmp:
        tmp_path = Path(tmp)
        base_dir = _materialise(base_model, tmp_path / "base", storage_options)
        base_version = read_model_version(base_dir)
        device = pa.pick_device(config.device)
        with pa.deterministic(config.deterministic), pa.isolated_rng(device), pa.torch_threads(config.torch_threads):
            lm = pa.build_lora_model(base_dir, mode, task.labels, config, task.prompt_template)
            trainable, total = lm.trainable_parameters()
            recipe, choice = "lora", None
            if mode == "classifier":
                recipe = config.recipe
                if config.recipe_candidates:
                    choice = choose_recipe(
                        pa, lambda: pa.build_lora_model(base_dir, mode, task.labels, config, task.prompt_template),
                        data.texts, data.label_ids, len(task.labels), config, device, log)
                    recipe = choice["chosen"]
                report, head_init, contrastive = fit_recipe(pa, lm, recipe, data.texts, data.label_ids, weights,
                                                            config, device, log)
            else:
                head_init, contrastive = {"head_init": "keep"}, None
                report = pa.train(lm, data.texts, data.label_ids, weights, config, device=device, log=log)
            threads_used = pa.current_threads()
        lm.model.to("cpu")

        adapter_local = pa.save_adapter(lm, tmp_path / ADAPTER_DIR, base_model_name=scrub(str(base_model)))
        write_model_version(adapter_local, version)
        merged_local = None
        if save_merged:
            merged_local = pa.save_merged(lm, tmp_path / MERGED_DIR)
            write_model_version(merged_local, version)

        metrics: dict[str, Any] = {
            "version": version,
            "mode": mode,
            "base_model": scrub(str(base_model)),
            "base_version": base_version,
            "model_type": lm.model_type,
            "labels": list(task.labels),
            "label_files": data.files,
            "n_rows_read": data.n_rows_read,
            "n_duplicates_dropped": data.n_duplicates_dropped,
            "n_train": len(data),
            "class_counts": data.class_counts_by_label(),
            "class_weighting": config.class_weighting,
            "class_weights": dict(zip(task.labels, weights)),
            "train_loss_per_epoch": report.train_loss_per_epoch,
            "train_loss_before": report.train_loss_before,
            "train_loss_after": report.train_loss_after,
            "train_accuracy_after": report.train_accuracy_after,
            "steps": report.steps,
            "head_init": head_init,
            "recipe": recipe,
            "recipe_choice": choice,
            "contrastive": contrastive,
            "learning_rate": config.learning_rate_for(mode),
            "lora_r": config.lora_r,
            "lora_alpha": config.lora_alpha,
            "target_modules": lm.target_modules,
            "modules_to_save": lm.modules_to_save,
            "max_lora_rank": vllm_max_lora_rank(config.lora_r),
            "trainable_parameters": trainable,
            "total_parameters": total,
            "seed": config.seed,
            "device": device,
            "torch_threads": threads_used,
            "seconds_train": round(report.seconds, 3),
            "config": config.model_dump(mode="json"),
            "adapter": ADAPTER_DIR,
            "merged": MERGED_DIR if save_merged else None,
            "notes": lm.notes,
            "environment": _environment(),
        }
        if mode == "generative":
            by_label = lm.label_tokens.by_label()
            metrics["label_token_ids"] = by_label
            metrics["label_tokens"] = {lab: lm.tokenizer.convert_ids_to_tokens(ids) for lab, ids in by_label.items()}
            metrics["label_variants"] = config.label_variants
            metrics["prompt_truncation"] = "text end (template kept)"
            metrics["generative_loss"] = config.generative_loss

        # Publish: stale markers go first, so a crash mid-way never leaves a "done" over new files.
        for key in ("metrics", "merged", "adapter"):
            storage.remove(storage.done_marker(urls[key]), storage_options)
        _publish_dir(adapter_local, urls["adapter"], storage_options)
        storage.mark_done(urls["adapter"], {"version": version}, storage_options)
        if merged_local is not None:
            _publish_dir(merged_local, urls["merged"], storage_options)
            storage.mark_done(urls["merged"], {"version": version}, storage_options)
        metrics["seconds"] = round(time.perf_counter() - t_start, 3)
        storage.write_json_atomic(urls["metrics"], metrics, storage_options)
        storage.mark_done(urls["metrics"], {"version": version}, storage_options)

    return FinetuneResult(
        mode=mode, version=version, base_model=scrub(str(base_model)), adapter_url=urls["adapter"],
        merged_url=urls["merged"] if save_merged else None, metrics_url=urls["metrics"], metrics=metrics,
    )


def _materialise(base_model: str, local: Path, storage_options: Mapping[str, Any] | None) -> Path:
    """A local directory holding the base checkpoint (remote URLs are downloaded into ``local``)."""
    fs, path = storage.resolve(str(base_model), storage_options)
    if storage.is_local(fs):
        p = Path(path)
        if not (p / CHECKPOINT_CONFIG_FILE).is_file():
            raise ConfigError(f"base_model {base_model} is not a checkpoint directory "
                              f"(no {CHECKPOINT_CONFIG_FILE})")
        return p
    if not fs.exists(storage.join(path, CHECKPOINT_CONFIG_FILE)):
        raise ConfigError(f"base_model {scrub(str(base_model))} is not a checkpoint directory "
                          f"(no {CHECKPOINT_CONFIG_FILE})")
    return Path(storage.get_dir(str(base_model), str(local), storage_options))


def _publish_dir(local_dir: Path, url: str, storage_options: Mapping[str, Any] | None) -> None:
    """Replace the directory at ``url`` with the files of ``local_dir`` (its marker comes after)."""
    storage.put_dir(str(local_dir), url, storage_options, replace=True)


def _environment() -> dict[str, Any]:
    import peft
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "host_cpus": os.cpu_count(),
    }


__all__ = ["FinetuneResult", "train_round", "output_urls", "MODEL_VERSION_FILE"]
