"""The driver's own measured costs, stated by ``al-ray plan`` beside the engine costs (issue 16).

The engines' cost is the plan's GPU-hours; the driver (the process that runs ``run_scoring`` and
``extract_pool``) has costs of its own that grow with the number of shards: planning (listing the
corpus and the done markers), a resume, and merging the candidate pool from the per-shard
sidecars. Those were measured on the product's own code path by two benchmarks, and the figures
below are COPIES of their result files (``benchmarks/`` is not installed with the package):

    benchmarks/results/scoring_driver.json          benchmarks/bench_scoring_driver.py, RESULTS.md 5b
    benchmarks/results/pool_sidecars-200x50k.json   benchmarks/bench_pool_sidecars.py,  RESULTS.md 5c
    benchmarks/results/pool_sidecars-quick.json     benchmarks/bench_pool_sidecars.py --quick, 5c

``tests/test_planner_driver_costs.py`` loads those files and fails when a figure, date or machine
here differs from them: rerunning a benchmark means updating this table.

Scaling to the plan's shard count N (``estimate``), written down so it can be checked by hand:

- Two measured shard counts (the scoring driver, 10K and 100K): a straight line through the two
  points, for time and for peak RSS alike (a fixed part plus a per-shard part). At a measured
  count the figure is the measurement ("measured"); between the two, "interpolated"; outside,
  the line is continued and the figure is marked "extrapolated": nothing there was measured.
- One measured shard count (each pool merge: 200, 1,000 or 100,000 shards): time per shard times N; peak RSS
  as measured, not scaled (its growth with shards was not measured). Any other N: "extrapolated".

No figure here is added to the plan's wall time or GPU-hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Scaling = Literal["measured", "interpolated", "extrapolated"]

MIB = 1 << 20

SCORING_DRIVER_FILE = "benchmarks/results/scoring_driver.json"
POOL_200X50K_FILE = "benchmarks/results/pool_sidecars-200x50k.json"
POOL_QUICK_FILE = "benchmarks/results/pool_sidecars-quick.json"
POOL_100K_FILE = "benchmarks/results/pool_sidecars-100000x100.json"

# The machine of all the files (their "machine": cpu_model, nproc, mem_total_bytes / 2**30, python,
# ray, pyarrow); the test rebuilds this string from each file.
MACHINE_2CORE = "AMD EPYC, 2 CPUs, 23.5 GiB RAM, Python 3.11.7, Ray 2.60.0, pyarrow 26.0.1"
# the scoring driver's file since its 2026-12-08 rerun (a 2-core Intel Xeon with AVX-512 and AMX)
MACHINE_2CORE_INTEL = "Intel(R) Xeon(R) Processor, 2 CPUs, 23.5 GiB RAM, Python 3.11.7, Ray 2.60.0, pyarrow 26.0.1"


@dataclass(frozen=True)
class Point:
    """One measurement: the driver over ``shards`` shards took ``seconds``, peaking at ``peak_rss_bytes``."""

    shards: int
    seconds: float
    peak_rss_bytes: int


@dataclass(frozen=True)
class Measurement:
    key: str
    step: str          # what was timed, in the product's terms
    points: tuple[Point, ...]
    source: str        # the result file the points are copied from
    where: str         # which figures of that file
    date: str          # the file's own date ("date" / "started_at")
    machine: str
    conditions: str    # what the figures do not cover


def _scoring_driver(key: str, step: str, points: tuple[Point, ...], phase: str, conditions: str) -> Measurement:
    """A figure of ``SCORING_DRIVER_FILE``: one run, so one date, machine and load for all of them."""
    return Measurement(key=key, step=step, points=points, source=SCORING_DRIVER_FILE,
                       where=f"sizes.<N>.{phase}.{key}: seconds, peak_rss_bytes", date="2026-12-08T01:15:06+00:00",
                       machine=MACHINE_2CORE_INTEL,
                       conditions=f"{conditions}; nothing else running: 1-min load 0.7 at the start (RESULTS.md 5b)")


MEASUREMENTS: tuple[Measurement, ...] = (
    _scoring_driver("plan", "plan (plan_scoring: list the corpus and the done markers)",
                    (Point(10_000, 0.554, 229_707_776), Point(100_000, 5.093, 241_496_064)), "all_done",
                    "local 1-row shards on disk (not object storage); every shard done"),
    _scoring_driver("resume", "resume (run_scoring, all shards done, duplicate-id check)",
                    (Point(10_000, 2.449, 233_742_336), Point(100_000, 15.063, 256_516_096)), "all_done",
                    "local 1-row shards: the duplicate check read one id per shard, not the planned rows' "
                    "ids (not measured); driver process only, not Ray's workers"),
    _scoring_driver("resume_again", "resume again (duplicate-check report reused)",
                    (Point(10_000, 0.556, 234_848_256), Point(100_000, 4.773, 262_619_136)), "all_done",
                    "local 1-row shards on disk (not object storage)"),
    _scoring_driver("resume_changed", "resume after one shard rescored (incremental duplicate-id check)",
                    (Point(10_000, 1.002, 232_386_560), Point(100_000, 5.548, 255_938_560)), "changed",
                    "local 1-row shards; the check read one sidecar and one saved partition"),
    Measurement(
        key="pool_merge",
        step="candidate pool from the sidecars, K 2048 (the default)",
        points=(Point(200, 1.806, round(172.7 * MIB)),),
        source=POOL_200X50K_FILE,
        where="runs with k 2048, sidecars arm: the slowest seconds, the largest peak_rss_mib",
        date="2026-12-01T17:10:46+00:00", machine=MACHINE_2CORE,
        conditions="50,000-row shards, pool 2,000, 2 I/O workers, files in the page cache (not S3); "
                   "peak RSS is the whole process, ~145 MiB of it the interpreter; "
                   "machine shared (load 5-7)"),
    Measurement(
        key="pool_merge_100k",
        step="candidate pool from 100K sidecars, K 64",
        points=(Point(100_000, 133.655, round(302.1 * MIB)),),
        source=POOL_100K_FILE,
        where="all runs, sidecars arm: the slowest seconds, the largest peak_rss_mib",
        date="2026-12-07T06:14:44+00:00", machine=MACHINE_2CORE,
        conditions="100-row shards, pool 2,000, 2 I/O workers, files in the page cache (not S3); "
                   "~1 ms a file opening 100K files, no faster than the full scan at this shard size; "
                   "tests ran beside it (load 0.1-2.6)"),
    Measurement(
        key="pool_merge_small_k",
        step="candidate pool from the sidecars, K 8-256",
        points=(Point(1_000, 3.572, round(164.6 * MIB)),),
        source=POOL_QUICK_FILE,
        where="all runs, sidecars arm: the slowest seconds, the largest peak_rss_mib",
        date="2026-12-01T17:08:55+00:00", machine=MACHINE_2CORE,
        conditions="2,000-row shards, pool 2,000, 2 I/O workers, files in the page cache (not S3); "
                   "K below the pool rereads some shards in full; machine shared (load 5-7)"),
)


@dataclass(frozen=True)
class DriverCost:
    """One driver step's cost at the plan's shard count, with how it was scaled and where it comes from."""

    key: str
    step: str
    shards: int
    seconds: float
    peak_rss_bytes: int
    scaling: Scaling
    method: str
    measured_shards: tuple[int, ...]
    source: str
    date: str
    machine: str
    conditions: str

    @property
    def peak_rss_mib(self) -> float:
        return self.peak_rss_bytes / MIB


def _count(n: int) -> str:
    """10000 -> '10K', 200 -> '200' (a shard count, for the short 'how' text)."""
    return f"{n // 1000:,}K" if n >= 1000 and n % 1000 == 0 else f"{n:,}"


def _through(a: Point, b: Point, n: int) -> tuple[float, float, str]:
    """The straight line through two measured points, at ``n`` shards: (seconds, bytes, how)."""
    dn = b.shards - a.shards
    ds, dm = (b.seconds - a.seconds) / dn, (b.peak_rss_bytes - a.peak_rss_bytes) / dn
    s0, m0 = a.seconds - ds * a.shards, a.peak_rss_bytes - dm * a.shards
    how = (f"line through {_count(a.shards)} and {_count(b.shards)} shards: {s0:.3g} s + {ds * 1e6:.3g} ms "
           f"and {m0 / MIB:.0f} MiB + {dm * 1000 / MIB:.3g} MiB per 1K shards")
    return max(0.0, s0 + ds * n), max(0.0, m0 + dm * n), how


def estimate(m: Measurement, shards: int) -> DriverCost:
    """``m`` scaled to ``shards`` shards, as the module docstring says."""
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    pts = sorted(m.points, key=lambda p: p.shards)
    lo, hi = pts[0].shards, pts[-1].shards
    if len(pts) == 1:
        p = pts[0]
        seconds, peak = p.seconds * shards / p.shards, float(p.peak_rss_bytes)
        how = f"{1000 * p.seconds / p.shards:.3g} ms per shard x shards; peak RSS as measured, not scaled"
    else:
        # the two measured counts around N; outside the range, the two nearest its end
        i = next((k for k in range(1, len(pts)) if shards <= pts[k].shards), len(pts) - 1)
        seconds, peak, how = _through(pts[i - 1], pts[i], shards)
    exact = next((p for p in pts if p.shards == shards), None)
    if exact is not None:
        seconds, peak, scaling = exact.seconds, float(exact.peak_rss_bytes), "measured"
        how = f"as measured at {shards:,} shards"
    elif lo <= shards <= hi:
        scaling = "interpolated"
    else:
        scaling = "extrapolated"
        span = _count(lo) if lo == hi else f"{_count(lo)}-{_count(hi)}"
        how = f"{how} (measured at {span} shards only)"
    return DriverCost(key=m.key, step=m.step, shards=int(shards), seconds=float(seconds),
                      peak_rss_bytes=int(round(peak)), scaling=scaling, method=how,
                      measured_shards=tuple(p.shards for p in pts), source=m.source, date=m.date,
                      machine=m.machine, conditions=m.conditions)


def driver_costs(shards: int) -> list[DriverCost]:
    """Every measured driver step, scaled to ``shards`` shards."""
    return [estimate(m, shards) for m in MEASUREMENTS]
