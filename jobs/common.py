"""What every job entry point shares: argument parsing, Ray start-up, the job summary (the exit codes
are al_ray.errors'). The scoring flags live in jobs/score.py, the run body in jobs/run.py.

Exit codes: the one table in ``al_ray.errors`` (``ExitCode``, ``exit_code_for``), shared with the CLI.

The job summary (``--summary URL``, and the last stdout line ``AL_RAY_JOB_SUMMARY {json}``)::

    {"format": "al_ray.job_summary/v1", "job": "score", "status": "succeeded", "exit_code": 0,
     "message": "...", "error": null | {"type": ..., "message": ...},
     "started_at": ..., "finished_at": ..., "wall_seconds": ..., "submission_id": ... | null,
     "args": {... redacted ...}, "summary_url": ..., "result": {... the library's summary ...}}

Credentials never reach it: arguments are redacted by key (``al_ray.security.redact``, and
``--set storage_options.secret=...`` values), and the whole serialised text goes through ``scrub``,
which removes every registered secret value (storage options, AWS_* and similar variables).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from al_ray.clock import utc_now
from al_ray.config_io import parse_set  # noqa: F401 (re-exported: the jobs' and the CLI's one --set)
from al_ray.errors import STATUS, ConfigError, ExitCode, exit_code_for, exit_code_for_run_status  # noqa: F401 (re-exported)

SUMMARY_PREFIX = "AL_RAY_JOB_SUMMARY"
SUMMARY_FORMAT = "al_ray.job_summary/v1"


class UsageError(ConfigError):
    """A flag or argument is invalid (exit 2)."""


class JobInterrupted(Exception):
    """SIGTERM (``ray job stop``, a pod eviction) arrived while the job ran (exit 4)."""


# --------------------------------------------------------------------------- arguments


def base_parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="Exit codes: 0 succeeded, 1 partial failure, 2 bad input/config, "
                                       "3 waiting for labels, 4 internal error (see docs/CLUSTER.md).")
    p.add_argument("--summary", metavar="URL", default=None,
                   help="where to write the job summary JSON (any fsspec URL); a default beside the output "
                        "is used when omitted")
    p.add_argument("--ray-address", default=None,
                   help="Ray cluster to connect to ('auto': the one running on this machine); default "
                        "$RAY_ADDRESS (set by `ray job submit`), else a private local Ray (al_ray.ray_connect)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field (dotted path, YAML value); repeatable")
    return p


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace | int:
    """Parse, or return the exit code argparse chose (2 for a usage error, 0 for --help)."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else ExitCode.BAD_INPUT)
        if code:
            message = "invalid command-line arguments (see usage above)"
            emit_summary(_summary_doc(parser.prog.rsplit(".", 1)[-1], ExitCode.BAD_INPUT, message,
                                      {"type": "UsageError", "message": message},
                                      {"argv": list(argv if argv is not None else sys.argv[1:])},
                                      utc_now(), 0.0, None, None), None, None)
        return int(code)


# --------------------------------------------------------------------------- running


@dataclass
class JobResult:
    """What a job body returns: its exit code (0 or 1), the library summary and a one-line message."""

    exit_code: ExitCode
    result: dict[str, Any]
    message: str = ""


@dataclass
class JobContext:
    name: str
    args: argparse.Namespace
    summary_url: str | None = None
    storage_options: dict[str, Any] = field(default_factory=dict)
    ray_started: bool = False

    def set_storage_options(self, options: Mapping[str, Any] | None) -> None:
        from al_ray.security import register_storage_options

        self.storage_options = dict(options or {})
        register_storage_options(self.storage_options)

    def init_ray(self) -> None:
        """Connect to the cluster (call after the config validated, so bad input fails fast); a
        process already connected (main() called inside one) is left as it is."""
        from al_ray.ray_connect import connect

        # the CLI's rule: --ray-address, else RAY_ADDRESS (set by `ray job submit`), else a private
        # local Ray; log_to_driver so the workers' output lands in the job's logs
        self.ray_started = connect(self.args.ray_address, log_to_driver=True)

    def shutdown_ray(self) -> None:
        if self.ray_started:
            import ray

            ray.shutdown()
            self.ray_started = False


def submission_id() -> str | None:
    """The Ray job submission id when running under ``ray job submit`` (from the job config env)."""
    raw = os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR")
    if not raw:
        return None
    try:
        return json.loads(raw).get("metadata", {}).get("job_submission_id")
    except (ValueError, AttributeError):
        return None


def _summary_doc(job: str, code: ExitCode, message: str, error: dict[str, str] | None, args: Mapping[str, Any],
                 started_at: str, wall: float, result: dict[str, Any] | None, summary_url: str | None) -> dict:
    # Only the arguments are redacted by key (they may carry --set storage_options.secret=...);
    # results are scrubbed as text in emit_summary, so a field such as "tokens_per_second" survives.
    return {
        "format": SUMMARY_FORMAT,
        "job": job,
        "status": STATUS[ExitCode(code)],
        "exit_code": int(code),
        "message": message,
        "error": error,
        "started_at": started_at,
        "finished_at": utc_now(),
        "wall_seconds": round(wall, 3),
        "submission_id": submission_id(),
        "args": _redact_args(args),
        "summary_url": summary_url,
        "result": result or {},
    }


