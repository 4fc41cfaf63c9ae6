"""The project's own exceptions, and the one exit-code table that the CLI and the Ray jobs share.

Each exception carries enough context (file, row, field) for a user to find the problem without
reading a traceback; the CLI and the jobs print ``str(exc)`` and exit with ``exit_code_for(exc)``.

Exit codes (also in docs/CLUSTER.md), and what a scheduler should do with each:

    ====  ===================  =====================================================================
    code  status               meaning / what to do
    ====  ===================  =====================================================================
    0     succeeded            all work done (or nothing needed doing)
    1     partial_failure      finished, but some shards failed or were quarantined; rerun retries
                               only those (completed units are skipped)
    2     bad_input            config or input invalid (bad YAML/field, missing corpus, bad flag);
                               retrying will not help until the input is fixed
    3     waiting_for_labels   run/round only: a labelling batch is out with annotators; rerun
                               after labels are imported
    4     internal_error       anything else (cluster unreachable, storage failing after retries,
                               a bug, interrupted); retrying may help, the message names the error
    ====  ===================  =====================================================================
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0
    PARTIAL_FAILURE = 1
    BAD_INPUT = 2
    WAITING_FOR_LABELS = 3
    INTERNAL_ERROR = 4


STATUS = {
    ExitCode.OK: "succeeded",
    ExitCode.PARTIAL_FAILURE: "partial_failure",
    ExitCode.BAD_INPUT: "bad_input",
    ExitCode.WAITING_FOR_LABELS: "waiting_for_labels",
    ExitCode.INTERNAL_ERROR: "internal_error",
}

# How a finished loop (``al_ray.driver.run.RunOutcome.status``) ends the process. A status missing
# here is a bug, so it maps to INTERNAL_ERROR, never to a code that looks like success or bad input.
RUN_STATUS_EXIT = {"converged": ExitCode.OK, "plateau": ExitCode.OK, "budget_spent": ExitCode.OK,
                   "max_rounds": ExitCode.OK, "round_done": ExitCode.OK,
                   "waiting_for_labels": ExitCode.WAITING_FOR_LABELS}


def exit_code_for_run_status(status: str | None) -> ExitCode:
    return RUN_STATUS_EXIT.get(status or "", ExitCode.INTERNAL_ERROR)


class AlRayError(Exception):
    """Base class: anything the CLI should report as a clean one-line error."""


class ConfigError(AlRayError):
    """A configuration value is missing, inconsistent or invalid."""


class InputError(AlRayError):
    """Input data (corpus, score files, label files) is malformed.

    ``location`` names the file (and row/line/field where known).
    """

    def __init__(self, message: str, *, location: str | None = None) -> None:
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


class StorageError(AlRayError):
    """An object could not be read or written after retries; names the object."""


class EmptyPoolError(AlRayError):
    """Selection was asked to choose from an empty candidate pool."""


class PoolExhaustedError(AlRayError):
    """Selection was asked for more items than the pool holds."""


class LabelTokenCollisionError(ConfigError):
    """Two labels map to the same first token, so their probabilities cannot be told apart."""


def exit_code_for(exc: BaseException) -> ExitCode:
    """Map an exception to the exit code a scheduler acts on (by type, never by message text)."""
    from pydantic import ValidationError

    # an empty or too-small pool is the user's request not fitting the data (fewer --n, or more corpus)
    if isinstance(exc, (ConfigError, InputError, ValidationError, EmptyPoolError, PoolExhaustedError)):
        return ExitCode.BAD_INPUT
    return ExitCode.INTERNAL_ERROR
