"""This process's memory, read from ``/proc/self/status``: the one reader the package and the
benchmarks share.

Why not ``getrusage``: ``ru_maxrss`` survives ``fork``/``exec`` (a fresh subprocess of a large parent
reports the parent's peak) and a long-lived Ray worker's high-water mark covers every task it ever
ran. ``VmHWM`` is this process's own peak; ``RssAnon`` is its private part (heap, numpy arrays),
never a shared mapping such as Ray's object store. psutil exposes neither the peak nor ``RssAnon``.
"""

from __future__ import annotations

STATUS_FIELDS = ("VmRSS", "VmHWM", "RssAnon", "RssShmem")


def proc_status_mb(fields: tuple[str, ...] = STATUS_FIELDS) -> dict[str, float]:
    """``fields`` of /proc/self/status in MiB (kB / 1024); empty off Linux."""
    out: dict[str, float] = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in fields:
                    out[key] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def private_mb() -> float:
    """This process's private memory now (RssAnon), or psutil's USS where /proc has no RssAnon."""
    anon = proc_status_mb(("RssAnon",)).get("RssAnon")
    if anon is not None:
        return anon
    import psutil

    return psutil.Process().memory_full_info().uss / 2**20


def peak_rss_mb() -> float:
    """This process's own peak resident memory (VmHWM), or ``ru_maxrss`` where /proc has none."""
    peak = proc_status_mb(("VmHWM",)).get("VmHWM")
    if peak is not None:
        return peak
    import resource
    import sys

    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS, kB elsewhere
    return kb / 2**20 if sys.platform == "darwin" else kb / 1024
