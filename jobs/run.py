"""Run (or resume) a whole active-learning run: ``python -m jobs.run --config run.yaml --run URL``.

Submitted to a cluster (or as the KubeRay RayJob in cluster/kuberay/rayjob-run.yaml)::

    ray job submit --working-dir . --runtime-env cluster/runtime_env.yaml -- \\
        python -m jobs.run --config configs/run.yaml --run s3://bucket/runs/ads-safety/

Rounds repeat (score -> select -> label -> fine-tune) until the stopping rule fires, the label
budget is spent or --max-rounds is reached. With real annotators the job ends with exit 3 once a
batch is out for labelling; resubmitting the same command after the labels are imported resumes
where it stopped (the run manifest records every completed step).
Exit 0 stopped (converged, plateau, budget_spent, max_rounds), 2 bad config/input, 3 waiting for
labels, 4 internal error.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Mapping

from jobs.common import (ExitCode, JobContext, JobResult, base_parser, exit_code_for_run_status, parse_args, parse_set,
                         require_exists, run_job, to_plain)

NAME = "run"


# --------------------------------------------------------------------------- the run body (jobs.run, jobs.round)


def add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="URL", required=True, help="run config YAML (al_ray.driver.config.RunConfig)")
    p.add_argument("--run", metavar="URL", required=True, help="run location (manifest, rounds/, report)")
    p.add_argument("--no-report", dest="report", action="store_false",
                   help="do not (re)write RUN/report.html when the job ends")
    p.add_argument("--allow-config-change", action="store_true",
                   help="resume a run whose config differs from the one it started with (recorded in the manifest)")


def load_run_config(args: argparse.Namespace):
    """The validated ``RunConfig``, every stage section included (ConfigError -> exit 2, before Ray)."""
    from al_ray import config_io
    from al_ray.driver import config as driver_config

    config = config_io.load(driver_config.RunConfig, args.config, parse_set(args.overrides))
    validate = getattr(driver_config, "validate_stages", None)
    if callable(validate):  # builds each stage's config so a typo fails before any engine starts
        validate(config)
    from al_ray.driver.run import preflight_corpus

    preflight_corpus(config)  # a given corpus's listing and columns, before Ray too
    return config


def loop_body(ctx: JobContext, *, one_round: bool, max_rounds: int | None = None) -> JobResult:
    """Body of jobs.run / jobs.round: exit 3 when the run waits for expert labels."""
    from al_ray.driver.run import run_loop

    a = ctx.args
    config = load_run_config(a)
    ctx.set_storage_options(getattr(config, "storage_options", None))
    corpus = config.corpus
    if corpus.url and not getattr(corpus, "source", None):  # a prepared corpus does not exist yet
        require_exists(corpus.url, "corpus", ctx.storage_options)
    ctx.init_ray()
    outcome = run_loop(config, a.run, max_rounds=max_rounds, one_round=one_round,
                       allow_config_change=getattr(a, "allow_config_change", False))
    result = to_plain(outcome)
    if a.report:
        result["report"] = _write_report(a.run, ctx.storage_options)
    status = getattr(outcome, "status", None)
    detail = getattr(outcome, "detail", "") or ""
    code = exit_code_for_run_status(status)
    if code == ExitCode.WAITING_FOR_LABELS:
        return JobResult(code, result, f"waiting for labels: {detail}".rstrip(": "))
    return JobResult(code, result, f"{status}: {detail}".rstrip(": "))


def _write_report(run_url: str, storage_options: Mapping[str, Any]) -> str | None:
    """RUN/report.html, best effort: a report that cannot be drawn never fails the job."""
    from al_ray.security import scrub

    try:
        from al_ray.driver.report import write_report

        return write_report(run_url, storage_options=storage_options)
    except Exception as exc:  # noqa: BLE001
        print(f"warning: could not write the run report: {scrub(str(exc))}", file=sys.stderr, flush=True)
        return None


def build_parser():
    p = base_parser("python -m jobs.run", __doc__.split("\n\n")[0])
    add_run_args(p)
    p.add_argument("--max-rounds", type=int, default=None, help="override run.max_rounds")
    return p


def main(argv: list[str] | None = None) -> int:
    from al_ray.layout import RunLayout

    args = parse_args(build_parser(), argv)
    if isinstance(args, int):
        return args
    return run_job(NAME, args, lambda ctx: loop_body(ctx, one_round=False, max_rounds=args.max_rounds),
                   default_summary_url=RunLayout(args.run).job_summary(NAME))


if __name__ == "__main__":
    sys.exit(main())
