"""CLI: ``al-ray plan`` (capacity planning) and ``al-ray data ...`` (prepare data sets)."""

from __future__ import annotations

import json
from typing import Any, Optional

import typer
from rich.console import Console

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


# plan_capacity's parameter names -> this command's flags, for its error messages: a user typed the
# flags, and `target_wall_s` (seconds) is `--target-hours` (hours) here.
_PLAN_FLAGS = {"target_wall_s": "--target-hours", "mean_tokens_per_row": "--mean-tokens", "n_shards": "--shards",
               "rows_per_shard": "--rows-per-shard", "engine_startup_s": "--startup-s",
               "per_shard_overhead_s": "--shard-overhead-s", "gpus_per_engine": "--gpus-per-engine",
               "price_per_gpu_hour": "--price", "max_engines": "--max-engines", "engines": "--engines",
               "throughput (rows/s per engine)": "--throughput", "rows": "--rows"}


def _in_flag_names(message: str) -> str:
    import re

    def hours(m: re.Match) -> str:  # "target_wall_s=7200" / "target_wall_s must be > 0, got -3600.0"
        return f"{m.group(1)}{float(m.group(2)) / 3600:g}"

    message = re.sub(r"(target_wall_s(?:=| must be [^,]+, got ))(-?[0-9.e+]+)", hours, message)
    for name in sorted(_PLAN_FLAGS, key=len, reverse=True):
        message = re.sub(rf"(?<![\w-]){re.escape(name)}(?![\w])", _PLAN_FLAGS[name], message)
    return message


def plan_cmd(
    rows: float = typer.Option(..., help="Rows to score, e.g. 1e9."),
    throughput: Optional[float] = typer.Option(None, help="Measured rows/s of ONE engine (a flag)."),
    benchmark: Optional[str] = typer.Option(None, help="Benchmark JSON holding the per-engine rows/s."),
    throughput_key: Optional[str] = typer.Option(None, help="Dotted key of the throughput in --benchmark."),
    engines: Optional[int] = typer.Option(None, help="Cluster size (engines); or give --target-hours."),
    target_hours: Optional[float] = typer.Option(None, help="Solve for the engines meeting this wall time."),
    mean_tokens: Optional[float] = typer.Option(None, help="Mean tokens per row of the corpus to score."),
    bench_tokens: Optional[float] = typer.Option(None, help="Mean tokens per row the throughput was measured at."),
    shards: Optional[int] = typer.Option(None, help="Number of corpus shards."),
    rows_per_shard: Optional[float] = typer.Option(None, help="Rows per shard (instead of --shards)."),
    startup_s: Optional[float] = typer.Option(None, help="Engine start-up seconds."),
    shard_overhead_s: Optional[float] = typer.Option(None, help="Fixed seconds per shard (I/O, markers)."),
    gpus_per_engine: Optional[int] = typer.Option(None, help="GPUs per engine (tensor parallel)."),
    price: Optional[float] = typer.Option(None, help="Price per GPU-hour."),
    max_engines: Optional[int] = typer.Option(None, help="Refuse plans above this many engines."),
    json_out: Optional[str] = typer.Option(None, "--json", help="Also write the plan as JSON here."),
) -> None:
    """Turn a measured per-engine throughput into cluster size, wall time and cost."""
    from al_ray.planner import Throughput, plan_capacity, render_plan, throughput_from_benchmark
    from al_ray.storage import write_json_atomic

    if (throughput is None) == (benchmark is None):
        raise ConfigError("give exactly one of --throughput (rows/s per engine) or --benchmark FILE.json")
    if benchmark:
        tp = throughput_from_benchmark(benchmark, throughput_key)
        if bench_tokens is not None:
            tp = Throughput(tp.rows_per_s_per_engine, tp.source, bench_tokens, tp.engine_startup_s, tp.note)
    else:
        tp = Throughput(float(throughput), "given", bench_tokens, note="--throughput flag")  # type: ignore[arg-type]
    try:
        plan = plan_capacity(
            rows=rows, throughput=tp, engines=engines,
            target_wall_s=None if target_hours is None else target_hours * 3600.0,
            mean_tokens_per_row=mean_tokens, n_shards=shards, rows_per_shard=rows_per_shard,
            engine_startup_s=startup_s, per_shard_overhead_s=shard_overhead_s, gpus_per_engine=gpus_per_engine,
            price_per_gpu_hour=price, max_engines=max_engines,
        )
    except ConfigError as exc:
        raise ConfigError(_in_flag_names(str(exc))) from exc
    render_plan(plan, _out)
    if json_out:
        write_json_atomic(json_out, plan.to_dict())
        _out.print(f"plan written to {json_out}")


def register(app: typer.Typer) -> None:
    """Add ``plan`` and the ``data`` sub-app to the main app."""
    app.command("plan")(plan_cmd)
    app.add_typer(data_app, name="data")
