"""The duplicate-id check at 1e8 ids over 10K sidecars, on the product's own path.

What runs is ``al_ray.scoring.duplicates.find_duplicate_ids`` (the hash-partitioned map/reduce of
Ray tasks that ``run_scoring`` calls after scoring), fed exactly as ``al_ray.scoring.job`` feeds it:
one listing of the output prefix (``job.list_outputs``) turned into sources by
``duplicates.sources_from_listing``. Nothing of the check is re-implemented here.

Setup (timed apart): N shards of R ids each. Every id is a real string (``doc-s<shard>-r<row>``),
hashed with the product's ``al_ray.scoring.shard.hash_ids`` and written with its sidecar encoder
``al_ray.scoring.writer.encode_id_hashes`` to ``<score file>.ids.npy`` beside a ``.done`` marker, as a
scoring actor leaves them. D duplicates are planted by overwriting one row's id with another row's
id: a few within one shard, most across two shards far apart (different map tasks). A score file
(``build_score_table``) is written only for the shards a planted duplicate touches: those are the
only score files the check reads (to name the id of each example); every other shard has its sidecar
and marker only, which is all the check reads of it.

The check runs on a private local Ray (``ray.init(address="local")``) with ``max_examples`` = D, so
its report names every duplicate it found; the bench compares those ids (and their shards and
occurrence counts) with the planted set, and the report's ``count``/``extra_rows`` with D.

The check saves its partitions as ``run_scoring`` has it do (``state_dir``: ``<scores>/_duplicate_ids/``).
Then (unless ``--no-incremental``) one shard is rescored with one more planted duplicate (its sidecar,
score file and marker written again) and the check runs again: the incremental check, which must
read that one sidecar, take every other shard's hashes from the saved partitions and report the
planted set plus the new duplicate, exactly (``incremental`` in the result file).

Memory: the driver's peak RSS is sampled (psutil, every 20 ms) during the check and read from
VmHWM for the whole run. Each task's memory is what the check's own tasks report
(``duplicates._PrivateMemory``: the worker's private memory, RssAnon, at the task's largest points,
and its rise over the task), collected by wrapping ``map_partition``/``reduce_partition`` (the
product functions still do all the work; the wrapper only appends their stats to a log file). The
wrapper also samples the task's private memory (RssAnon, every 5 ms) and the shared pages
(RssShmem) itself, a check on the task's own figure: the private rise during a task is what the
check's design bounds (~200 MB a map task, ~250 MB a reduce task). Result files written before the
tasks measured their private memory (2026-12-01) hold instead the worker's ru_maxrss
(``peak_rss_mb_*``, ``task_peak_rss_mb_reported``, the report's ``task_peak_rss_mb``): the worker's
high-water mark since it started, object-store pages it touched included, which climbs task after
task on a reused worker and bounds nothing about one task.

Usage::

    .venv/bin/python -m benchmarks.bench_duplicate_check --quick        # 1,000 x 10,000 ids
    .venv/bin/python -m benchmarks.bench_duplicate_check                # 10,000 x 10,000 = 1e8 ids
    .venv/bin/python -m benchmarks.bench_duplicate_check --shards 2000 --rows-per-shard 10000 --duplicates 50
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from al_ray.memory import proc_status_mb

RESULTS = Path(__file__).resolve().parent / "results"
LABELS = ["neither", "violating"]
# what al_ray/scoring/duplicates.py plans a task's own data to take (ROWS_PER_MAP_TASK, ROWS_PER_PARTITION)
DESIGN_TASK_MB = {"map": 200.0, "reduce": 250.0}


@dataclass(frozen=True)
class Plant:
    """Row ``dst_row`` of shard ``dst`` is overwritten with the id of row ``src_row`` of shard ``src``."""

    src: int
    src_row: int
    dst: int
    dst_row: int

    @property
    def within(self) -> bool:
        return self.src == self.dst


def rel_of(k: int) -> str:
    """Shard k's relative path: 1,000 a folder, as a large corpus is laid out."""
    return f"{k // 1000:04d}/part-{k:06d}.parquet"


