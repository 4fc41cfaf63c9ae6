"""The one clock every record is stamped with: UTC, so timestamps from different machines compare."""

from __future__ import annotations

import datetime as dt


def now_utc() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.timezone.utc)


def utc_now() -> str:
    """The current UTC time as ISO 8601 to the second (``2024-06-01T12:00:00+00:00``)."""
    return now_utc().isoformat(timespec="seconds")
