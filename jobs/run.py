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

import sys

from jobs.common import add_run_args, base_parser, loop_body, parse_args, run_job

NAME = "run"


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
