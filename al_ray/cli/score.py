"""``al-ray score``: run the scoring stage alone (flags override the config file).

The CLI connects to Ray by the one rule of ``al_ray.ray_connect`` (``--ray-address``, else
``RAY_ADDRESS``, else a private local Ray), and only after every check that needs no Ray has passed (config, the
model path, the corpus listing and each shard's columns), so a mistake answers in about a second.
Engines live in Ray actors that the job shuts down explicitly (``close()`` then ``ray.kill``)
before this process exits, so vLLM never tears itself down at interpreter exit.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

import typer
from rich.console import Console

from al_ray import layout
from al_ray.cli.options import merge_task, parse_storage_options, read_task_file, storage_option, task_option
from al_ray.errors import ConfigError


def _classifier_labels(model: str, storage_options: dict[str, Any]) -> list[str] | None:
    """Labels from a classifier checkpoint's id2label (when --labels and the config give none)."""
    from al_ray import storage
    from al_ray.errors import InputError, StorageError
    from al_ray.scoring.engines.base import checkpoint_labels
    from al_ray.security import scrub

    url = storage.join(model, layout.CHECKPOINT_CONFIG_FILE)
    try:
        cfg = json.loads(storage.read_bytes(url, storage_options))
    except FileNotFoundError:  # a hub name or a generative checkpoint without one: the caller asks for --labels
        return None
    except ValueError as exc:  # json.JSONDecodeError
        raise InputError(f"not valid JSON: {exc}", location=scrub(url)) from exc
    except Exception as exc:  # noqa: BLE001 - the store failing is not "no labels"
        if not storage.is_storage_error(exc):
            raise
        raise StorageError(f"{scrub(url)}: cannot read the checkpoint config: {type(exc).__name__}: "
                           f"{scrub(str(exc))}") from exc
    if not any(a.endswith("ForSequenceClassification") for a in cfg.get("architectures") or []):
        return None
    return checkpoint_labels(cfg)


def _check_model_path(model: str) -> None:
    """A model given as a local path must exist; checked here because otherwise the error comes from
    the scoring workers, after Ray and the engines have started. Hub-style names (``org/name``) and
    URLs are left to the engines."""
    if "://" in model or not model.startswith(("/", "./", "../", "~")):
        return
    if not os.path.isdir(os.path.expanduser(model)):
        raise ConfigError(f"--model {model}: no such checkpoint directory "
                          "(build one with `al-ray model init --task task.yaml --out DIR`)")


