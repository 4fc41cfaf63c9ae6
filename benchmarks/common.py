"""Small helpers every benchmark script shares: UTC timestamps for result files, timed log lines."""

from __future__ import annotations

from datetime import datetime, timezone


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


def peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM) in MiB. Read from /proc: psutil does not expose the peak,
    and getrusage's ru_maxrss is no substitute: across fork/exec it keeps the parent's peak, so a
    fresh subprocess of a large parent would report the parent's memory."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")
