"""CLI: ``al-ray data ...``: write the demo corpus, prepare the Davidson tweets, import your own
labelled file, or generate a synthetic corpus of any size."""

from __future__ import annotations

from typing import Any, Optional

import typer
from rich.console import Console

from al_ray import layout
from al_ray.cli.options import parse_storage_options, storage_option
from al_ray.errors import ConfigError

_out = Console()

data_app = typer.Typer(name="data", help="Write the demo corpus, prepare the Davidson tweets, import "
                       "your own labelled file, or generate a synthetic corpus of any size.", no_args_is_help=True)

StorageOpt = storage_option()


def _storage_options(raw: Optional[list[str]]) -> dict[str, Any] | None:
    return parse_storage_options(raw) or None


def _print_dataset(ds: Any) -> None:
    _out.print(f"corpus: {ds.corpus_url} ({ds.n_rows:,} rows in {ds.n_shards} shards)")
    _out.print(f"gold:   {ds.gold_url} (labels {list(ds.labels)}, positive '{ds.positive_label}' "
               f"{ds.positive_rate:.2%}, {ds.n_test:,} test ids, {ds.n_ties} ties)")


@data_app.command("demo-corpus")
def demo_corpus_cmd(
    out: str = typer.Argument(..., help="Corpus folder URL (shards land here)."),
    gold: Optional[str] = typer.Option(None, help="Gold folder URL; default: sibling 'gold' of OUT."),
    rows: int = typer.Option(20000, min=1),
    shards: int = typer.Option(8, min=1),
    positive_rate: float = typer.Option(0.05),
    test_fraction: float = typer.Option(0.2),
    seed: int = typer.Option(0),
    storage_options: Optional[list[str]] = StorageOpt,
) -> None:
    """Write the safe demo moderation corpus (violating vs neither) with gold votes and a test split."""
    from al_ray.data.demo_corpus import write_demo_corpus

    ds = write_demo_corpus(out, n_rows=rows, n_shards=shards, positive_rate=positive_rate,
                           test_fraction=test_fraction, seed=seed, gold_url=gold,
                           storage_options=_storage_options(storage_options))
    _print_dataset(ds)
    _out.print(f"ambiguous: {ds.ambiguous_rate:.1%}, duplicates: {ds.n_duplicates:,}")


@data_app.command("davidson")
def davidson_cmd(
    csv: str = typer.Argument(..., help="Path/URL of labeled_data.csv."),
    out: str = typer.Argument(..., help="Corpus folder URL (shards land here)."),
    task: str = typer.Option("violating", help="violating (hate+offensive vs neither) or hate (hate vs rest)."),
    gold: Optional[str] = typer.Option(None, help="Gold folder URL; default: sibling 'gold' of OUT."),
    shards: int = typer.Option(8, min=1),
    test_fraction: float = typer.Option(0.2),
    seed: int = typer.Option(0),
    max_rows: Optional[int] = typer.Option(None, min=2, help="Keep a seeded, label-stratified subsample of "
                                           "this many tweets (before the split)."),
    storage_options: Optional[list[str]] = StorageOpt,
) -> None:
    """Prepare the Davidson et al. tweets: corpus shards, gold votes per task label, test split."""
    from al_ray.data.davidson import prepare_davidson

    ds = prepare_davidson(csv, out, task=task, n_shards=shards, test_fraction=test_fraction, seed=seed,  # type: ignore[arg-type]
                          gold_url=gold, max_rows=max_rows, storage_options=_storage_options(storage_options))
    _print_dataset(ds)


