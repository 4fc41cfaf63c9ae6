"""``al-ray select``: choose the next labelling batch from score files."""

from __future__ import annotations

import json
from typing import Any, Optional

import typer

SELECT_HELP = (
    "Choose a labelling batch from score files (see al_ray.selection).\n\n"
    "Writes batch.parquet, batch.jsonl, dedup_groups.parquet, candidates.parquet and "
    "selection_summary.json into --out. --config is a YAML/JSON file with optional `task:` and "
    "`selection:` sections (a file without them is read as the selection section); flags override it."
)


def _parse_storage_options(items: list[str] | None) -> dict[str, Any]:
    from al_ray.cli.options import parse_storage_options

    return parse_storage_options(items)


def select_command(
    scores: str = typer.Option(..., "--scores", help="Score files: a directory or file URL (any fsspec URL)."),
    out: str = typer.Option(..., "--out", help="Output directory URL for the batch files."),
    corpus: Optional[str] = typer.Option(None, "--corpus", help="Corpus location, for shard URLs in the score "
                                         "files that are relative or have moved."),
    n: Optional[int] = typer.Option(None, "--n", help="Batch size (default: config, else 100)."),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="boundary_pairs, cluster_margin, "
                                           "top_uncertainty, entropy, margin, least_confidence, random, typical."),
    config: Optional[str] = typer.Option(None, "--config", help="YAML/JSON config file (task: / selection:)."),
    round_: int = typer.Option(0, "--round", help="Round number written into the batch; seeds the RNG with --seed."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Random seed."),
    measure: Optional[str] = typer.Option(None, "--measure", help="entropy, margin or least_confidence."),
    pool_size: Optional[int] = typer.Option(None, "--pool-size", help="Candidates kept from the score files."),
    exclude: Optional[list[str]] = typer.Option(None, "--exclude", help="Label/batch file or directory whose ids "
                                                "are excluded (Parquet or JSONL with an id); repeatable."),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="Corpus text column."),
    id_column: Optional[str] = typer.Option(None, "--id-column", help="Corpus id column."),
    positive_label: Optional[str] = typer.Option(None, "--positive-label", help="Positive label (default: the "
                                                 "task's, else the last label of the score files)."),
    embedding_source: Optional[str] = typer.Option(None, "--embedding-source", help="auto, scores, "
                                                   "scoring_model, minilm or none."),
    storage_option: Optional[list[str]] = typer.Option(None, "--storage-option", help="fsspec option key=value "
                                                       "(value parsed as JSON when it can be); repeatable."),
    allow_partial: bool = typer.Option(False, "--allow-partial", help="Write a smaller batch when the pool "
                                       "is too small instead of failing."),
) -> None:
    from rich.console import Console

    from al_ray.config_io import build, deep_merge, load_mapping
    from al_ray.security import register_storage_options
    from al_ray.selection import SelectionConfig, read_exclude_ids, select_batch
    from al_ray.selection.pool import list_score_files
    from al_ray.task import TaskConfig

    import pyarrow.parquet as pq

    from al_ray import schemas, storage

    so = _parse_storage_options(storage_option)
    register_storage_options(so)
    raw = load_mapping(config)
    task_raw = raw.get("task") or {}
    sel_raw = raw.get("selection") if "selection" in raw or "task" in raw else raw
    sel_raw = sel_raw or {}
    overrides = {"n": n, "strategy": strategy, "seed": seed, "measure": measure, "pool_size": pool_size,
                 "allow_partial": True if allow_partial else None}
    if embedding_source:
        overrides["embedding"] = {"source": embedding_source}
    sel_cfg = build(SelectionConfig, deep_merge(sel_raw, overrides), source=config or "flags")

    if not task_raw.get("labels"):  # recover the label set from the first score file
        files = list_score_files(scores, so)
        if files:
            fs, path = storage.resolve(files[0], so)
            with fs.open(path, "rb") as f:
                task_raw = dict(task_raw, labels=schemas.labels_from_score_schema(pq.read_schema(f)))
    task_over = {"text_column": text_column, "id_column": id_column, "positive_label": positive_label}
    task = build(TaskConfig, deep_merge(task_raw, task_over), source=config or "task")

    exclude_ids = read_exclude_ids(exclude, so) if exclude else set()
    res = select_batch(sel_cfg, task, scores, corpus, out, round=round_, exclude_ids=exclude_ids,
                       storage_options=so)
    console = Console(stderr=True)
    for w in res.warnings:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
    console.print(f"selected {res.n_selected}/{res.n_requested} items ({res.strategy}) from a pool of "
                  f"{res.pool_size} ({res.dropped_duplicates} duplicates dropped) -> {res.batch_url}",
                  highlight=False)
    typer.echo(json.dumps({"batch_url": res.batch_url, "n_selected": res.n_selected, "pool_size": res.pool_size,
                           "dropped_duplicates": res.dropped_duplicates, "warnings": res.warnings}))


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.command("select", help=SELECT_HELP)(select_command)
