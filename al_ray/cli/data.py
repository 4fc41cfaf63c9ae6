"""CLI: ``al-ray data import`` (bring your own labelled file), added to the ``data`` sub-app of
``al_ray.cli.plan``."""

from __future__ import annotations

from typing import Optional

import typer

from al_ray import layout
from al_ray.cli.options import storage_option
from al_ray.errors import ConfigError


def _pairs(spec: str, flag: str) -> dict[str, str]:
    """``a=x,b=y`` -> {"a": "x", "b": "y"}; the last ``=`` splits (labels never hold one)."""
    out: dict[str, str] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        key, sep, value = part.rpartition("=")
        if not sep or not value.strip():
            raise ConfigError(f"{flag} must look like key=value,key=value; got {part!r} in {spec!r}")
        out[key.strip()] = value.strip()
    return out


def _votes(spec: str) -> dict[str, str]:
    """``--votes``: ``label=column,...``; ``auto`` (or labels left out) means ``votes_<label>``."""
    return {} if spec.strip().lower() in ("auto", "default") else _pairs(spec, "--votes")


def import_cmd(
    file: str = typer.Argument(..., help="Labelled file (path or fsspec URL): .csv, .tsv, .jsonl/.ndjson, .parquet."),
    out: str = typer.Option(..., "--out", help="Output folder URL: writes OUT/corpus (shards) and OUT/gold."),
    labels: str = typer.Option(..., help="Task labels, comma-separated, e.g. ham,spam (positive last by default)."),
    text_column: str = typer.Option("text", help="Column holding the texts."),
    id_column: str = typer.Option("id", help="Column holding unique ids; '' numbers the records row-0, row-1, ..."),
    label_column: Optional[str] = typer.Option(None, help="(a) Column with one gold label per row."),
    votes: Optional[str] = typer.Option(
        None, help="(b) Per-label vote-count columns, e.g. neither=n_neither,violating=n_viol; "
        "'auto' or labels left out: votes_<label>."),
    share_column: Optional[str] = typer.Option(
        None, help="(c) Column with the share of annotators who said the positive label (binary tasks)."),
    annotators: Optional[int] = typer.Option(None, min=1, help="(c) Annotators per row (votes = round(share * N)); "
                                             "with --votes: the total every row must have."),
    annotators_column: Optional[str] = typer.Option(None, help="Column with each row's annotator count "
                                                    "(instead of --annotators)."),
    label_map: Optional[str] = typer.Option(None, help="Raw value -> task label, e.g. 0=neither,1=violating."),
    positive_label: Optional[str] = typer.Option(None, help="The rare/positive class; default: the last label."),
    test_fraction: float = typer.Option(0.2, help="Share held out as the (label-stratified) test split."),
    seed: int = typer.Option(0, help="Seeds tie draws, the subsample and the test split."),
    shards: int = typer.Option(1, min=1, help="Corpus shards to write."),
    max_rows: Optional[int] = typer.Option(None, min=2, help="Keep a seeded, label-stratified subsample of "
                                           "this many rows (before the split)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="csv | tsv | jsonl | parquet; default: from the suffix."),
    quoting: Optional[bool] = typer.Option(None, "--quoting/--no-quoting",
                                           help="CSV/TSV quote handling; default: on for CSV, off for TSV."),
    gold: Optional[str] = typer.Option(None, help="Gold folder URL; default: OUT/gold."),
    storage_options: Optional[list[str]] = storage_option(),
) -> None:
    """Import your own labelled file (gold labels, vote counts or positive shares) as a corpus + gold split."""
    from al_ray.cli.plan import _out, _storage_options
    from al_ray.data.importer import import_labelled
    from al_ray.storage import join

    label_list = [lab.strip() for lab in labels.split(",") if lab.strip()]
    quote_char = None if quoting is None else ('"' if quoting else False)
    corpus_url = join(out, layout.CORPUS_DIR)
    ds = import_labelled(
        file, corpus_url, labels=label_list, text_column=text_column, id_column=id_column or None,
        label_column=label_column, vote_columns=None if votes is None else _votes(votes),
        share_column=share_column, annotators=annotators, annotators_column=annotators_column,
        label_map=_pairs(label_map, "--label-map") if label_map else None, positive_label=positive_label,
        test_fraction=test_fraction, seed=seed, n_shards=shards, gold_url=gold or join(out, layout.GOLD_DIR), fmt=fmt,
        max_rows=max_rows, storage_options=_storage_options(storage_options), quote_char=quote_char,
    )
    def say(line: str) -> None:  # soft_wrap: paths stay whole (users copy them)
        _out.print(line, soft_wrap=True, markup=False, highlight=False)

    subsample = (f" (a label-stratified subsample of {ds.extra['n_rows_source']:,}, seed {seed})"
                 if "n_rows_source" in ds.extra else "")
    say(f"imported {ds.n_rows:,} rows{subsample} from {file}")
    say(f"  positive '{ds.positive_label}': {ds.positive_rate:.2%}   test split: {ds.n_test:,} ids   "
        f"ties: {ds.n_ties}   labels: {list(ds.labels)}")
    say(f"  corpus: {ds.corpus_url} ({ds.n_shards} shard{'s' if ds.n_shards > 1 else ''})")
    say(f"  gold:   {ds.gold_url} (gold.parquet, test_ids.parquet, dataset.json)")
    sim = "noisy_gold" if ds.extra.get("mode") == "label" else "vote_counts"
    say("next: copy configs/demo.yaml, set these, then run  al-ray run CONFIG.yaml --run runs/NAME")
    say(f"  task:       labels: [{', '.join(ds.labels)}], positive_label: {ds.positive_label}, "
        "label_descriptions: one per label (round 0's zero-shot model reads them)")
    say(f"  corpus:     url: {ds.corpus_url}, gold_url: {ds.gold_url}, holdout_url: {ds.gold_url}  (no source)")
    say(f"  simulation: kind: {sim}  (simulated experts; leave simulation out for real annotators)")

def register(app: typer.Typer) -> None:
    """Add ``import`` to the ``data`` sub-app (which ``al_ray.cli.plan`` adds to the main app)."""
    from al_ray.cli.plan import data_app

    data_app.command("import")(import_cmd)