@data_app.command("synthetic")
def synthetic_cmd(
    out: str = typer.Argument(..., help="Corpus folder URL."),
    rows: float = typer.Option(1e6, help="Total rows (1e9 accepted)."),
    shards: Optional[int] = typer.Option(None, help="Shard count; default rows / rows-per-shard."),
    rows_per_shard: int = typer.Option(10_000, min=1),
    only: Optional[str] = typer.Option(None, help="Write only these shard indices, e.g. '0-99' or '3,7'."),
    workers: int = typer.Option(1, min=1, help="Local processes."),
    seed: int = typer.Option(0),
    median_words: float = typer.Option(25.0),
    scores: bool = typer.Option(False, "--scores", help="Write synthetic score files instead of texts."),
    labels: str = typer.Option("neither,violating", help="Score files: comma-separated labels."),
    storage_options: Optional[list[str]] = StorageOpt,
) -> None:
    """Write a deterministic synthetic corpus (or score files) of any size, shard by shard."""
    import time

    from al_ray.data.synthetic import LengthModel, write_synthetic_corpus, write_synthetic_scores

    n_rows = int(rows)
    if n_rows != rows or n_rows < 1:
        raise ConfigError(f"--rows must be a positive whole number, got {rows}")
    n_shards = shards or max(1, -(-n_rows // rows_per_shard))
    subset = _parse_indices(only) if only else None
    so = _storage_options(storage_options)
    t0 = time.perf_counter()
    if scores:
        urls = write_synthetic_scores(out, n_rows=n_rows, n_shards=n_shards, labels=labels.split(","),
                                      seed=seed, shards=subset, storage_options=so)
    else:
        urls = write_synthetic_corpus(out, n_rows=n_rows, n_shards=n_shards, seed=seed, shards=subset,
                                      workers=workers, lengths=LengthModel(median_words=median_words),
                                      storage_options=so)
    dt = time.perf_counter() - t0
    _out.print(f"wrote {len(urls):,} of {n_shards:,} shards to {out} in {dt:.1f} s")


def _parse_indices(spec: str) -> list[int]:
    out: list[int] = []
    try:
        for part in spec.split(","):
            if "-" in part:
                lo, hi = part.split("-", 1)
                out.extend(range(int(lo), int(hi) + 1))
            elif part.strip():
                out.append(int(part))
    except ValueError as exc:
        raise ConfigError(f"--only must look like '0-99,120', got {spec!r}") from exc
    return out




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
    from al_ray import storage
    from al_ray.data.importer import import_labelled, label_source
    from al_ray.errors import InputError
    from al_ray.security import scrub
    from al_ray.storage import join

    so = _storage_options(storage_options)
    # The file first, then the flags: a newcomer's typo in the path should be the first thing said.
    if not storage.exists(file, so):
        raise InputError("file not found", location=scrub(file))
    label_source(label_column, votes, share_column,
                 spelling={"label_column": "--label-column", "vote_columns": "--votes", "share_column": "--share-column"})
    label_list = [lab.strip() for lab in labels.split(",") if lab.strip()]
    quote_char = None if quoting is None else ('"' if quoting else False)
    corpus_url = join(out, layout.CORPUS_DIR)
    ds = import_labelled(
        file, corpus_url, labels=label_list, text_column=text_column, id_column=id_column or None,
        label_column=label_column, vote_columns=None if votes is None else _votes(votes),
        share_column=share_column, annotators=annotators, annotators_column=annotators_column,
        label_map=_pairs(label_map, "--label-map") if label_map else None, positive_label=positive_label,
        test_fraction=test_fraction, seed=seed, n_shards=shards, gold_url=gold or join(out, layout.GOLD_DIR), fmt=fmt,
        max_rows=max_rows, storage_options=so, quote_char=quote_char,
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
    task_url = _write_task_file(out, ds, file, so)
    say(f"  task:   {task_url} (labels, positive label, the corpus's text and id columns; add "
        "label_descriptions: round 0's zero-shot model reads them)")
    say(f"next, stage by stage:  al-ray model init --task {task_url} --out MODEL  then  al-ray score --model MODEL "
        f"--task {task_url} --corpus {ds.corpus_url} --out SCORES  (select and labels read the task from there)")
    say("or the whole loop: copy configs/demo.yaml, set these, then run  al-ray run CONFIG.yaml --run runs/NAME")
    say(f"  task:       labels: [{', '.join(ds.labels)}], positive_label: {ds.positive_label}, "
        "label_descriptions: one per label (round 0's zero-shot model reads them)")
    say(f"  corpus:     url: {ds.corpus_url}, gold_url: {ds.gold_url}, holdout_url: {ds.gold_url}  (no source)")
    say(f"  simulation: kind: {sim}  (simulated experts; leave simulation out for real annotators)")

def _write_task_file(out: str, ds: Any, source: str, storage_options: dict[str, Any] | None) -> str:
    """OUT/task.yaml: the task file every stage takes with --task, for the corpus just written (whose
    columns are always ``id`` and ``text``, whatever the source file called them). An existing file
    is kept: the user may have added label descriptions to it."""
    import posixpath

    import yaml

    from al_ray import storage

    url = storage.join(out, layout.TASK_FILE)
    if not storage.exists(url, storage_options):
        name = posixpath.splitext(posixpath.basename(source.split("://", 1)[-1]))[0] or "task"
        task = {"name": name, "labels": list(ds.labels), "positive_label": ds.positive_label,
                "text_column": "text", "id_column": "id"}
        storage.write_bytes_atomic(url, yaml.safe_dump(task, sort_keys=False).encode("utf-8"), storage_options)
    return url


def register(app: typer.Typer) -> None:
    """Add the ``data`` sub-app (with ``import``) to the main app."""
    data_app.command("import")(import_cmd)
    app.add_typer(data_app, name="data")
