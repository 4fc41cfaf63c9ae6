"""1 vs 2 scoring actors on this machine: rows/s of the scoring job, the ratio, and why.

The same demo corpus (``al_ray.data.demo_corpus.write_demo_corpus``) is scored by
``al_ray.scoring.job.run_scoring`` (classifier mode, the zero-shot MiniLM classifier, vLLM backend,
the job's defaults: engine inline in the actor on CPU, CPUs per actor = the node's CPUs shared out)
on a local Ray instance owned by this process (``ray.init(address="local", num_cpus=2)``), with
``workers=1`` (one actor, 2 CPUs, 2 threads) and ``workers=2`` (two actors, 1 CPU and 1 thread
each). Each variant runs in a fresh Ray instance so that the OpenMP binding of vLLM's CPU engine can
be set per variant through the job's runtime env:

  auto     vLLM's default (``VLLM_CPU_OMP_THREADS_BIND=auto``).
  nobind   ``VLLM_CPU_OMP_THREADS_BIND=nobind``: no pinning; the actor's ``OMP_NUM_THREADS`` applies
           and the OS spreads the threads over the cores.

While a job runs, the OpenMP settings and allowed CPUs of every scoring actor process (and of any
``VLLM::EngineCore``/``VLLM::Worker`` child, with ``engine_process: separate``) under this process
tree are read (psutil) and recorded, so the explanation is measured, not assumed. Times are end
to end (engine start-up included) and also without start-up (rows over the time from the first
score file to the last).

    .venv/bin/python -m benchmarks.bench_actors --quick    # 4K rows, 'auto' only  -> results/actors-quick.json
    .venv/bin/python -m benchmarks.bench_actors --full     # 20K rows, auto + nobind -> results/actors.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
from pathlib import Path

from benchmarks.common import provenance

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def _cpu_list(cpus: list[int]) -> str:
    """CPU numbers in the kernel's list format (``0-3,6``), as /proc/PID/status prints them."""
    out: list[str] = []
    for c in sorted(cpus):
        if out and out[-1].split("-")[-1] == str(c - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{c}"
        else:
            out.append(str(c))
    return ",".join(out)


def engine_processes() -> dict[int, dict]:
    """OpenMP settings of the scoring actors and vLLM engine processes below this process (ours only)."""
    import psutil

    found: dict[int, dict] = {}
    for proc in psutil.Process().children(recursive=True):
        try:
            cmd = " ".join(proc.cmdline())
            # the kernel's comm (15 characters), as recorded before: psutil's name() completes a
            # truncated one from the command line
            comm = proc.name()[:15]
            if not any(k in cmd or k in comm for k in ("EngineCore", "VLLM::Worker", "ScoringWor")):
                continue
            env = proc.environ()
            status = f"Threads:\t{proc.num_threads()}; Cpus_allowed_list:\t{_cpu_list(proc.cpu_affinity())}"
            found[proc.pid] = {"comm": comm, "status": status,
                               **{k: env[k] for k in ("OMP_NUM_THREADS", "OMP_PLACES", "OMP_PROC_BIND",
                                                      "VLLM_CPU_OMP_THREADS_BIND", "KMP_AFFINITY",
                                                      "GOMP_CPU_AFFINITY")
                                  if k in env}}
        except psutil.Error:  # gone, a zombie, or not ours to read
            continue
    return found


class EngineWatcher:
    """Polls the process tree while a job runs; keeps each engine process's OpenMP settings."""

    def __init__(self) -> None:
        self.seen: dict[int, dict] = {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(2.0):
            for pid, info in engine_processes().items():
                self.seen.setdefault(pid, info)

    def __enter__(self) -> "EngineWatcher":
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join(timeout=10)


def score_once(model_dir: Path, corpus: str, out: str, workers: int, bind: str, max_tokens: int) -> dict:
    import ray

    from al_ray.data.demo_corpus import demo_task
    from al_ray.scoring.config import ScoringConfig
    from al_ray.scoring.job import run_scoring

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning", log_to_driver=False,
             runtime_env={"env_vars": {"VLLM_CPU_OMP_THREADS_BIND": bind}})
    try:
        cfg = ScoringConfig(task=demo_task(), model=str(model_dir), mode="classifier", backend="vllm",
                            workers=workers, max_input_tokens=max_tokens, check_duplicate_ids=False)
        la0 = os.getloadavg()
        with EngineWatcher() as w:
            s = run_scoring(cfg, corpus, out, progress=False)
        la1 = os.getloadavg()
    finally:
        ray.shutdown()
    files = sorted(Path(out).rglob("*.parquet"))
    mt = [f.stat().st_mtime for f in files]
    steady = None
    if len(mt) >= 2:
        # rows of all but the first file over first->last file time: scoring rate without start-up
        span = max(mt) - min(mt)
        per_file = s.rows_scored / len(files)
        steady = round(per_file * (len(files) - 1) / span, 1) if span > 0 else None
    return {"workers": workers, "omp_bind": bind, "rows": s.rows_scored, "seconds": s.seconds,
            "rows_per_s": s.rows_per_s, "rows_per_s_after_startup_est": steady,
            "failed_shards": len(s.failed_shards), "engine_processes": list(w.seen.values()),
            "loadavg_start": [round(x, 2) for x in la0], "loadavg_end": [round(x, 2) for x in la1]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="4K rows, vLLM's default binding only (default)")
    g.add_argument("--full", action="store_true", help="20K rows, bindings auto and nobind")
    ap.add_argument("--rows", type=int)
    ap.add_argument("--binds", help="comma list of VLLM_CPU_OMP_THREADS_BIND values (auto,nobind,...)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    mode = "full" if args.full else "quick"
    rows = args.rows or (20000 if args.full else 4000)
    binds = [b for b in (args.binds or ("auto,nobind" if args.full else "auto")).split(",") if b]
    out_path = args.out or RESULTS / ("actors.json" if args.full else "actors-quick.json")

    from al_ray.data.demo_corpus import demo_task, write_demo_corpus
    from al_ray.models import build_zero_shot_classifier

    task = demo_task()
    result: dict = {
        "benchmark": "scoring job rows/s with 1 vs 2 Ray actors (vLLM CPU, classifier mode, zero-shot MiniLM)",
        "mode": mode, "rows": rows, **provenance(argv),
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="al_ray_actors_") as tmp:
        tmp = Path(tmp)
        model = build_zero_shot_classifier(tmp / "model", task.labels, task.label_descriptions)
        corpus = str(tmp / "corpus")
        write_demo_corpus(corpus, n_rows=rows, n_shards=8, seed=0, gold_url=str(tmp / "gold"))
        for bind in binds:
            for workers in (1, 2):
                print(f"scoring {rows} rows, workers={workers}, VLLM_CPU_OMP_THREADS_BIND={bind} ...", flush=True)
                r = score_once(model, corpus, str(tmp / f"out_{bind}_{workers}"), workers, bind, 64)
                print("   ", {k: v for k, v in r.items() if k != "engine_processes"}, flush=True)
                for e in r["engine_processes"]:
                    print("    engine:", e, flush=True)
                result["runs"].append(r)
                RESULTS.mkdir(parents=True, exist_ok=True)
                out_path.write_text(json.dumps(result, indent=2))
    ratios = {}
    for bind in binds:
        one = [r for r in result["runs"] if r["omp_bind"] == bind and r["workers"] == 1]
        two = [r for r in result["runs"] if r["omp_bind"] == bind and r["workers"] == 2]
        if one and two and one[0]["rows_per_s"]:
            ratios[bind] = {"end_to_end": round(two[0]["rows_per_s"] / one[0]["rows_per_s"], 3)}
            if one[0]["rows_per_s_after_startup_est"] and two[0]["rows_per_s_after_startup_est"]:
                ratios[bind]["after_startup_est"] = round(two[0]["rows_per_s_after_startup_est"]
                                                          / one[0]["rows_per_s_after_startup_est"], 3)
    result["ratio_2_over_1"] = ratios
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    out_path.write_text(json.dumps(result, indent=2))
    print(json.dumps(ratios, indent=2))
    print(f"wrote {out_path}")
    return 0 if all(r["failed_shards"] == 0 for r in result["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
