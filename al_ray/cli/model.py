"""``al-ray model init``: the round-0 model of a task, from the task file alone.

``score`` needs ``--model``, and before any expert label exists the only model is one built from
the task: by default a zero-shot classifier whose head points at each label's description
(``al_ray.models.build_zero_shot_classifier``); with ``--causal-lm`` a causal LM that answers with
the label words (generative mode, ``al_ray.verbalize``), checked here against its tokenizer, so
a verbalizer collision fails in seconds instead of inside a scoring worker after Ray has started.

Beside the checkpoint the command writes ``al_ray_scoring.yaml`` (the task with its text and id
columns, the model and its mode), so ``al-ray score --config DIR/al_ray_scoring.yaml`` needs
nothing repeated. transformers' load report ("classifier.weight MISSING ... newly initialized")
is silenced: a fresh head is the point of this command, not a problem to report.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import typer

from al_ray import layout
from al_ray.errors import ConfigError

SCORING_CONFIG_NAME = layout.SCORING_CONFIG_FILE

model_app = typer.Typer(help="Build the round-0 model of a task (zero-shot classifier or a causal LM "
                        "with label verbalizers).", no_args_is_help=True)


def load_task(url: str):
    """The ``TaskConfig`` in a YAML/JSON file: the task mapping itself, or a file with a ``task:``
    section (a run config, a scoring config, a select config); errors name the file and field."""
    from al_ray import config_io
    from al_ray.task import TaskConfig

    raw = config_io.load_mapping(url)
    if isinstance(raw.get("task"), dict):
        raw = raw["task"]
    if not raw:
        raise ConfigError(f"{url}: empty task file (expected labels: [...], label_descriptions: {{...}})")
    return config_io.build(TaskConfig, raw, source=url)


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers at error level and without progress bars for the duration, then as before."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _is_remote(url: str) -> bool:
    return "://" in url and not url.startswith("file://")


def _check_out(out: str, force: bool) -> None:
    from al_ray import storage

    if storage.exists(storage.join(out, layout.CHECKPOINT_CONFIG_FILE)) and not force:
        raise ConfigError(f"--out {out} already holds a checkpoint (config.json); pass --force to replace it")


def _link_or_copy(src: str, dst: str) -> str:
    """Hard links where the filesystem allows (a causal LM's weights cost no space), else a copy.

    An existing ``dst`` (``--force``) is unlinked first: writing through it could change the file
    it is linked to, and copying a file onto its own hard link fails.
    """
    if os.path.lexists(dst):
        os.unlink(dst)
    try:
        os.link(src, dst)
        return dst
    except OSError:
        return shutil.copy2(src, dst)


def _causal_lm(path: str, task, variants: str, max_tokens: int) -> dict[str, list[str]]:
    """Check a causal LM checkpoint and the task's label words against its tokenizer.

    Returns each label's first tokens (what the scorer will read). Raises ConfigError naming the
    path for a directory that is not a causal LM, and LabelTokenCollisionError (a ConfigError)
    naming the two labels whose first tokens collide.
    """
    from transformers import AutoTokenizer

    from al_ray.verbalize import GenerativePromptEncoder, label_token_ids

    cfg_path = Path(path) / layout.CHECKPOINT_CONFIG_FILE
    if not cfg_path.is_file():
        raise ConfigError(f"--causal-lm {path}: no config.json (expected a local transformers checkpoint directory)")
    try:
        archs = json.loads(cfg_path.read_text()).get("architectures") or []
    except ValueError as exc:
        raise ConfigError(f"{cfg_path}: not valid JSON: {exc}") from exc
    if not any(str(a).endswith("ForCausalLM") for a in archs):
        raise ConfigError(f"--causal-lm {path}: architectures {archs} has no *ForCausalLM; generative mode "
                          "needs a causal LM (leave --causal-lm out for a zero-shot classifier)")
    tokenizer = AutoTokenizer.from_pretrained(path)
    GenerativePromptEncoder(tokenizer, task.prompt_template, list(task.labels), max_tokens)
    tail = task.prompt_template.replace("{labels}", ", ".join(task.labels)).split("{text}", 1)[1]
    return label_token_ids(tokenizer, list(task.labels), tail, variants).describe(tokenizer)


def init_cmd(
    task_file: str = typer.Option(..., "--task", help="Task YAML/JSON: labels, label_descriptions, text_column, "
                                  "id_column (or a config file with a task: section)."),
    out: str = typer.Option(..., "--out", help="Directory (or fsspec URL) the checkpoint is written to."),
    causal_lm: Optional[str] = typer.Option(None, "--causal-lm", help="Generative mode: a local causal-LM "
                                            "checkpoint whose answers are the label words (verbalizers); "
                                            "copied (hard-linked where possible) into --out."),
    base: Optional[str] = typer.Option(None, "--base", help="Zero-shot mode: the sentence encoder under the "
                                       "head (default: the bundled all-MiniLM-L6-v2)."),
    version: Optional[str] = typer.Option(None, "--version", help="Model version written to every score row "
                                          "(default r000-zero-shot, or r000-<causal LM folder name>)."),
    label_variants: str = typer.Option("both", "--label-variants", help="Generative mode: verbalizer "
                                       "spellings checked (both, space, bare); as scoring's label_variants."),
    max_tokens: int = typer.Option(512, "--max-tokens", help="Generative mode: input token limit the "
                                   "prompt template must leave room in."),
    force: bool = typer.Option(False, "--force", help="Replace a checkpoint already in --out."),
) -> None:
    """Build the round-0 model from the task file and write al_ray_scoring.yaml beside it."""
    import yaml
    from rich.console import Console

    from al_ray import storage
    from al_ray.models import MODEL_VERSION_FILE, build_zero_shot_classifier, write_model_version

    console = Console(stderr=True)
    t0 = time.perf_counter()
    task = load_task(task_file)
    remote = _is_remote(out)
    if not remote:  # absolute: the scoring config is read from other working directories (Ray workers)
        out = os.path.abspath(os.path.expanduser(out.removeprefix("file://")))
    if label_variants not in ("both", "space", "bare"):
        raise ConfigError(f"--label-variants must be both, space or bare; got {label_variants!r}")
    _check_out(out, force)
    work = tempfile.mkdtemp(prefix="al-ray-model-") if remote else out
    info: dict[str, Any] = {"model": out, "labels": list(task.labels)}
    try:
        with quiet_transformers():
            if causal_lm:
                tokens = _causal_lm(causal_lm, task, label_variants, max_tokens)
                version = version or f"r000-{Path(causal_lm.rstrip('/')).name}"
                if Path(work).resolve() != Path(causal_lm).resolve():
                    # al_ray's own files are written fresh below, never through a link to the source's
                    shutil.copytree(causal_lm, work, copy_function=_link_or_copy, dirs_exist_ok=True,
                                    ignore=shutil.ignore_patterns(MODEL_VERSION_FILE, SCORING_CONFIG_NAME))
                Path(work, MODEL_VERSION_FILE).unlink(missing_ok=True)
                write_model_version(work, version)
                info.update(mode="generative", label_tokens=tokens)
            else:
                undescribed = [lab for lab in task.labels if not task.label_descriptions.get(lab)]
                if undescribed:
                    console.print("[yellow]warning:[/] ", end="")
                    console.print(f"{task_file}: no label_descriptions for {undescribed}: their head rows use the "
                                  "label names as descriptions (a weaker zero-shot start)",
                                  markup=False, highlight=False, soft_wrap=True)
                version = version or "r000-zero-shot"
                build_zero_shot_classifier(work, list(task.labels), task.label_descriptions, base=base,
                                           version=version)
                info.update(mode="classifier")
        scoring: dict[str, Any] = {"model": out, "mode": info["mode"], "task": task.model_dump(mode="json")}
        if causal_lm:  # what the verbalizers and the template were checked with, the scorer uses too
            scoring.update(label_variants=label_variants, max_input_tokens=max_tokens)
        Path(work, SCORING_CONFIG_NAME).write_text(
            "# Written by `al-ray model init`; use as `al-ray score --config <this file> --corpus ... --out ...`\n"
            + yaml.safe_dump(scoring, sort_keys=False))
        if remote:
            storage.put_dir(work, out)
    finally:
        if remote:
            shutil.rmtree(work, ignore_errors=True)
    info.update(version=version, scoring_config=storage.join(out, SCORING_CONFIG_NAME))
    console.print(f"wrote {info['mode']} model {out} (labels {', '.join(task.labels)}; version {version}) in "
                  f"{time.perf_counter() - t0:.1f}s", markup=False, highlight=False, soft_wrap=True)
    console.print(f"next: al-ray score --model {out} --task {task_file} --corpus CORPUS --out SCORES  "
                  f"(or --config {info['scoring_config']}); select and labels then read the task from SCORES",
                  markup=False, highlight=False, soft_wrap=True)
    typer.echo(json.dumps(info))


def register(app: typer.Typer) -> None:
    """Add ``al-ray model ...`` to the main app."""
    model_app.command("init")(init_cmd)
    app.add_typer(model_app, name="model")
