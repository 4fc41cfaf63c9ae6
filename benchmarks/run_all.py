"""Run every benchmark script in sequence (each as its own subprocess) and print a summary.

    .venv/bin/python -m benchmarks.run_all --quick    # what `make bench` runs: CI size, minutes
    .venv/bin/python -m benchmarks.run_all --full     # the sizes reported in RESULTS.md (hours on 2 cores)
    .venv/bin/python -m benchmarks.run_all --quick --only label_efficiency,actors

Each script writes its JSON under benchmarks/results/. A script's flags are checked against its
``--help`` before it runs (a flag it does not offer is dropped, and said so), so this runner keeps
working while the scripts evolve. Exit status: 0 when every script exited 0, else 1.

A run of the whole suite (no --only/--skip) also records its summary, with the machine and the
command, in ``results/run_all-<mode>.json`` (RESULTS.md's ``make bench`` table is generated from it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"


@dataclass(frozen=True)
class Bench:
    name: str
    module: str
    quick: tuple[str, ...]
    full: tuple[str, ...]
    outputs: dict[str, tuple[str, ...]] = field(default_factory=dict)  # mode -> result files (relative to results/)
    timeout_s: dict[str, int] = field(default_factory=dict)
    needs_gpu: bool = False  # skipped (not failed) where no CUDA device is visible


BENCHES: tuple[Bench, ...] = (
    Bench("scoring", "benchmarks.bench_scoring", ("--quick",), ("--full",),
          {"quick": ("scoring_quick.json",), "full": ("scoring_full.json",)},
          {"quick": 1800, "full": 7200}),
    # bench_selection has no --full flag: its full size is the default (no --quick)
    Bench("selection", "benchmarks.bench_selection", ("--quick", "--json", "{results}/selection-quick.json"),
          ("--json", "{results}/selection.json"),
          {"quick": ("selection-quick.json",), "full": ("selection.json",)},
          {"quick": 1800, "full": 7200}),
    # the real scoring driver (plan_scoring, run_scoring) over many shards; it replaced bench_billion,
    # which timed planning code written inside the benchmark
    Bench("scoring_driver", "benchmarks.bench_scoring_driver",
          ("--sizes", "10000", "--out", "{results}/scoring_driver-quick.json"), (),
          {"quick": ("scoring_driver-quick.json",), "full": ("scoring_driver.json",)},
          {"quick": 1800, "full": 3600}),
    # issue 16: find_duplicate_ids over 1e8 ids in 10K sidecars (quick: 1e7 ids, ~20 s)
    Bench("duplicate_check", "benchmarks.bench_duplicate_check", ("--quick",), ("--full",),
          {"quick": ("duplicate_check-quick.json",), "full": ("duplicate_check.json",)},
          {"quick": 600, "full": 3600}),
    # issue 16: the scoring driver on moto's S3 server, requests counted per phase (quick: 200 shards, ~1 min)
    Bench("scoring_driver_s3", "benchmarks.bench_scoring_driver_s3", ("--quick",), ("--full",),
          {"quick": ("scoring_driver_s3-quick.json",), "full": ("scoring_driver_s3.json",)},
          {"quick": 900, "full": 5400}),
    Bench("actors", "benchmarks.bench_actors", ("--quick",), ("--full",),
          {"quick": ("actors-quick.json",), "full": ("actors.json",)},
          {"quick": 1200, "full": 3600}),
    Bench("label_efficiency", "benchmarks.bench_label_efficiency", ("--quick",), ("--full",),
          {"quick": ("label_efficiency-quick.json",), "full": ("label_efficiency.json",)},
          {"quick": 1800, "full": 6 * 3600}),
    Bench("gpu_transformers", "benchmarks.bench_gpu_transformers",
          ("--texts", "4096", "--out", "{results}/transformers_gpu-quick.json"), (),
          {"quick": ("transformers_gpu-quick.json",), "full": ("transformers_gpu.json",)},
          {"quick": 900, "full": 1800}, needs_gpu=True),
)


def cuda_visible(python: str) -> bool:
    p = subprocess.run([python, "-c", "import torch; print(torch.cuda.is_available())"], cwd=REPO,
                       capture_output=True, text=True, timeout=300)
    return p.stdout.strip().endswith("True")


def supported_flags(module: str, python: str) -> str | None:
    """The script's --help text (None when it cannot even print help: it is then run as is and fails loudly)."""
    try:
        p = subprocess.run([python, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return None
    return p.stdout if p.returncode == 0 else None


def plan_args(bench: Bench, mode: str, help_text: str | None) -> tuple[list[str], list[str]]:
    """(arguments to pass, flags dropped because the script does not offer them)."""
    wanted = [a.replace("{results}", str(RESULTS)) for a in (bench.quick if mode == "quick" else bench.full)]
    if help_text is None:
        return wanted, []
    args, dropped, skip_value = [], [], False
    for i, a in enumerate(wanted):
        if skip_value:
            skip_value = False
            continue
        if a.startswith("--") and a not in help_text:
            dropped.append(a)
            # a dropped option's value goes with it
            skip_value = i + 1 < len(wanted) and not wanted[i + 1].startswith("--")
            continue
        args.append(a)
    return args, dropped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="CI sizes (default)")
    g.add_argument("--full", action="store_true", help="the sizes reported in RESULTS.md")
    ap.add_argument("--only", help="comma list of " + ",".join(b.name for b in BENCHES))
    ap.add_argument("--skip", help="comma list of benchmarks to leave out")
    ap.add_argument("--dry-run", action="store_true", help="print the commands only")
    args = ap.parse_args(argv)
    mode = "full" if args.full else "quick"
    only = {x.strip() for x in (args.only or "").split(",") if x.strip()}
    skip = {x.strip() for x in (args.skip or "").split(",") if x.strip()}
    unknown = (only | skip) - {b.name for b in BENCHES}
    if unknown:
        ap.error(f"unknown benchmark(s) {sorted(unknown)}")
    python = sys.executable
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    rows = []
    for bench in BENCHES:
        if (only and bench.name not in only) or bench.name in skip:
            continue
        if not (REPO / (bench.module.replace(".", "/") + ".py")).exists():
            rows.append((bench.name, "missing", 0.0, "script not found"))
            print(f"== {bench.name}: script {bench.module} not found", flush=True)
            continue
        if bench.needs_gpu and not args.dry_run and not cuda_visible(python):
            rows.append((bench.name, "skipped", 0.0, "no CUDA device visible"))
            print(f"\n== {bench.name}: skipped, no CUDA device visible", flush=True)
            continue
        help_text = None if args.dry_run else supported_flags(bench.module, python)
        bargs, dropped = plan_args(bench, mode, help_text)
        cmd = [python, "-m", bench.module, *bargs]
        print(f"\n== {bench.name} ({mode}): {' '.join(cmd[1:])}", flush=True)
        if dropped:
            print(f"   (the script does not offer {dropped}: left out)", flush=True)
        if args.dry_run:
            rows.append((bench.name, "dry-run", 0.0, ""))
            continue
        t0 = time.time()
        started = time.time()
        try:
            p = subprocess.run(cmd, cwd=REPO, env=env, timeout=bench.timeout_s.get(mode))
            rc = p.returncode
            note = ""
        except subprocess.TimeoutExpired:
            rc, note = 124, f"timed out after {bench.timeout_s.get(mode)} s"
        secs = time.time() - t0
        outs = [RESULTS / o for o in bench.outputs.get(mode, ())]
        fresh = [o.name for o in outs if o.exists() and o.stat().st_mtime >= started - 1]
        missing = [o.name for o in outs if o.name not in fresh]
        if rc == 0 and missing:
            note = (note + "; " if note else "") + f"no fresh {', '.join(missing)}"
        elif fresh:
            note = (note + "; " if note else "") + f"wrote {', '.join(fresh)}"
        rows.append((bench.name, "ok" if rc == 0 else f"FAILED (exit {rc})", secs, note))
    print("\n== summary (" + mode + ")")
    w = max([len(r[0]) for r in rows] + [9])
    for name, status, secs, note in rows:
        print(f"  {name:<{w}}  {status:<18} {secs:8.1f} s  {note}")
    bad = [r for r in rows if r[1] not in ("ok", "dry-run", "skipped")]
    if not (only or skip or args.dry_run):
        record_run(mode, rows, argv)
    return 1 if bad else 0


def record_run(mode: str, rows: list[tuple[str, str, float, str]], argv: list[str] | None,
               results: Path = RESULTS) -> Path:
    """The suite's own record: which scripts ran, how each ended, its wall time and the files it wrote."""
    from benchmarks.common import provenance

    out = results / f"run_all-{mode}.json"
    rec = {"benchmark": "run_all", "mode": mode, **provenance(argv),
           "total_seconds": round(sum(r[2] for r in rows), 1),
           "scripts": [{"name": n, "status": st, "seconds": round(secs, 1), "note": note}
                       for n, st, secs, note in rows]}
    out.write_text(json.dumps(rec, indent=2) + "\n")
    print(f"  recorded in {out}")
    return out


if __name__ == "__main__":
    sys.exit(main())