def register(app: typer.Typer) -> None:
    @app.command("score")
    def score(
        model: Optional[str] = typer.Option(None, "--model", help="Checkpoint dir or fsspec URL."),
        corpus: str = typer.Option(..., "--corpus", help="Parquet shards: a directory/prefix URL or one file."),
        out: str = typer.Option(..., "--out", help="Output URL for score files and _summary.json."),
        config: Optional[str] = typer.Option(None, "--config", help="YAML/JSON ScoringConfig file."),
        task_file: Optional[str] = task_option(),
        mode: Optional[str] = typer.Option(None, "--mode", help="generative | classifier | auto"),
        labels: Optional[str] = typer.Option(None, "--labels", help="Comma-separated labels, e.g. safe,unsafe"),
        prompt: Optional[str] = typer.Option(None, "--prompt", help="Prompt template containing {text}."),
        text_column: Optional[str] = typer.Option(None, "--text-column"),
        id_column: Optional[str] = typer.Option(None, "--id-column", help="'' derives ids from (shard, row)."),
        workers: Optional[int] = typer.Option(None, "--workers"),
        backend: Optional[str] = typer.Option(None, "--backend", help="vllm | transformers"),
        max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Truncate inputs to this many tokens."),
        model_version: Optional[str] = typer.Option(None, "--model-version"),
        lora_adapter: Optional[str] = typer.Option(None, "--lora-adapter"),
        calibration: Optional[str] = typer.Option(None, "--calibration", help="none | batch (prior per shard) | corpus"),
        dtype: Optional[str] = typer.Option(None, "--dtype"),
        batch_rows: Optional[int] = typer.Option(None, "--batch-rows"),
        shard: Optional[list[str]] = typer.Option(None, "--shard", help="Score only this shard URL (repeatable)."),
        rescore: bool = typer.Option(False, "--rescore", help="Ignore completion markers."),
        ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Default: $RAY_ADDRESS, else local."),
        storage_options: Optional[list[str]] = storage_option(),
        no_progress: bool = typer.Option(False, "--no-progress"),
        overrides_set: Optional[list[str]] = typer.Option(None, "--set", metavar="KEY=VALUE", help="Override "
                                                          "any ScoringConfig field (dotted path, YAML value), "
                                                          "as jobs.score takes it; repeatable."),
    ) -> None:
        """Score a Parquet corpus: per-example label probabilities, entropy, margin."""
        from al_ray import config_io
        from al_ray.scoring.config import ScoringConfig
        from al_ray.scoring.job import preflight, run_scoring
        from al_ray.security import register_storage_options, scrub

        console = Console(stderr=True)
        base = config_io.deep_merge(config_io.load_mapping(config), config_io.parse_set(overrides_set))
        so = parse_storage_options(storage_options)
        register_storage_options(so)
        flags = {"labels": labels.split(",") if labels else None, "prompt_template": prompt,
                 "text_column": text_column}
        task = merge_task(base.get("task"), read_task_file(task_file), flags)
        overrides: dict[str, Any] = {
            "model": model, "mode": mode, "backend": backend, "workers": workers, "max_input_tokens": max_tokens,
            "model_version": model_version, "lora_adapter": lora_adapter, "calibration": calibration,
            "dtype": dtype, "batch_rows": batch_rows, "storage_options": so or None,
        }
        merged = config_io.deep_merge(base, overrides)
        if task:  # set whole: deep_merge would drop the file's explicit nulls (id_column: null)
            merged["task"] = task
        if id_column is not None:
            merged.setdefault("task", {})["id_column"] = id_column or None
        if not merged.get("model"):
            raise ConfigError("--model is required (or `model:` in --config)")
        _check_model_path(str(merged["model"]))
        if not (merged.get("task") or {}).get("labels"):
            found = _classifier_labels(merged["model"], merged.get("storage_options") or {})
            if not found:
                raise ConfigError("no labels: pass --labels a,b or --task FILE; only a classifier "
                                  "checkpoint with named id2label provides them")
            merged.setdefault("task", {})["labels"] = found
        cfg = config_io.build(ScoringConfig, merged, source=" + ".join(x for x in (config, task_file) if x)
                              or "command line")
        shards = list(shard) if shard else None
        checked = preflight(cfg, corpus, shards)  # before Ray: a wrong path or column fails in ~1 s

        import ray

        from al_ray.ray_connect import connect

        connect(ray_address)
        try:
            summary = run_scoring(cfg, corpus, out, shards=shards, rescore=rescore, progress=not no_progress,
                                  console=console, checked=checked)
        finally:
            ray.shutdown()
        console.print(f"[bold]scored[/] {summary.rows_scored:,} rows in {summary.shards_scored} shards "
                      f"({summary.shards_skipped_done} already done) in {summary.seconds:.1f}s "
                      f"= {summary.rows_per_s:,.0f} rows/s; empty {summary.rows_empty_text}, truncated "
                      f"{summary.rows_truncated}, skipped {summary.rows_skipped}; "
                      f"duplicate ids {summary.duplicate_ids.count}", highlight=False, soft_wrap=True)
        for f in summary.failed_shards:
            console.print(f"[bold red]{f.kind}[/] {f.shard}: {scrub(f.reason)}", highlight=False, soft_wrap=True)
        console.print(f"summary: {scrub(out.rstrip('/'))}/_summary.json", highlight=False, soft_wrap=True)
        if not summary.ok:
            # SystemExit, not typer.Exit: al_ray.cli.main runs click with standalone_mode=False, which
            # turns typer.Exit into a return value that main() does not pass on.
            raise SystemExit(1)
