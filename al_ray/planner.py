"""Capacity planning: from a measured per-engine throughput to cluster size, wall time and cost.

The model is deliberately simple and written down, so every figure can be checked by hand:

    rate        = rows/s of one engine, scaled by measured_tokens / corpus_tokens when both are
                  known (scoring is compute-bound: twice the tokens, half the rows/s)
    work_s      = rows / rate + n_shards * per_shard_overhead_s     (engine-seconds, all engines)
    wall_s      = engine_startup_s + work_s / engines                (perfect balance)
    wall_upper  = wall_s + one shard's time                          (the last wave's straggler)
    gpu_hours   = engines * gpus_per_engine * wall_s / 3600          (GPUs are paid while starting)
    cost        = gpu_hours * price_per_gpu_hour

Given a target wall time instead of an engine count, it solves for the fewest engines:
    engines = ceil(work_s / (target_wall_s - engine_startup_s)).

Every input is tagged with where it came from — "measured" (a benchmark JSON), "given" (a flag)
or "assumed" (a default) — and the result reports the tags, because a plan built on an assumed
throughput is a guess and should say so.

Beside the engine costs the plan states the driver's own measured costs at its shard count
(planning, a resume, the candidate-pool merge; ``al_ray.planner_driver_costs``): each scaled from
benchmark measurements, marked "extrapolated" outside the measured shard counts, and named with its
result file, date and machine. They are not added to the wall time or the GPU-hours.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Mapping

from al_ray.errors import ConfigError, InputError
from al_ray.planner_driver_costs import DriverCost, driver_costs
from al_ray.storage import read_json

Source = Literal["measured", "given", "assumed"]

# Keys a benchmark JSON may use for per-engine throughput, most specific first.
PER_ENGINE_KEYS = ("rows_per_s_per_engine", "rows_per_second_per_engine", "texts_per_s_per_engine")
AGGREGATE_KEYS = ("rows_per_s", "rows_per_second", "texts_per_s", "throughput_rows_per_s")
ENGINE_COUNT_KEYS = ("engines", "workers", "n_engines", "num_engines")
TOKEN_KEYS = ("mean_tokens_per_row", "mean_tokens", "tokens_per_row", "mean_input_tokens")
STARTUP_KEYS = ("engine_startup_s", "startup_s", "start_up_s")

DEFAULTS: dict[str, float] = {
    "engine_startup_s": 120.0,      # model load + CUDA graph capture on a fresh GPU node
    "per_shard_overhead_s": 0.5,    # open + read + write + marker per shard on object storage
    "gpus_per_engine": 1,
    "price_per_gpu_hour": 2.5,      # on-demand H100-class list price, order of magnitude
}


@dataclass(frozen=True)
class Figure:
    value: float
    source: Source
    note: str = ""


@dataclass(frozen=True)
class Throughput:
    """A per-engine throughput and the token length it was measured at (if known)."""

    rows_per_s_per_engine: float
    source: Source
    mean_tokens_per_row: float | None = None
    engine_startup_s: float | None = None
    note: str = ""


@dataclass
class Plan:
    rows: float
    engines: int
    gpus: int
    rate_rows_per_s_per_engine: float
    work_engine_s: float
    wall_s: float
    wall_s_upper: float
    gpu_hours: float
    cost: float
    n_shards: int
    inputs: dict[str, Figure] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    driver: list[DriverCost] = field(default_factory=list)  # measured driver costs at n_shards

    @property
    def assumed(self) -> list[str]:
        return sorted(k for k, f in self.inputs.items() if f.source == "assumed")

    @property
    def measured(self) -> list[str]:
        return sorted(k for k, f in self.inputs.items() if f.source == "measured")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["inputs"] = {k: asdict(v) for k, v in self.inputs.items()}
        d["assumed"] = self.assumed
        d["measured"] = self.measured
        d["wall_h"] = self.wall_s / 3600
        d["driver"] = [{**asdict(c), "peak_rss_mib": c.peak_rss_mib} for c in self.driver]
        return d


def gpu_hours(engines: float, gpus_per_engine: float, wall_s: float) -> float:
    """The cost model (the module docstring's ``gpu_hours``): every engine holds its GPUs for the whole
    wall time, start-up included. The nightly summary's estimate uses it too
    (``al_ray.nightly.run.estimate_cost``)."""
    return engines * gpus_per_engine * wall_s / 3600.0


def cost(hours: float, price_per_gpu_hour: float) -> float:
    return hours * float(price_per_gpu_hour)


def _positive(name: str, value: float | None, *, allow_zero: bool = False) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def _find(obj: Any, keys: tuple[str, ...]) -> list[tuple[str, Any]]:
    """All (dotted path, value) pairs in a nested JSON whose last key is in ``keys``."""
    out: list[tuple[str, Any]] = []

    def walk(o: Any, path: str) -> None:
        if isinstance(o, Mapping):
            for k, v in o.items():
                p = f"{path}.{k}" if path else str(k)
                if k in keys and isinstance(v, (int, float)) and not isinstance(v, bool):
                    out.append((p, v))
                walk(v, p)
        elif isinstance(o, list):
            for i, v in enumerate(o):
                walk(v, f"{path}[{i}]")

    walk(obj, "")
    return out


def _get_path(obj: Any, dotted: str, where: str) -> float:
    """Follow ``a.b[2].c`` (the form ``_find`` reports) or ``a.b.2.c`` into a JSON document."""
    cur = obj
    for part in re.findall(r"[^.\[\]]+", dotted):
        if isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        elif isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        else:
            raise InputError(f"no key {dotted!r} (missing {part!r})", location=where)
    if isinstance(cur, bool) or not isinstance(cur, (int, float)):
        raise InputError(f"key {dotted!r} is not a number: {cur!r}", location=where)
    return float(cur)


def _unique(found: list[tuple[str, Any]], what: str, where: str) -> tuple[str, float] | None:
    values = {float(v) for _, v in found}
    if not found:
        return None
    if len(values) > 1:
        listing = ", ".join(f"{p}={v}" for p, v in found[:6])
        raise InputError(f"several different {what} figures ({listing}); name one with --throughput-key",
                         location=where)
    return found[0][0], float(found[0][1])


def throughput_from_benchmark(url: str, key: str | None = None,
                              storage_options: Mapping[str, Any] | None = None) -> Throughput:
    """Read a per-engine rows/s from a benchmark JSON.

    ``key`` (dotted path) names the figure; otherwise a per-engine key is searched for
    (``rows_per_s_per_engine`` ...), then an aggregate one (``rows_per_s`` ...) divided by the
    engine/worker count found beside it. Mean tokens per row and start-up seconds are picked up
    when present, so the plan can rescale to a corpus of a different length.
    """
    try:
        data = read_json(url, storage_options)
    except FileNotFoundError as exc:
        raise InputError("benchmark file not found", location=url) from exc
    except ValueError as exc:
        raise InputError(f"not valid JSON: {exc}", location=url) from exc
    tokens = _unique(_find(data, TOKEN_KEYS), "mean-tokens", url)
    startup = _unique(_find(data, STARTUP_KEYS), "start-up", url)
    common = {"mean_tokens_per_row": tokens[1] if tokens else None,
              "engine_startup_s": startup[1] if startup else None}
    if key:
        rate = _get_path(data, key, url)
        _positive(f"{url}: {key}", rate)
        return Throughput(rate, "measured", note=f"{key} from {url}", **common)
    per_engine = _unique(_find(data, PER_ENGINE_KEYS), "per-engine throughput", url)
    if per_engine:
        _positive(f"{url}: {per_engine[0]}", per_engine[1])
        return Throughput(per_engine[1], "measured", note=f"{per_engine[0]} from {url}", **common)
    aggregate = _unique(_find(data, AGGREGATE_KEYS), "throughput", url)
    if aggregate is None:
        raise InputError(f"no throughput figure (looked for {list(PER_ENGINE_KEYS + AGGREGATE_KEYS)}); "
                         "name one with --throughput-key", location=url)
    _positive(f"{url}: {aggregate[0]}", aggregate[1])
    engines = _unique(_find(data, ENGINE_COUNT_KEYS), "engine count", url)
    if engines is None:
        return Throughput(aggregate[1], "measured", note=f"{aggregate[0]} from {url}, taken as one engine", **common)
    _positive(f"{url}: {engines[0]}", engines[1])
    return Throughput(aggregate[1] / engines[1], "measured",
                      note=f"{aggregate[0]} / {engines[0]} from {url}", **common)


def plan_capacity(
    *,
    rows: float,
    throughput: Throughput,
    engines: int | None = None,
    target_wall_s: float | None = None,
    mean_tokens_per_row: float | None = None,
    n_shards: int | None = None,
    rows_per_shard: float | None = None,
    engine_startup_s: float | None = None,
    per_shard_overhead_s: float | None = None,
    gpus_per_engine: int | None = None,
    price_per_gpu_hour: float | None = None,
    max_engines: int | None = None,
) -> Plan:
    """Size a scoring job. Give exactly one of ``engines`` or ``target_wall_s``.

    Unset optional figures fall back to ``DEFAULTS`` (tagged "assumed"); the benchmark's own
    start-up time, when it has one, is preferred to the default (tagged "measured").
    """
    _positive("rows", rows)
    _positive("throughput (rows/s per engine)", throughput.rows_per_s_per_engine)
    for name, val in (("engines", engines), ("target_wall_s", target_wall_s),
                      ("mean_tokens_per_row", mean_tokens_per_row), ("n_shards", n_shards),
                      ("rows_per_shard", rows_per_shard), ("gpus_per_engine", gpus_per_engine),
                      ("price_per_gpu_hour", price_per_gpu_hour), ("max_engines", max_engines)):
        _positive(name, val)
    _positive("engine_startup_s", engine_startup_s, allow_zero=True)
    _positive("per_shard_overhead_s", per_shard_overhead_s, allow_zero=True)
    if (engines is None) == (target_wall_s is None):
        raise ConfigError("give exactly one of engines (cluster size) or target_wall_s (solve for it)")
    if n_shards is not None and rows_per_shard is not None:
        raise ConfigError("give n_shards or rows_per_shard, not both")
    for name, val in (("engines", engines), ("gpus_per_engine", gpus_per_engine), ("n_shards", n_shards),
                      ("max_engines", max_engines)):
        if val is not None and int(val) != val:
            raise ConfigError(f"{name} must be a whole number, got {val!r}")

    inputs: dict[str, Figure] = {"rows": Figure(float(rows), "given")}
    notes: list[str] = []

    def pick(name: str, given: float | None, measured: float | None = None) -> float:
        if given is not None:
            inputs[name] = Figure(float(given), "given")
        elif measured is not None:
            inputs[name] = Figure(float(measured), "measured", throughput.note)
        else:
            inputs[name] = Figure(float(DEFAULTS[name]), "assumed", "default")
        return inputs[name].value

    startup = pick("engine_startup_s", engine_startup_s, throughput.engine_startup_s)
    overhead = pick("per_shard_overhead_s", per_shard_overhead_s)
    gpe = int(pick("gpus_per_engine", gpus_per_engine))
    price = pick("price_per_gpu_hour", price_per_gpu_hour)

    rate = float(throughput.rows_per_s_per_engine)
    inputs["rows_per_s_per_engine"] = Figure(rate, throughput.source, throughput.note)
    if throughput.mean_tokens_per_row is not None:
        inputs["measured_tokens_per_row"] = Figure(throughput.mean_tokens_per_row, throughput.source, throughput.note)
    if mean_tokens_per_row is not None:
        inputs["mean_tokens_per_row"] = Figure(float(mean_tokens_per_row), "given")
        if throughput.mean_tokens_per_row is not None:
            scale = throughput.mean_tokens_per_row / mean_tokens_per_row
            rate *= scale
            notes.append(f"throughput scaled by {scale:.3g} (measured at {throughput.mean_tokens_per_row:g} "
                         f"tokens/row, corpus {mean_tokens_per_row:g}): compute-bound assumption")
        else:
            notes.append("mean_tokens_per_row given but the throughput has no token length: not rescaled")

    if rows_per_shard is not None:
        shards = int(math.ceil(rows / rows_per_shard))
        inputs["rows_per_shard"] = Figure(float(rows_per_shard), "given")
    elif n_shards is not None:
        shards = int(n_shards)
        inputs["n_shards"] = Figure(float(n_shards), "given")
    else:
        shards = int(math.ceil(rows / 10_000))
        inputs["rows_per_shard"] = Figure(10_000.0, "assumed", "default shard size")
    work = rows / rate + shards * overhead

    if engines is None:
        assert target_wall_s is not None
        inputs["target_wall_s"] = Figure(float(target_wall_s), "given")
        if target_wall_s <= startup:
            raise ConfigError(f"target_wall_s={target_wall_s:g} leaves no time after the engine "
                              f"start-up of {startup:g} s")
        engines = int(math.ceil(work / (target_wall_s - startup)))
        if engines > shards:
            notes.append(f"{engines} engines for {shards} shards: some engines would idle; use smaller shards")
        if max_engines is not None and engines > max_engines:
            raise ConfigError(f"meeting target_wall_s={target_wall_s:g} s needs {engines} engines, "
                              f"over max_engines={max_engines}")
    else:
        engines = int(engines)
        inputs["engines"] = Figure(float(engines), "given")
        if engines > shards:
            notes.append(f"{engines} engines but only {shards} shards: {engines - shards} would idle")

    wall = startup + work / engines
    shard_time = (rows / shards) / rate + overhead
    hours = gpu_hours(engines, gpe, wall)
    return Plan(
        rows=float(rows), engines=engines, gpus=engines * gpe, rate_rows_per_s_per_engine=rate,
        work_engine_s=work, wall_s=wall, wall_s_upper=wall + shard_time, gpu_hours=hours,
        cost=cost(hours, price), n_shards=shards, inputs=inputs, notes=notes, driver=driver_costs(shards),
    )


def render_plan(plan: Plan, console: Any | None = None) -> None:
    """Print the plan as two rich tables: the inputs (with their provenance) and the results."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    t_in = Table(title="inputs", show_lines=False)
    t_in.add_column("figure")
    t_in.add_column("value", justify="right")
    t_in.add_column("source")
    t_in.add_column("note", overflow="fold")
    colours = {"measured": "green", "given": "cyan", "assumed": "yellow"}
    for name, fig in plan.inputs.items():
        t_in.add_row(name, f"{fig.value:,.6g}", f"[{colours[fig.source]}]{fig.source}[/]", fig.note)
    console.print(t_in)
    t_out = Table(title="plan")
    t_out.add_column("result")
    t_out.add_column("value", justify="right")
    for name, val in (
        ("engines", f"{plan.engines:,}"), ("GPUs", f"{plan.gpus:,}"), ("shards", f"{plan.n_shards:,}"),
        ("rows/s per engine (effective)", f"{plan.rate_rows_per_s_per_engine:,.1f}"),
        ("cluster rows/s", f"{plan.rate_rows_per_s_per_engine * plan.engines:,.0f}"),
        ("wall time", f"{plan.wall_s:,.1f} s ({plan.wall_s / 3600:,.2f} h)"),
        ("wall time, last-shard upper bound", f"{plan.wall_s_upper:,.1f} s"),
        ("GPU-hours", f"{plan.gpu_hours:,.2f}"), ("cost", f"{plan.cost:,.2f}"),
    ):
        t_out.add_row(name, val)
    console.print(t_out)
    if plan.assumed:
        console.print(f"[yellow]assumed (not measured):[/] {', '.join(plan.assumed)}")
    for note in plan.notes:
        console.print(f"note: {note}")
    if plan.driver:
        render_driver_costs(plan.driver, plan.n_shards, console)


def render_driver_costs(costs: list[DriverCost], n_shards: int, console: Any) -> None:
    """The driver's measured costs at the plan's shard count, each with its scaling and its source."""
    from rich.table import Table

    t = Table(title=f"driver: measured costs at {n_shards:,} shards "
                    "(not in the wall time or GPU-hours above)")
    t.add_column("step", overflow="fold")
    t.add_column("time", justify="right")
    t.add_column("driver peak RSS", justify="right")
    t.add_column("scaling")
    t.add_column("how", overflow="fold")
    t.add_column("measured in", overflow="fold")
    colours = {"measured": "green", "interpolated": "green", "extrapolated": "yellow"}
    for c in costs:
        took = f"{c.seconds:,.1f} s" if c.seconds < 60 else f"{c.seconds:,.0f} s ({c.seconds / 60:,.1f} min)"
        t.add_row(c.step, took, f"{c.peak_rss_mib:,.0f} MiB", f"[{colours[c.scaling]}]{c.scaling}[/]",
                  c.method, f"{c.source.rsplit('/', 1)[-1]}, {c.date[:10]}")
    console.print(t)
    extrapolated = [c.key for c in costs if c.scaling == "extrapolated"]
    if extrapolated:
        console.print("[yellow]extrapolated (outside the measured shard counts):[/] "
                      + ", ".join(extrapolated))
    sources: dict[tuple[str, str, str], list[DriverCost]] = {}
    for c in costs:
        sources.setdefault((c.source, c.date, c.machine), []).append(c)
    for (source, date, machine), group in sources.items():
        console.print(f"{source} ({date}; {machine}):")
        for c in group:
            console.print(f"  {c.key}: {c.conditions}")
