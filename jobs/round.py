"""Run (or resume) one round of a run: ``python -m jobs.round --config run.yaml --run URL``.

For schedulers that want one job per round (e.g. a workflow engine that waits for labels between
rounds)::

    ray job submit --working-dir . --runtime-env cluster/runtime_env.yaml -- \\
        python -m jobs.round --config configs/run.yaml --run s3://bucket/runs/ads-safety/

Completes the next unfinished round (score, evaluate, select, label, fine-tune) and stops. The
result's status is round_done, a stop reason (converged, plateau, budget_spent, max_rounds) when
the stopping rule fired, or waiting_for_labels.
Exit 0 round done or run stopped, 2 bad config/input, 3 waiting for labels, 4 internal error.
"""

from __future__ import annotations

import sys

from jobs.common import base_parser, parse_args, run_job
from jobs.run import add_run_args, loop_body

NAME = "round"


def build_parser():
    p = base_parser("python -m jobs.round", __doc__.split("\n\n")[0])
    add_run_args(p)
    return p


def main(argv: list[str] | None = None) -> int:
    from al_ray.layout import RunLayout

    args = parse_args(build_parser(), argv)
    if isinstance(args, int):
        return args
    return run_job(NAME, args, lambda ctx: loop_body(ctx, one_round=True),
                   default_summary_url=RunLayout(args.run).job_summary(NAME))


if __name__ == "__main__":
    sys.exit(main())
