"""``al-ray select``: choose the next labelling batch from score files."""

from __future__ import annotations

import json
import logging
from typing import Any, Optional

import typer

from al_ray.cli.options import merge_task, parse_storage_options, read_task_file, recorded_task, storage_option, task_option

SELECT_HELP = (
    "Choose a labelling batch from score files (see al_ray.selection).\n\n"
    "Writes batch.parquet, batch.jsonl, dedup_groups.parquet, candidates.parquet and "
    "selection_summary.json into --out. --config is a YAML/JSON file with optional `task:` and "
    "`selection:` sections (a file without them is read as the selection section); flags override it."
)


# How this command's advice names the settings (select_batch's option_names): the flags a user of
# the CLI can type, not the config keys behind them.
FLAG_NAMES = {"n": "--n", "pool_size": "--pool-size", "allow_partial": "--allow-partial"}


def _score_files(scores: str, so: dict[str, Any]) -> list[str]:
    """The score files under ``--scores``, or an error naming the folder.

    Checked first, before the task is built: the label set is read from these files, so without
    them the user would otherwise see "labels: Field required" for a flag this command lacks.
    """
    from al_ray import storage
    from al_ray.errors import InputError
    from al_ray.security import scrub
    from al_ray.selection.pool import list_score_files

    try:
        files = list_score_files(scores, so)
    except FileNotFoundError:
        files = []
    if files:
        return files
    if not storage.exists(scores, so):
        raise InputError("no such folder or file (--scores takes the --out folder of `al-ray score`)",
                         location=scrub(scores))
    raise InputError("no score files (*.parquet) in this --scores folder; has `al-ray score` finished, "
                     "and did it write here (its --out)?", location=scrub(scores))


class _DropResultWarnings:
    """A logging filter: select_batch logs the warnings it also returns; this command prints those."""

    def filter(self, record) -> bool:
        from al_ray.selection.api import RESULT_WARNING

        return not getattr(record, RESULT_WARNING, False)


def select_command(
    scores: str = typer.Option(..., "--scores", help="Score files: a directory or file URL (any fsspec URL)."),
    out: str = typer.Option(..., "--out", help="Output directory URL for the batch files."),
    corpus: Optional[str] = typer.Option(None, "--corpus", help="Corpus location, for shard URLs in the score "
                                         "files that are relative or have moved."),
    n: Optional[int] = typer.Option(None, "--n", help="Batch size (default: config, else 100)."),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="boundary_pairs, cluster_margin, "
                                           "top_uncertainty, entropy, margin, least_confidence, random, typical."),
    config: Optional[str] = typer.Option(None, "--config", help="YAML/JSON config file (task: / selection:)."),
    task_file: Optional[str] = task_option(),
    round_: int = typer.Option(0, "--round", help="Round number written into the batch; seeds the RNG with --seed."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed."),
    measure: Optional[str] = typer.Option(None, "--measure", help="entropy, margin or least_confidence."),
    pool_size: Optional[int] = typer.Option(None, "--pool-size", help="Candidates kept from the score files."),
    exclude: Optional[list[str]] = typer.Option(None, "--exclude", help="Label/batch file or directory whose ids "
                                                "are excluded (Parquet or JSONL with an id); repeatable."),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="Corpus text column."),
    id_column: Optional[str] = typer.Option(None, "--id-column", help="Corpus id column ('' when `score` "
                                            "derived the ids)."),
    positive_label: Optional[str] = typer.Option(None, "--positive-label", help="Positive label (default: the "
                                                 "task's, else the last label of the score files)."),
    embedding_source: Optional[str] = typer.Option(None, "--embedding-source", help="auto, scores, "
                                                   "scoring_model, minilm or none."),
    storage_options: Optional[list[str]] = storage_option(),
    allow_partial: bool = typer.Option(False, "--allow-partial", help="Write a smaller batch when the pool "
                                       "is too small instead of failing."),
) -> None:
    from rich.console import Console

    from al_ray.config_io import build, deep_merge, load_mapping
    from al_ray.selection import SelectionConfig, read_exclude_ids, select_batch
    from al_ray.task import TaskConfig

    so = parse_storage_options(storage_options)
    raw = load_mapping(config)
    task_raw = raw.get("task") or {}
    sel_raw = raw.get("selection") if "selection" in raw or "task" in raw else raw
    sel_raw = sel_raw or {}
    overrides = {"n": n, "strategy": strategy, "seed": seed, "measure": measure, "pool_size": pool_size,
                 "allow_partial": True if allow_partial else None}
    if embedding_source:
        overrides["embedding"] = {"source": embedding_source}
    sel_cfg = build(SelectionConfig, deep_merge(sel_raw, overrides), source=config or "flags")

    files = _score_files(scores, so)
    # The task `score` recorded in the score files (labels, text and id columns), then the files, then flags.
    flags = {"text_column": text_column, "positive_label": positive_label}
    task_data = merge_task(recorded_task(files[0], so), {**task_raw, **read_task_file(task_file)}, flags)
    if id_column is not None:
        task_data["id_column"] = id_column or None
    task = build(TaskConfig, task_data, source=task_file or config or "the task recorded in the score files")

    exclude_ids = read_exclude_ids(exclude, so) if exclude else set()
    sel_log = logging.getLogger("al_ray.selection")
    drop = _DropResultWarnings()
    sel_log.addFilter(drop)
    try:
        res = select_batch(sel_cfg, task, scores, corpus, out, round=round_, exclude_ids=exclude_ids,
                           storage_options=so, option_names=FLAG_NAMES)
    finally:
        sel_log.removeFilter(drop)
    console = Console(stderr=True)
    for w in res.warnings:
        console.print("[yellow]warning:[/] ", end="")
        console.print(w, markup=False, highlight=False, soft_wrap=True)
    console.print(f"selected {res.n_selected}/{res.n_requested} items ({res.strategy}) from a pool of "
                  f"{res.pool_size} ({res.dropped_duplicates} duplicates dropped) -> {res.batch_url}",
                  markup=False, highlight=False, soft_wrap=True)
    typer.echo(json.dumps({"batch_url": res.batch_url, "n_selected": res.n_selected, "pool_size": res.pool_size,
                           "dropped_duplicates": res.dropped_duplicates, "warnings": res.warnings}))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.command("select", help=SELECT_HELP)(select_command)
