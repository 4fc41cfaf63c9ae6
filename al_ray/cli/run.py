"""`al-ray run`, `al-ray status`, `al-ray report`, `al-ray demo`: the loop as a user drives it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from al_ray.cli.options import parse_storage_options, storage_option
from al_ray.driver.config import DEMO_ROWS, DEMO_SHARDS
from al_ray.errors import InputError, exit_code_for_run_status

console = Console()


def log(message: str) -> None:
    """Plain progress lines: no rich markup (``[round 1]`` is text, not a style tag)."""
    console.print(message, markup=False, highlight=False, soft_wrap=True)



def _init_ray(address: str | None, num_cpus: int | None = None) -> None:
    from al_ray.ray_connect import connect

    connect(address, num_cpus=num_cpus)


def _print_outcome(outcome) -> None:
    from al_ray.driver.evaluate import KAPPA_LEGEND, eval_kappa

    t = Table(title=f"run: {outcome.status}")
    for c in ("round", "labels used", "eval kappa", "n eval", "holdout kappa", "n holdout", "expert–expert"):
        t.add_column(c, justify="right")

    def f(x):
        return "–" if x is None else f"{x:.3f}"

    for h in outcome.history:
        t.add_row(str(h.get("round")), str(h.get("labels_used", "")), f(eval_kappa(h)), str(h.get("n_eval", "")),
                  f(h.get("holdout_kappa")), str(h.get("n_holdout", "")), f(h.get("expert_kappa")))
    console.print(t)
    console.print(KAPPA_LEGEND, soft_wrap=True)
    console.print(f"[bold]{outcome.status}[/]: {outcome.detail}")


def run_cmd(
    config: Path = typer.Argument(..., help="Run config YAML (see configs/)."),
    run: str = typer.Option(..., "--run", help="Run location (any fsspec URL); everything the run makes lives here."),
    max_rounds: Optional[int] = typer.Option(None, help="Override run.max_rounds."),
    one_round: bool = typer.Option(False, "--one-round", help="Finish the current round (through fine-tuning), then exit."),
    ray_address: Optional[str] = typer.Option(None, help="Ray cluster address; default RAY_ADDRESS or a local cluster."),
    storage_options: Optional[list[str]] = storage_option(),
    report: bool = typer.Option(True, help="Write RUN/report.html when the run stops."),
    allow_config_change: bool = typer.Option(False, "--allow-config-change", help="Resume a run whose config "
                                             "differs from the one it started with (recorded in the manifest)."),
    overrides: Optional[list[str]] = typer.Option(None, "--set", metavar="KEY=VALUE", help="Override a config "
                                                  "field (dotted path, YAML value), as the Ray jobs take it; "
                                                  "repeatable, e.g. --set run.batch_size=50."),
) -> None:
    """Run or resume an active-learning run until it converges, plateaus, spends its budget or waits for labels."""
    from al_ray import config_io
    from al_ray.driver.config import RunConfig
    from al_ray.driver.report import write_report
    from al_ray.driver.run import preflight_corpus, run_loop

    changes = config_io.deep_merge(config_io.parse_set(overrides),
                                   {"storage_options": parse_storage_options(storage_options) or None})
    cfg = config_io.load(RunConfig, str(config), changes)
    from al_ray.driver.config import validate_stages

    validate_stages(cfg)  # every stage's section, before Ray starts (as the jobs do)
    preflight_corpus(cfg)  # and a given corpus's listing and columns
    _init_ray(ray_address)
    outcome = run_loop(cfg, run, max_rounds=max_rounds, one_round=one_round, log=log,
                       allow_config_change=allow_config_change)
    _print_outcome(outcome)
    if report:
        console.print(f"report: {write_report(run, storage_options=cfg.storage_options)}")
    raise typer.Exit(int(exit_code_for_run_status(outcome.status)))


def status_cmd(
    run: str = typer.Argument(..., help="Run location."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest summary as JSON."),
    storage_options: Optional[list[str]] = storage_option(),
) -> None:
    """Show where a run is: each round's steps, kappa and the run's status."""
    from al_ray import storage
    from al_ray.driver.evaluate import KAPPA_LEGEND, eval_kappa
    from al_ray.driver.manifest import STEPS, Manifest
    from al_ray.layout import RunLayout

    so = parse_storage_options(storage_options)
    layout = RunLayout(run)
    if not storage.exists(layout.manifest, so):
        raise InputError("not a run folder (no manifest.json); give the --run location of `al-ray run`",
                         location=run)
    m = Manifest.load(layout, so)
    if as_json:
        console.print_json(json.dumps({"status": m.data.get("status"), "status_info": m.data.get("status_info"),
                                       "rounds": m.rounds()}, default=str))
        return
    t = Table(title=f"{run}: {m.data.get('status')}")
    t.add_column("round")
    for s in STEPS:
        t.add_column(s)
    t.add_column("eval kappa (n)", justify="right")
    t.add_column("holdout kappa (n)", justify="right")

    def k_n(k, n) -> str:
        return "–" if k is None else f"{k:.3f} ({n})"

    for rd in m.rounds():
        ev = rd["steps"].get("evaluate", {})
        t.add_row(str(rd["round"]), *[rd["steps"].get(s, {}).get("status", "") for s in STEPS],
                  k_n(eval_kappa(ev), ev.get("n_eval", 0)), k_n(ev.get("holdout_kappa"), ev.get("n_holdout", 0)))
    console.print(t)
    console.print(KAPPA_LEGEND, soft_wrap=True)
    timing = seconds_table(m.rounds(), STEPS)
    if timing is not None:
        console.print(timing)
    info = m.data.get("status_info") or {}
    if info.get("detail"):
        console.print(info["detail"])


def seconds_table(rounds: list[dict], steps: tuple[str, ...]) -> Table | None:
    """Wall seconds of each round's steps (manifest ``seconds``) and the round total; None if none recorded."""
    if not any("seconds" in st for rd in rounds for st in rd.get("steps", {}).values()):
        return None
    t = Table(title="wall time per step (s)")
    t.add_column("round")
    for s in steps:
        t.add_column(s, justify="right")
    t.add_column("total", justify="right")

    def f(x) -> str:
        return "" if not isinstance(x, (int, float)) else f"{x:.2f}"

    for rd in rounds:
        st = rd.get("steps", {})
        total = rd.get("seconds")
        if total is None:
            vals = [v["seconds"] for v in st.values() if isinstance(v.get("seconds"), (int, float))]
            total = sum(vals) if vals else None
        t.add_row(str(rd["round"]), *[f(st.get(s, {}).get("seconds")) for s in steps], f(total))
    return t


