"""Score a corpus once: ``python -m jobs.score --config scoring.yaml --corpus URL --out URL``.

Submitted to a cluster::

    ray job submit --working-dir . --runtime-env cluster/runtime_env.yaml -- \\
        python -m jobs.score --config configs/scoring.yaml \\
        --corpus s3://bucket/corpus/ --out s3://bucket/scores/2026-11-24/ \\
        --summary s3://bucket/scores/2026-11-24/_job_summary_score.json

Writes one score file per corpus shard under --out (+ ``.done`` markers and ``_summary.json``);
a rerun skips completed shards unless --rescore. Exit 0 all shards scored, 1 some failed or were
quarantined, 2 bad config/input, 4 internal error (jobs.common.ExitCode).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from jobs.common import ExitCode, JobContext, JobResult, base_parser, parse_args, parse_set, require_exists, run_job, to_plain

NAME = "score"


# --------------------------------------------------------------------------- scoring flags (jobs.score, jobs.nightly)


def add_scoring_args(p: argparse.ArgumentParser) -> None:
    """Flags shared by jobs.score and jobs.nightly; each overrides the same field of --config."""
    p.add_argument("--config", metavar="URL", default=None,
                   help="ScoringConfig YAML/JSON (task, model, mode, backend, workers, ...)")
    p.add_argument("--corpus", metavar="URL", required=True, help="corpus Parquet shards (a folder or one file)")
    p.add_argument("--model", default=None, help="override: model checkpoint (dir or URL)")
    p.add_argument("--model-version", default=None, help="override: version id of the weights")
    p.add_argument("--mode", choices=["generative", "classifier"], default=None, help="override: scoring mode")
    p.add_argument("--backend", default=None, help="override: engine backend (e.g. vllm, transformers)")
    p.add_argument("--workers", type=int, default=None, help="override: number of scoring actors")
    p.add_argument("--num-gpus-per-worker", type=float, default=None, help="override: GPUs per scoring actor")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=sys.stdout.isatty(),
                   help="live progress bar (default: only when stdout is a terminal, so job logs stay short)")


def scoring_overrides(args: argparse.Namespace) -> dict[str, Any]:
    from al_ray.config_io import deep_merge

    flags = {
        "model": args.model, "model_version": args.model_version, "mode": args.mode,
        "backend": args.backend, "workers": args.workers, "num_gpus_per_worker": args.num_gpus_per_worker,
    }
    return deep_merge(parse_set(args.overrides), flags)


def load_scoring_config(args: argparse.Namespace):
    """Build the validated ``ScoringConfig`` from --config plus overrides (ConfigError -> exit 2)."""
    from al_ray import config_io
    from al_ray.scoring.config import ScoringConfig

    return config_io.load(ScoringConfig, args.config, scoring_overrides(args))


def scoring_failures(summary: Any) -> list[dict[str, Any]]:
    """Failed or quarantined shards reported by ``run_scoring``'s summary (empty when all completed)."""
    from al_ray.nightly.scoring_outcomes import failures_of

    return failures_of(summary)


def build_parser():
    p = base_parser("python -m jobs.score", __doc__.split("\n\n")[0])
    add_scoring_args(p)
    p.add_argument("--out", metavar="URL", required=True, help="where score files go")
    p.add_argument("--shard", dest="shards", action="append", default=None, metavar="URL",
                   help="score only this corpus shard (repeatable)")
    p.add_argument("--rescore", action="store_true", help="ignore completion markers and score every shard again")
    return p


def _body(ctx: JobContext) -> JobResult:
    from al_ray.scoring.job import preflight, run_scoring

    a = ctx.args
    config = load_scoring_config(a)
    ctx.set_storage_options(getattr(config, "storage_options", None))
    require_exists(a.corpus, "corpus", ctx.storage_options)
    checked = preflight(config, a.corpus, a.shards or None)  # before Ray: an empty corpus or a wrong column fails fast
    ctx.init_ray()
    summary = run_scoring(config, a.corpus, a.out, shards=a.shards or None, rescore=a.rescore, progress=a.progress,
                          checked=checked)
    result = to_plain(summary)
    failures = scoring_failures(summary)
    if failures:
        return JobResult(ExitCode.PARTIAL_FAILURE, result, f"{len(failures)} shard(s) failed or were quarantined")
    return JobResult(ExitCode.OK, result, "scoring complete")


def main(argv: list[str] | None = None) -> int:
    from al_ray.layout import job_summary_file
    from al_ray.storage import join

    args = parse_args(build_parser(), argv)
    if isinstance(args, int):
        return args
    return run_job(NAME, args, _body, default_summary_url=join(args.out, job_summary_file(NAME)))


if __name__ == "__main__":
    sys.exit(main())
