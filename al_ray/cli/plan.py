"""CLI: ``al-ray plan``: turn a measured throughput into cluster size, wall time and cost, and state
the driver's measured costs (planning, resume, candidate-pool merge) at the plan's shard count."""

from __future__ import annotations

from typing import Optional

import typer
from rich.console import Console

from al_ray.errors import ConfigError

_out = Console()

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
    """Turn a measured per-engine throughput into cluster size, wall time and cost.

    Beside them: the driver's measured costs (planning, resume, candidate-pool merge) scaled to the
    plan's shard count, each with its benchmark file, date and machine; "extrapolated" outside the
    measured shard counts.
    """
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
    """Add ``plan`` to the main app."""
    app.command("plan")(plan_cmd)
