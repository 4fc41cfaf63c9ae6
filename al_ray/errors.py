"""The project's own exceptions.

Each carries enough context (file, row, field) for a user to find the problem without reading a
traceback; the CLI prints ``str(exc)`` and exits non-zero.
"""

from __future__ import annotations


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


class WaitingForLabels(AlRayError):
    """A labelling batch is out with human annotators; the run resumes once labels are imported."""
