"""Small helpers every benchmark script shares: UTC timestamps for result files, timed log lines."""

from __future__ import annotations

from datetime import datetime, timezone


def now_utc() -> str:
    """ISO timestamp (UTC, seconds) recorded in result JSONs."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def log(msg: str) -> None:
    """A progress line with the local wall-clock time, flushed at once (benchmarks run for hours)."""
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {msg}", flush=True)
