"""Ray job entry points: ``ray job submit --working-dir . -- python -m jobs.<name> ...``.

- ``jobs.score``   score a corpus once (``al_ray.scoring.job.run_scoring``);
- ``jobs.round``   run (or resume) one active-learning round of a run;
- ``jobs.run``     run (or resume) a whole run until it stops or waits for labels;
- ``jobs.nightly`` incremental rescoring of new and changed shards (``al_ray.nightly``).

Each has ``main(argv=None) -> int``, writes a job summary JSON (``--summary URL``) and prints it as
the last stdout line ``AL_RAY_JOB_SUMMARY {json}``; exit codes are in ``jobs.common.ExitCode``
and docs/CLUSTER.md.
"""