def _redact_args(args: Mapping[str, Any]) -> dict[str, Any]:
    from al_ray.security import redact

    out = redact(dict(args))
    for name in ("overrides", "argv"):  # "a.secret=VALUE" -> "a.secret=***"
        if isinstance(out.get(name), list):
            redacted = []
            for item in out[name]:
                key, sep, value = str(item).partition("=")
                if sep:
                    last = key.lstrip("-").rsplit(".", 1)[-1]
                    value = redact({last: value})[last]
                redacted.append(f"{key}{sep}{value}")
            out[name] = redacted
    return out


def emit_summary(doc: dict[str, Any], url: str | None, storage_options: Mapping[str, Any] | None) -> None:
    """Write the summary to ``url`` (if any) and print the ``AL_RAY_JOB_SUMMARY`` line last."""
    from al_ray import storage
    from al_ray.security import scrub

    text = scrub(json.dumps(doc, sort_keys=True, default=str))
    if url:
        try:
            storage.write_bytes_atomic(url, scrub(json.dumps(doc, indent=2, sort_keys=True, default=str)).encode(),
                                       storage_options)
        except Exception as exc:  # the printed line still reaches the scheduler
            print(f"warning: could not write the job summary to {scrub(url)}: {scrub(str(exc))}",
                  file=sys.stderr, flush=True)
    sys.stderr.flush()
    print(f"{SUMMARY_PREFIX} {text}", flush=True)


def parse_summary_line(logs: str) -> dict[str, Any] | None:
    """The last ``AL_RAY_JOB_SUMMARY`` document in a job's logs (for schedulers and tests)."""
    found = None
    for line in logs.splitlines():
        line = line.strip()
        if line.startswith(SUMMARY_PREFIX + " "):
            try:
                found = json.loads(line[len(SUMMARY_PREFIX) + 1:])
            except ValueError:
                continue
    return found


def _raise_interrupted(signum, frame):  # noqa: ARG001
    raise JobInterrupted(f"received signal {signum}")


def run_job(name: str, args: argparse.Namespace, body: Callable[[JobContext], JobResult],
            default_summary_url: str | None = None) -> int:
    """Run ``body`` and turn whatever happens into a summary and an exit code (never raises)."""
    from al_ray.security import scrub

    started_at, t0 = utc_now(), time.monotonic()
    ctx = JobContext(name=name, args=args, summary_url=args.summary or default_summary_url)
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _raise_interrupted)
    except ValueError:  # not the main thread
        previous = None
    error = None
    result: dict[str, Any] | None = None
    try:
        out = body(ctx)
        code, result, message = ExitCode(out.exit_code), out.result, out.message
    except BaseException as exc:  # noqa: BLE001 - every outcome must end in a summary
        if isinstance(exc, KeyboardInterrupt):
            exc = JobInterrupted("interrupted")
        code = exit_code_for(exc)
        message = scrub(str(exc)) or type(exc).__name__
        error = {"type": type(exc).__name__, "message": message}
        if code == ExitCode.WAITING_FOR_LABELS:
            error = None
        if code == ExitCode.INTERNAL_ERROR:
            print(scrub("".join(traceback.format_exception(exc))), file=sys.stderr, flush=True)
        else:
            print(f"{name}: {STATUS[code]}: {message}", file=sys.stderr, flush=True)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        try:
            ctx.shutdown_ray()
        except Exception as exc:  # noqa: BLE001 - the outcome is decided; say so, don't change it
            print(f"{name}: warning: Ray shutdown raised {type(exc).__name__}: {scrub(str(exc))}",
                  file=sys.stderr, flush=True)
    doc = _summary_doc(name, code, message, error, vars(args), started_at, time.monotonic() - t0, result,
                       ctx.summary_url)
    emit_summary(doc, ctx.summary_url, ctx.storage_options)
    return int(code)


def to_plain(obj: Any) -> dict[str, Any]:
    """A library summary object as a JSON-able dict (``to_dict``/``model_dump``/dataclass/dict)."""
    from dataclasses import asdict, is_dataclass

    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        return dict(obj)
    if hasattr(obj, "to_dict"):
        return dict(obj.to_dict())
    if hasattr(obj, "model_dump"):
        return dict(obj.model_dump(mode="json"))
    if is_dataclass(obj):
        return asdict(obj)
    return {"value": str(obj)}


def require_exists(url: str, what: str, storage_options: Mapping[str, Any] | None) -> None:
    """Fail fast with exit 2 when an input location does not exist (checked before Ray starts)."""
    from al_ray import storage
    from al_ray.errors import InputError, StorageError
    from al_ray.security import scrub

    try:
        found = storage.exists(url, storage_options)
    except (OSError, ValueError) as exc:
        raise StorageError(f"cannot check {what} {scrub(url)}: {scrub(str(exc))}") from exc
    if not found:
        raise InputError(f"{what} does not exist", location=scrub(url))
