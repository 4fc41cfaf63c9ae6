"""Nightly incremental rescoring: score only corpus shards that are new or changed since last night.

``python -m jobs.nightly --config scoring.yaml --corpus URL --scores-out URL --gpu-hour-price 2.50``

Submitted to a cluster (or from the KubeRay CronJob in cluster/kuberay/nightly-cronjob.yaml)::

    ray job submit --working-dir . --runtime-env cluster/runtime_env.yaml -- \\
        python -m jobs.nightly --config configs/scoring.yaml \\
        --corpus s3://bucket/corpus/ --scores-out s3://bucket/scores/nightly/ --gpu-hour-price 1.21

State lives beside the scores (``<scores-out>/_nightly_state.json``, see al_ray.nightly); a rerun
over an unchanged corpus scores nothing. A new --model-version makes every shard rescored.
Exit 0 done (also when nothing changed), 1 some shards failed (retried next night), 2 bad
config/input, 4 internal error. --plan-only prints what would be scored and exits 0 without Ray.
"""

from __future__ import annotations

import os
import sys

from jobs.common import ExitCode, JobContext, JobResult, UsageError, base_parser, parse_args, require_exists, run_job
from jobs.score import add_scoring_args, load_scoring_config

NAME = "nightly"


def build_parser():
    p = base_parser("python -m jobs.nightly", __doc__.split("\n\n")[0])
    add_scoring_args(p)
    p.add_argument("--scores-out", metavar="URL", required=True,
                   help="where score files and the nightly state live")
    p.add_argument("--gpu-hour-price", type=float, default=None,
                   help="price of one GPU-hour for the cost estimate (default $AL_RAY_GPU_HOUR_PRICE or 0)")
    p.add_argument("--plan-only", action="store_true", help="report new/changed/unchanged/removed shards; score nothing")
    return p


def _price(args) -> float:
    raw = args.gpu_hour_price if args.gpu_hour_price is not None else os.environ.get("AL_RAY_GPU_HOUR_PRICE", "0")
    try:
        price = float(raw)
    except ValueError as exc:
        raise UsageError(f"AL_RAY_GPU_HOUR_PRICE is not a number: {raw!r}") from exc
    if price < 0:
        raise UsageError(f"--gpu-hour-price must be >= 0, got {price}")
    return price


def _body(ctx: JobContext) -> JobResult:
    from al_ray.nightly import plan_rescore, run_nightly
    from al_ray.nightly.run import resolve_model_version

    a = ctx.args
    price = _price(a)
    config = load_scoring_config(a)
    ctx.set_storage_options(getattr(config, "storage_options", None))
    require_exists(a.corpus, "corpus", ctx.storage_options)
    if a.plan_only:
        plan = plan_rescore(a.corpus, a.scores_out, resolve_model_version(config), ctx.storage_options)
        return JobResult(ExitCode.OK, {"plan": plan.to_dict()},
                         f"plan: {len(plan.new)} new, {len(plan.changed)} changed, "
                         f"{len(plan.unchanged)} unchanged, {len(plan.removed)} removed")
    ctx.init_ray()
    summary = run_nightly(config, a.corpus, a.scores_out, gpu_hour_price=price,
                          storage_options=ctx.storage_options, progress=a.progress)
    message = (f"scored {summary.shards_scored} shard(s) ({summary.shards_new} new, {summary.shards_changed} changed, "
               f"{summary.shards_unchanged} unchanged, {summary.shards_removed} removed), "
               f"{summary.rows_scored} rows, est. cost {summary.estimated_cost:.4f}")
    if not summary.ok:
        return JobResult(ExitCode.PARTIAL_FAILURE, summary.to_dict(),
                         f"{summary.shards_failed} shard(s) failed and will be retried; " + message)
    return JobResult(ExitCode.OK, summary.to_dict(), message)


def main(argv: list[str] | None = None) -> int:
    from al_ray.layout import job_summary_file
    from al_ray.storage import join

    args = parse_args(build_parser(), argv)
    if isinstance(args, int):
        return args
    return run_job(NAME, args, _body, default_summary_url=join(args.scores_out, job_summary_file(NAME)))


if __name__ == "__main__":
    sys.exit(main())