def id_of(shard: int, row: int) -> str:
    return f"doc-s{shard:06d}-r{row:06d}"


def plan_plants(shards: int, rows: int, duplicates: int, *, within_fraction: float = 0.1,
                seed: int = 0) -> list[Plant]:
    """Where the duplicates go: ``within_fraction`` of them inside one shard, the rest across two shards
    about half the corpus apart (so in different map tasks). Every (shard, row) is used at most once,
    as a source or a target, so each planted id occurs exactly twice."""
    if duplicates and (rows < 2 or shards * rows < 2 * duplicates):
        raise ValueError("too few rows to plant that many duplicates")
    rng = random.Random(seed)
    used: set[tuple[int, int]] = set()

    def free(shard: int) -> int:
        for _ in range(10_000):
            r = rng.randrange(rows)
            if (shard, r) not in used:
                used.add((shard, r))
                return r
        raise ValueError(f"shard {shard} has no free row left")

    plants = []
    n_within = duplicates if shards == 1 else round(duplicates * within_fraction)
    if shards > 1 and duplicates >= 2:  # at least one of each kind
        n_within = min(max(n_within, 1), duplicates - 1)
    for i in range(duplicates):
        if i < n_within:
            s = rng.randrange(shards)
            plants.append(Plant(s, free(s), s, free(s)))
        else:
            a = rng.randrange(max(shards // 2, 1))
            b = min(a + max(shards // 2, 1) + rng.randrange(max(shards // 4, 1)), shards - 1)
            if b == a:
                b = (a + 1) % shards
            plants.append(Plant(a, free(a), b, free(b)))
    return plants


def expected_duplicates(plants: list[Plant]) -> dict[str, tuple[list[str], int]]:
    """id -> (sorted shard rels holding it, occurrences): what the check must report."""
    return {id_of(p.src, p.src_row): (sorted({rel_of(p.src), rel_of(p.dst)}), 2) for p in plants}


def compare(report, plants: list[Plant], rows_total: int, shards: int, read: int | None = None) -> dict:
    """Whether the check's report equals the planted set exactly (ids, shards, occurrences, counts).
    ``read``: how many sidecars the check must have read (default every shard's: a full check; an
    incremental one reads only the changed shards' and takes the rest from its saved partitions)."""
    read = shards if read is None else read
    want = expected_duplicates(plants)
    got = {e["id"]: (sorted(e["shards"]), e["occurrences"]) for e in report.examples}
    return {
        "planted": len(plants), "planted_within_shard": sum(p.within for p in plants),
        "planted_across_shards": sum(not p.within for p in plants),
        "found_count": report.count, "found_extra_rows": report.extra_rows,
        "examples_reported": len(report.examples),
        "missed": sorted(set(want) - set(got))[:20], "spurious": sorted(set(got) - set(want))[:20],
        "wrong_shards_or_occurrences": sorted(i for i in set(want) & set(got) if want[i] != got[i])[:20],
        "rows_checked": report.rows_checked, "rows_expected": rows_total,
        "shards_checked": report.shards_checked, "from_sidecars": report.from_sidecars,
        "shards_from_saved": report.shards_from_saved,
        "exact": (report.error is None and report.count == len(plants) and report.extra_rows == len(plants)
                  and got == want and report.rows_checked == rows_total and report.shards_checked == shards
                  and report.from_sidecars == read and report.shards_from_saved == shards - read),
    }


def write_shards(out: Path, shards: int, rows: int, plants: list[Plant], only: set[int] | None = None) -> dict:
    """Each shard's sidecar (the product's hash and encoder) and ``.done`` marker; score files for the
    shards a plant touches. ``only``: write just these shards. Returns the setup figures."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from al_ray.scoring.shard import hash_ids
    from al_ray.scoring.writer import build_score_table, encode_id_hashes, ids_sidecar_url

    t0 = time.perf_counter()
    row_str = pa.array([f"{r:06d}" for r in range(rows)])
    overwrite: dict[int, dict[int, str]] = {}
    for p in plants:
        overwrite.setdefault(p.dst, {})[p.dst_row] = id_of(p.src, p.src_row)
    with_scores = {p.src for p in plants} | {p.dst for p in plants}
    sidecar_bytes = 0
    for k in (sorted(only) if only is not None else range(shards)):
        rel = rel_of(k)
        path = out / rel
        if k % 1000 == 0 or only is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        ids = pc.binary_join_element_wise(pa.scalar(f"doc-s{k:06d}-r"), row_str, "")
        if k in overwrite:
            values = ids.to_pylist()
            for r, v in overwrite[k].items():
                values[r] = v
            ids = pa.array(values)
        data = encode_id_hashes(hash_ids(ids))
        sidecar_bytes += len(data)
        with open(ids_sidecar_url(str(path)), "wb") as f:
            f.write(data)
        if k in with_scores:
            table = build_score_table(ids=ids, rows=np.arange(rows), label_probs=np.full((rows, 2), 0.5),
                                      truncated=np.zeros(rows, bool), empty=np.zeros(rows, bool), labels=LABELS,
                                      model_id="bench", model_version="bench", shard=rel)
            pq.write_table(table, path, compression="zstd")
        with open(f"{path}.done", "w") as f:
            json.dump({"rows": rows, "model_version": "bench"}, f)
    return {"seconds": round(time.perf_counter() - t0, 1), "sidecars": shards, "score_files": len(with_scores),
            "markers": shards, "sidecar_bytes": sidecar_bytes}


class _TaskSampler:
    """Samples /proc/self/status every 5 ms while a task runs: the task's own peak private memory
    (RssAnon), which ru_maxrss cannot give (it is the worker's high-water mark, object store pages
    included, since the worker started)."""

    def __init__(self) -> None:
        self.start = proc_status_mb()
        self.peak_anon = self.start.get("RssAnon", 0.0)
        self.peak_rss = self.start.get("VmRSS", 0.0)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            s = proc_status_mb()
            self.peak_anon = max(self.peak_anon, s.get("RssAnon", 0.0))
            self.peak_rss = max(self.peak_rss, s.get("VmRSS", 0.0))

    def stop(self) -> dict:
        self._stop.set()
        self._t.join()
        end = proc_status_mb()
        self.peak_anon = max(self.peak_anon, end.get("RssAnon", 0.0))
        return {"rss_start_mb": round(self.start.get("VmRSS", 0.0), 1),
                "shmem_start_mb": round(self.start.get("RssShmem", 0.0), 1),
                "anon_start_mb": round(self.start.get("RssAnon", 0.0), 1),
                "peak_anon_mb_sampled": round(self.peak_anon, 1), "peak_rss_mb_sampled": round(self.peak_rss, 1),
                "shmem_end_mb": round(end.get("RssShmem", 0.0), 1)}


def _instrument(log_path: str):
    """Wrap the check's two task functions so each task's own stats (rows, the private memory it
    reports) and this bench's 5 ms samples of its private memory are appended to ``log_path``;
    returns a function that restores them. The product functions do all the work."""
    from al_ray.scoring import duplicates

    orig_map, orig_reduce = duplicates.map_partition, duplicates.reduce_partition

    def _log(kind: str, stats: dict, sampled: dict) -> None:
        rec = {"kind": kind, "pid": os.getpid(), "rows": stats.get("rows"),
               "reported_peak_private_mb": stats.get("peak_private_mb"),
               "reported_private_rise_mb": stats.get("private_rise_mb"), **sampled}
        with open(log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def map_partition(group, partitions, storage_options):
        sampler = _TaskSampler()
        res = orig_map(group, partitions, storage_options)
        _log("map", res[-1], sampler.stop())
        return res

    def reduce_partition(*parts, **kw):
        sampler = _TaskSampler()
        res = orig_reduce(*parts, **kw)
        _log("reduce", res, sampler.stop())
        return res

    duplicates.map_partition, duplicates.reduce_partition = map_partition, reduce_partition

    def restore() -> None:
        duplicates.map_partition, duplicates.reduce_partition = orig_map, orig_reduce

    return restore


def task_figures(log_path: str) -> dict:
    recs = [json.loads(ln) for ln in Path(log_path).read_text().splitlines() if ln.strip()] if os.path.exists(
        log_path) else []
    out: dict = {}
    for kind in ("map", "reduce"):
        rs = [r for r in recs if r["kind"] == kind]
        peaks = [r["reported_peak_private_mb"] for r in rs]
        anon = [r.get("peak_anon_mb_sampled", 0.0) for r in rs]
        anon_rise = [r.get("peak_anon_mb_sampled", 0.0) - r.get("anon_start_mb", 0.0) for r in rs]
        out[kind] = {"tasks": len(rs), "worker_pids": len({r["pid"] for r in rs}),
                     "rows_per_task_max": max((r["rows"] for r in rs), default=0),
                     # what the check's tasks report (duplicates._PrivateMemory: RssAnon at their marks)
                     "reported_peak_private_mb_max": round(max(peaks, default=0.0), 1),
                     "reported_peak_private_mb_min": round(min(peaks, default=0.0), 1),
                     "reported_peak_private_mb_each": [round(p, 1) for p in peaks],
                     "reported_private_rise_mb_max": round(max((r["reported_private_rise_mb"] for r in rs),
                                                               default=0.0), 1),
                     # this bench's 5 ms samples: private memory (RssAnon) and object-store pages (RssShmem)
                     "peak_private_mb_max": round(max(anon, default=0.0), 1),
                     "peak_private_mb_each": [round(p, 1) for p in anon],
                     "private_rise_mb_max": round(max(anon_rise, default=0.0), 1),
                     "object_store_pages_mb_at_end_max": round(max((r.get("shmem_end_mb", 0.0) for r in rs),
                                                                   default=0.0), 1)}
    return out


def add_plant(out: Path, shards: int, rows: int, plants: list[Plant]) -> Plant:
    """One more duplicate, as a rescore of a changed shard leaves it: a row of shard 1 takes the id of
    a free row of the last shard (another map task), and shard 1's sidecar, score file and marker are
    written again. Only shard 1 changed: the incremental check must read its sidecar alone."""
    used = {(p.src, p.src_row) for p in plants} | {(p.dst, p.dst_row) for p in plants}
    src, dst = shards - 1, 1 if shards > 1 else 0
    src_row = next(r for r in range(rows) if (src, r) not in used)
    dst_row = next(r for r in range(rows - 1, -1, -1) if (dst, r) not in used and (dst, r) != (src, src_row))
    new = Plant(src, src_row, dst, dst_row)
    write_shards(out, shards, rows, [*plants, new], only={dst})  # the first owner's score file names the id
    return new


def run_check(out: Path, shards: int, max_examples: int, task_log: str, num_cpus: int,
              between=None) -> tuple[object, dict, object, dict]:
    """One listing of ``out`` -> sources -> ``find_duplicate_ids`` on a private local Ray, saving its
    partitions as ``run_scoring`` does; then ``between()`` (a change to the shards) and the same again:
    the incremental check. Returns (report, figures) of each (the second pair None without
    ``between``); their tasks are logged to ``task_log`` and ``task_log + ".incremental"``."""
    import ray

    from al_ray.scoring import duplicates
    from al_ray.scoring.job import list_outputs

    from al_ray.layout import DUPLICATE_STATE_DIR

    rels = sorted(rel_of(k) for k in range(shards))
    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, logging_level="warning",
             log_to_driver=False)
    ray_init = round(time.perf_counter() - t0, 2)
    rss_after_init = round(proc_status_mb().get("VmRSS", 0.0), 1)
    from benchmarks.common import PeakRss

    def once(log_path: str) -> tuple[object, dict]:
        fig: dict = {"load_avg_at_start": [round(x, 2) for x in os.getloadavg()], "ray_init_seconds": ray_init,
                     "driver_rss_mib_after_ray_init": rss_after_init}
        restore = _instrument(log_path)
        try:
            with PeakRss() as rss:
                t1 = time.perf_counter()
                sources = duplicates.sources_from_listing(str(out), list_outputs(str(out), rels))
                fig["listing_seconds"] = round(time.perf_counter() - t1, 2)
                t2 = time.perf_counter()
                report = duplicates.find_duplicate_ids(sources, None, max_examples=max_examples,
                                                       state_dir=str(out / DUPLICATE_STATE_DIR))
                fig["check_seconds"] = round(time.perf_counter() - t2, 2)
                fig["listing_and_check_seconds"] = round(time.perf_counter() - t1, 2)
            fig["driver_peak_rss_mib_during_check"] = round(rss.peak / 2**20, 1)
        finally:
            restore()
        fig["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        return report, fig

    try:
        report, fig = once(task_log)
        again = again_fig = None
        if between is not None:
            t3 = time.perf_counter()
            between()
            change_s = round(time.perf_counter() - t3, 2)
            again, again_fig = once(task_log + ".incremental")
            again_fig["change_seconds"] = change_s
    finally:
        ray.shutdown()
    return report, fig, again, again_fig


def main(argv: list[str] | None = None) -> int:
    from benchmarks.common import log, peak_rss_mib, provenance

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shards", type=int, default=10_000)
    ap.add_argument("--rows-per-shard", type=int, default=10_000)
    ap.add_argument("--duplicates", type=int, default=100)
    ap.add_argument("--quick", action="store_true",
                    help="1,000 shards x 10,000 rows, 20 duplicates: 3 map and 2 reduce tasks (about 20 s)")
    ap.add_argument("--full", action="store_true",
                    help="10,000 x 10,000 = 1e8 ids, 100 duplicates (the defaults)")
    ap.add_argument("--num-cpus", type=int, default=2, help="CPUs of the private local Ray")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-incremental", action="store_true",
                    help="skip the second check (one shard rescored with one more duplicate)")
    ap.add_argument("--workdir", default=None, help="where the sidecars are written (default: a temp dir)")
    ap.add_argument("--out", default=None, help="result JSON (default: results/duplicate_check[-quick].json)")
    a = ap.parse_args(argv)
    if a.quick:
        a.shards, a.rows_per_shard, a.duplicates = 1_000, 10_000, 20
    elif a.full:
        a.shards, a.rows_per_shard, a.duplicates = 10_000, 10_000, 100
    name = "duplicate_check-quick.json" if a.quick else (
        "duplicate_check.json" if (a.shards, a.rows_per_shard) == (10_000, 10_000) else
        f"duplicate_check-{a.shards}x{a.rows_per_shard}.json")
    out_json = Path(a.out) if a.out else RESULTS / name
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")

    t_all = time.perf_counter()
    result: dict = {"benchmark": "duplicate_check", **provenance(argv),
                    "size": {"shards": a.shards, "rows_per_shard": a.rows_per_shard,
                             "ids": a.shards * a.rows_per_shard, "duplicates": a.duplicates},
                    "goals": {"exact": True, "design_task_mb": DESIGN_TASK_MB}}
    from al_ray.scoring import duplicates

    result["check_settings"] = {"rows_per_map_task": duplicates.ROWS_PER_MAP_TASK,
                                "files_per_map_task": duplicates.FILES_PER_MAP_TASK,
                                "rows_per_partition": duplicates.ROWS_PER_PARTITION, "ray_num_cpus": a.num_cpus}
    root = Path(tempfile.mkdtemp(prefix="dup_check_", dir=a.workdir))
    try:
        plants = plan_plants(a.shards, a.rows_per_shard, a.duplicates, seed=a.seed)
        log(f"writing {a.shards:,} sidecars x {a.rows_per_shard:,} ids ({a.duplicates} planted duplicates) "
            f"under {root}")
        result["setup"] = write_shards(root / "scores", a.shards, a.rows_per_shard, plants)
        log(f"setup {result['setup']['seconds']} s; running the check")
        task_log = str(root / "tasks.jsonl")
        added: list[Plant] = []

        def change() -> None:  # between the two checks: one shard rescored with one more duplicate
            added.append(add_plant(root / "scores", a.shards, a.rows_per_shard, plants))

        report, fig, again, again_fig = run_check(root / "scores", a.shards, max(a.duplicates, 1) + 1, task_log,
                                                  a.num_cpus, between=None if a.no_incremental else change)
        result["check"] = {**fig, "report": {k: v for k, v in report.model_dump().items() if k != "examples"},
                           "tasks": task_figures(task_log)}
        result["verdict"] = compare(report, plants, a.shards * a.rows_per_shard, a.shards)
        if again is not None:
            result["incremental"] = {
                **again_fig, "added_plant": vars(added[0]),
                "report": {k: v for k, v in again.model_dump().items() if k != "examples"},
                "tasks": task_figures(task_log + ".incremental"),
                "verdict": compare(again, [*plants, *added], a.shards * a.rows_per_shard, a.shards, read=1)}
    finally:
        t_rm = time.perf_counter()
        shutil.rmtree(root, ignore_errors=True)
        rm_s = round(time.perf_counter() - t_rm, 1)
    result["cleanup_seconds"] = rm_s
    result["total_seconds"] = round(time.perf_counter() - t_all, 1)
    result["driver_peak_rss_mib"] = round(peak_rss_mib(), 1)  # VmHWM: setup, ray.init and the check
    tasks = result["check"]["tasks"]
    task_peak = max(tasks["map"]["reported_peak_private_mb_max"], tasks["reduce"]["reported_peak_private_mb_max"])
    result["verdict"].update(
        task_peak_private_mb_reported=task_peak,  # the check's own figure (its report's task_peak_private_mb)
        task_peak_private_mb=max(tasks["map"]["peak_private_mb_max"], tasks["reduce"]["peak_private_mb_max"]),
        task_private_rise_mb={k: tasks[k]["private_rise_mb_max"] for k in ("map", "reduce")},
        design_task_mb=DESIGN_TASK_MB)
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(result, indent=2) + "\n")
    v, c = result["verdict"], result["check"]
    log(f"{a.shards:,} shards x {a.rows_per_shard:,} ids: check {c['check_seconds']} s (listing "
        f"{c['listing_seconds']} s), setup {result['setup']['seconds']} s, total {result['total_seconds']} s; "
        f"{c['report']['map_tasks']} map + {c['report']['partitions']} reduce tasks, task private peak as reported "
        f"{task_peak} MB (sampled: peak {v['task_peak_private_mb']} MB, rise {v['task_private_rise_mb']}), "
        f"driver peak {result['driver_peak_rss_mib']} MiB; found {v['found_count']}/{v['planted']} planted, "
        f"exact={v['exact']}; load {c['load_avg_at_start']} -> {c['load_avg_at_end']}")
    inc = result.get("incremental")
    if inc:
        log(f"incremental check after one shard rescored: {inc['check_seconds']} s, "
            f"{inc['report']['from_sidecars']} sidecar read, {inc['report']['shards_from_saved']:,} shards from "
            f"saved partitions, task private peak as reported {inc['report']['task_peak_private_mb']} MB; "
            f"found {inc['verdict']['found_count']}/{inc['verdict']['planted']}, exact={inc['verdict']['exact']}")
    log(f"wrote {out_json}")
    return 0 if v["exact"] and (not inc or inc["verdict"]["exact"]) else 1


if __name__ == "__main__":
    sys.exit(main())