def report_cmd(
    run: str = typer.Argument(..., help="Run location."),
    out: Optional[str] = typer.Option(None, help="Where to write the HTML (default RUN/report.html)."),
    cost_per_hour: Optional[float] = typer.Option(None, help="Machine price per hour (> 0): adds "
                                                  "a cost column (default: the run config's report.cost_per_hour)."),
    references: Optional[Path] = typer.Option(None, help="YAML/JSON file of reference arms to draw beside the loop: "
                                              "random: a list of (labels used, kappa) pairs, crowd: kappa, source: text "
                                              "(default: the run config's report.references)."),
    storage_options: Optional[list[str]] = storage_option(),
) -> None:
    """Write an HTML report with plots of a run."""
    from al_ray.driver.report import write_report

    if cost_per_hour is not None and not cost_per_hour > 0:
        raise typer.BadParameter(f"{cost_per_hour:g} is not a price; give a number above 0",
                                 param_hint="'--cost-per-hour'")
    refs = None
    if references is not None:
        from al_ray import config_io
        from al_ray.driver.config import ReportReferences

        refs = config_io.load(ReportReferences, str(references), what="--references file").model_dump(mode="json")
    console.print(write_report(run, out, parse_storage_options(storage_options), references=refs,
                               cost_per_hour=cost_per_hour))


def demo_cmd(
    out: str = typer.Option("demo_run", help="Where the demo writes its corpus and run."),
    rounds: int = typer.Option(3, help="Labelling rounds."),
    rows: int = typer.Option(DEMO_ROWS, help="Demo corpus rows."),
    shards: int = typer.Option(DEMO_SHARDS, help="Demo corpus shards."),
    batch_size: int = typer.Option(100, help="Items labelled per round."),
    workers: int = typer.Option(1, help="Scoring actors."),
    seed: int = typer.Option(0, help="Seed of the corpus, selection, simulated experts and training."),
) -> None:
    """The embedded default: the whole loop on this machine (local Ray, local files, MiniLM via vLLM, simulated experts)."""
    from al_ray.driver.demo import run_demo

    outcome = run_demo(out, rounds=rounds, rows=rows, shards=shards, batch_size=batch_size, workers=workers,
                       seed=seed, log=log, init_ray=_init_ray)
    _print_outcome(outcome)
    raise typer.Exit(int(exit_code_for_run_status(outcome.status)))


def register(app: typer.Typer) -> None:
    app.command("run")(run_cmd)
    app.command("status")(status_cmd)
    app.command("report")(report_cmd)
    app.command("demo")(demo_cmd)
