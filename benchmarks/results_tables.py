"""RESULTS.md's tables for the result files whose benchmark has no table function of its own.

benchmarks/results_md.py maps each marked block of RESULTS.md to a function here (or to the
benchmark's own). Each takes the parsed JSON of its result files and returns a Markdown table.
They index the JSON (``d["key"]``, never ``d.get``) so that a file lacking a key fails
``make results`` with results_md.MissingKey, naming the file and the key, instead of printing a
blank or a stale figure. They print what the file holds and derive nothing from a rule it does not
record; a figure that no file holds stays in the prose, written by hand.
"""

from __future__ import annotations

import math
import re
import statistics
from typing import Any, Sequence

from benchmarks.label_efficiency_records import ARMS

Data = dict[str, Any]

ARM_NAMES = {"zero_shot": "zero-shot", "b_random": "(b) random expert",
             "e_floor": "(e) frozen-embedding floor", "a_loop": "(a) loop", "c_crowd": "(c) all crowd",
             "d_expert": "(d) all expert"}


def _row(*cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(header: Sequence[str], rows: list[str]) -> str:
    return "\n".join([_row(*header), _row(*["---"] * len(header)), *rows])


def _kappa(k: float | None) -> str:
    return "–" if k is None else f"{k:.3f}"


def _mean_sd(values: Sequence[float]) -> str:
    """Mean ± sample standard deviation (ddof 1), as section 1 states; one value has no spread."""
    if len(values) == 1:
        return f"{values[0]:.3f} (n=1)"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


# --- section 1: label efficiency, full mode (results/label_efficiency.json) ---------------------------

def _groups(data: Data, arms: Sequence[str] = ARMS) -> dict[tuple[str, str], list[Data]]:
    """The done cells by (task, arm), in the file's task order and ``arms``' order, each by seed."""
    tasks = list(dict.fromkeys(c["task"] for c in data["cells"]))
    done = [c for c in data["cells"] if c["status"] == "done" and c["arm"] in arms]
    done.sort(key=lambda c: (tasks.index(c["task"]), list(arms).index(c["arm"]), c["seed"]))
    out: dict[tuple[str, str], list[Data]] = {}
    for c in done:
        out.setdefault((c["task"], c["arm"]), []).append(c)
    return out


def _labels(cells: Sequence[Data]) -> str:
    """The labels a (task, arm) trained on; all of a split's train items differ by one between seeds."""
    lo, hi = min(c["n_labels"] for c in cells), max(c["n_labels"] for c in cells)
    return f"{lo:,}" if lo == hi else f"{lo:,}–{hi:,}"


def label_efficiency_table(data: Data) -> str:
    """Section 1's headline: kappa per (task, arm), mean ± std over the seeds and each seed's figure.

    Computed from the cells, not from the file's ``summary``: an older summarise rounded that to 4
    places, and rounding again to 3 prints a wrong last digit (hate (b): std 0.03853, stored 0.0385,
    printed 0.038)."""
    groups = _groups(data)
    seeds = sorted({c["seed"] for cells in groups.values() for c in cells})
    rows = []
    for (task, arm), cells in groups.items():
        by_seed = {c["seed"]: c["kappa"] for c in cells}
        mean = _mean_sd([c["kappa"] for c in cells])
        name, mean = (f"**{ARM_NAMES[arm]}**", f"**{mean}**") if arm == "a_loop" else (ARM_NAMES[arm], mean)
        rows.append(_row(task, name, _labels(cells), mean, " / ".join(_kappa(by_seed.get(s)) for s in seeds)))
    per_seed = f"per seed ({' / '.join(map(str, seeds))})"
    return _table(["task", "arm", "labels (items)", "kappa, mean ± std", per_seed], rows)


def _kappas_by_labels(cells: Sequence[Data]) -> dict[int, list[float]]:
    """Every seed's kappa at each number of labels used, from the cells' per-round points."""
    at: dict[int, list[float]] = {}
    for p in (p for c in cells for p in c["points"] if p["kappa"] is not None):
        at.setdefault(p["labels_used"], []).append(p["kappa"])
    return at


def label_efficiency_curve(data: Data) -> str:
    """Kappa against labels used, mean ± std over the seeds: the loop after every round (at 0 labels
    its zero-shot round-0 model) and random labels at each budget they were trained at."""
    groups = _groups(data, ("a_loop", "b_random"))
    budgets = sorted({p["labels_used"] for cells in groups.values() for c in cells for p in c["points"]})
    rows = []
    for (task, arm), cells in groups.items():
        at = _kappas_by_labels(cells)
        name = "(b) random" if arm == "b_random" else ARM_NAMES[arm]
        rows.append(_row(task, name, *(_mean_sd(at[n]) if n in at else "" for n in budgets)))
    return _table(["task", "arm", *map(str, budgets)], rows)


def label_efficiency_replicates(data: Data) -> str:
    """Cells measured a second time on other hardware (``--merge`` keeps the second under
    ``replicates``, not counted) beside the counted cell: what the hardware alone changes."""
    counted = {(c["task"], c["seed"], c["arm"]): c for c in data["cells"] if c["status"] == "done"}
    reps = data["replicates"]
    pairs = [(counted[(r["task"], r["seed"], r["arm"])], r) for r in reps]
    header = ["hardware", *(f"{r['task']} {ARM_NAMES[r['arm']].split()[0]}, seed {r['seed']}" for r in reps)]

    def line(which: str, cells: list[Data]) -> str:
        where = " / ".join(dict.fromkeys(c["hardware"] for c in cells))
        return _row(f"{which}: {where}", *(_kappa(c["kappa"]) for c in cells))

    return _table(header, [line("counted", [a for a, _ in pairs]), line("replicate", [b for _, b in pairs])])


def defaults_comparison_table(before: Data, *after: Data) -> str:
    """Seed 0 of section 1 with the recipe before issue 13 against the arms rerun with today's
    defaults (one result file per task): kappa at each budget, the same test split and labels."""
    budgets = (0, 100, 200, 300, 400, 500)
    rows = []
    for now in after:
        for task in dict.fromkeys(c["task"] for c in now["cells"]):
            def at(data: Data, arm: str) -> dict[int, float]:
                cell = next((c for c in data["cells"] if c["task"] == task and c["arm"] == arm and c["seed"] == 0
                             and c["status"] == "done"), None)
                return {} if cell is None else {p["labels_used"]: p["kappa"] for p in cell["points"]}

            for label, data, arm in (("zero-shot", now, "zero_shot"),
                                     ("(b) random, before issue 13 (5 epochs)", before, "b_random"),
                                     ("(b) random, today (12 epochs, >= 150 steps)", now, "b_random"),
                                     ("(e) frozen-embedding floor", now, "e_floor"),
                                     ("(a) loop, before issue 13 (5 epochs)", before, "a_loop"),
                                     ("**(a) loop, today** (12 epochs, >= 150 steps, `typical` round 0)", now,
                                      "a_loop")):
                pts = at(data, arm)
                if pts:
                    rows.append(_row(task, label, *(_kappa(pts[n]) if n in pts else "" for n in budgets)))
    return _table(["task", "arm (seed 0)", *map(str, budgets)], rows)


def today_curve(*files: Data) -> str:
    """Kappa against labels used with today's defaults, mean ± std over the seeds each file holds:
    the loop after every round, random labels and the frozen-embedding floor at their budgets."""
    rows = []
    for data in files:
        groups = _groups(data, ("a_loop", "b_random", "e_floor"))
        for (task, arm), cells in groups.items():
            at = _kappas_by_labels(cells)
            seeds = ", ".join(str(c["seed"]) for c in cells)
            rows.append(_row(task, ARM_NAMES[arm], seeds, *(_mean_sd(at[n]) if n in at else "" for n in (0, 100, 200, 300, 400, 500))))
    return _table(["task", "arm", "seeds", "0", "100", "200", "300", "400", "500"], rows)


def loop_step_seconds_table(*files: Data) -> str:
    """Wall seconds per step of each loop round, from the manifest (what ``al-ray status`` shows):
    every finished loop cell of the files, per task and seed, and the load it ran under."""
    steps = ("score", "evaluate", "select", "finetune")
    rows = []
    for data in files:
        for c in data["cells"]:
            if c["arm"] != "a_loop" or c["status"] != "done" or not all("step_seconds" in r for r in c["rounds"]):
                continue
            load = f"{c['loadavg_start'][0]:.1f} → {c['loadavg_end'][0]:.1f}"
            for r in c["rounds"]:
                st = r["step_seconds"]
                other = sum(v for k, v in st.items() if k not in steps)
                rows.append(_row(c["task"], c["seed"], r["round"], *((f"{st[k]:,.1f}" if k == "evaluate" else f"{st[k]:,.0f}")
                                                                   if k in st else "" for k in steps),
                                 f"{other:,.1f}", f"{sum(st.values()):,.0f}", load))
    return _table(["task", "seed", "round", "score s", "evaluate s", "select s", "finetune s", "other s",
                   "total s", "the cell's load (1 min, start → end)"], rows)


# --- section 1b: the contrastive recipe (results/recipe_ablation.json) -------------------------------

def recipe_contrastive_table(data: Data) -> str:
    """Finding 4 of 1b: the contrastive recipe beside ``steps`` and the floor on the same labels
    (data set, seed and budget), wherever the contrastive recipe was run."""
    kappa = {(c["dataset"], c["seed"], c["recipe"], c["budget"]): c["kappa"]
             for c in data["cells"] if c["status"] == "done"}
    runs = [(d, s, b) for d, s, r, b in kappa if r == "contrastive"]
    budgets = sorted({b for *_, b in runs})
    recipes = ("contrastive", "steps", "floor")
    rows = [_row(d, s, *(" / ".join(_kappa(kappa.get((d, s, r, b))) for r in recipes) for b in budgets))
            for d, s in dict.fromkeys((d, s) for d, s, _ in runs)]
    return _table(["data set", "seed", *(f"{b} labels: {' / '.join(recipes)}" for b in budgets)], rows)


def demo_table(data: Data) -> str:
    """`make demo` per scoring backend (benchmarks/bench_demo.py): wall time, seconds per step summed
    over rounds, the holdout kappa after each round, and the load that shared the machine."""
    rows = []
    for r in data["runs"]:
        st = r["step_seconds"]
        kappas = " → ".join(_kappa(p["holdout_kappa"]) for p in r["kappa"])
        load = f"{r['load_avg_at_start'][0]:.1f} → {r['load_avg_at_end'][0]:.1f}"
        rows.append(_row(r["variant"], r["exit_code"], f"{r['wall_seconds']:,.0f}", *(
            f"{st[k]:,.0f}" if k in st else "" for k in ("score", "select", "finetune")),
            kappas, "yes" if r["story_holds"] else "no", load))
    return _table(["scoring backend", "exit", "wall s", "score s", "select s", "finetune s",
                   "holdout kappa per round", "story holds", "load (1 min, start → end)"], rows)


def pooling_probe_table(data: Data) -> str:
    """Section 1's pooling probe (benchmarks/bench_pooling_probe.py): zero-shot kappa and the frozen
    features' logistic regression at each number of random expert labels, mean ± std over the seeds."""
    names = {"cls": "[CLS] + BERT pooler", "mean": "mean of tokens"}
    budgets = data["budgets"]
    rows = []
    for pooling in names:
        cells = [c for c in data["cells"] if c["pooling"] == pooling]
        if not cells:
            continue
        by_n = {n: [p["kappa"] for c in cells for p in c["points"] if p["labels_used"] == n] for n in budgets}
        rows.append(_row(names[pooling], _mean_sd([c["zero_shot_kappa"] for c in cells]),
                         *(_mean_sd(by_n[n]) for n in budgets)))
    return _table(["features", "zero-shot kappa", *(f"{n} random labels" for n in budgets)], rows)


def run_all_table(data: Data) -> str:
    """`make bench` (benchmarks/run_all.py): each script's status, wall time and what it wrote."""
    rows = [_row(s["name"], s["status"], f"{s['seconds']:,.0f} s", s["note"]) for s in data["scripts"]]
    rows.append(_row("**total**", "", f"**{data['total_seconds']:,.0f} s**", ""))
    return _table(["script", "status", "time", "result files"], rows)


# --- section 2: scoring throughput (results/scoring_full.json, as bench_scoring.py writes it) --------

SCORING_MODES = {"generative": "generative, tiny Llama (`LLM.generate`, 1 token, label logprobs)",
                 "classifier": "classifier, zero-shot MiniLM (`LLM.classify`)"}


def _timed(r: Data) -> str:
    return f"{r['seconds']:.1f} s ({r['rows_per_s']:,.0f} rows/s)"


def _bare(r: Data) -> str:
    """A bare vLLM run: in-process (from before ``import vllm`` to the engine's shutdown), then launch
    to exit. Files from before bench_scoring split the two lack ``wall_seconds_launch_to_exit`` and
    hold the launch-to-exit time under ``seconds``: they fail here instead of passing it off as the
    in-process figure."""
    return f"{_timed(r)}; {r['wall_seconds_launch_to_exit']:.1f} s launch to exit"


def scoring_table(data: Data) -> str:
    """Section 2: the scoring job against bare vLLM in both process layouts, per mode."""
    rows = [_row(label, _bare(data[m]["bare_separate"]), _bare(data[m]["bare_inline"]),
                 _timed(data[m]["scoring_job"]), f"**{data[m]['ratio_job_over_best_bare']:.3f}**")
            for m, label in SCORING_MODES.items()]
    return _table(["mode, model", "bare vLLM, default layout", "bare vLLM, inline", "al_ray scoring job",
                   "job / best bare"], rows)


def scoring_more_table(data: Data) -> str:
    """Section 2's other figures from the same file: speed after start-up and the start-up itself,
    Ray Data's LLM processor, the transformers backend's batching, and the actor's memory."""
    rows = []
    for m, label in SCORING_MODES.items():
        job, inline, sep = data[m]["scoring_job"], data[m]["bare_inline"], data[m]["bare_separate"]
        rows.append(_row(f"{m}: rows/s after start-up, job / bare inline / bare default layout",
                         f"{job['steady_rows_per_s']:,.0f} / {inline['steady_rows_per_s']:,.0f} / "
                         f"{sep['steady_rows_per_s']:,.0f}"))
        rows.append(_row(f"{m}: start-up s, job (actor ready) / bare inline / bare default layout",
                         f"{job['startup_s']:.1f} / {inline['startup_s']:.1f} / {sep['startup_s']:.1f}"))
        rows.append(_row(f"{m}: job / bare vLLM's default layout, end to end",
                         f"{data[m]['ratio_job_over_bare_default']:.2f}×"))
    rd = data["ray_data_llm"]
    rows.append(_row("Ray Data's LLM processor (generative, same rows and model)",
                     f"{rd['seconds']:.1f} s ({rd['rows_per_s']:,.0f} rows/s); the job is "
                     f"{data['ratio_job_over_ray_data']:.2f}× faster"))
    tf = data["transformers_batching"]
    rows.append(_row(f"transformers backend, MiniLM classifier, {tf['fixed']['rows']:,} texts: token-budget / fixed "
                     "batches", f"{tf['token_budget']['rows_per_s']:,.1f} / {tf['fixed']['rows_per_s']:,.1f} rows/s "
                     f"({tf['speedup']:.2f}×)"))
    mem = data["memory"]
    rows.append(_row(f"actor peak RSS, shard of {mem['1x']['rows']:,} / {mem['10x']['rows']:,} rows",
                     f"{mem['1x']['peak_rss_mb']:,.0f} / {mem['10x']['peak_rss_mb']:,.0f} MiB "
                     f"({mem['ratio_10x_over_1x']:.2f}× for 10× the rows)"))
    return _table(["figure", "value"], rows)


# --- section 3: 1 vs 2 scoring actors (results/actors.json) ------------------------------------------

def _actor_processes(run: Data) -> str:
    """Each scoring actor process's thread count and allowed CPUs, as /proc gave them during the run."""
    status = (p["status"] for p in run["engine_processes"])
    found = [re.search(r"Threads:\s*(\d+); Cpus_allowed_list:\s*(\S+)", s) for s in status]
    return "; ".join(f"{m[1]} threads, CPUs {m[2]}" if m else "?" for m in found)


def actors_table(data: Data) -> str:
    """Section 3: end-to-end and after-start-up rows/s per number of actors and OpenMP binding."""
    rows = [_row(r["workers"], _actor_processes(r), r["omp_bind"], f"{r['seconds']:.1f} s",
                 f"{r['rows_per_s']:.0f}", f"{r['rows_per_s_after_startup_est']:.0f}") for r in data["runs"]]
    return _table(["workers", "each actor process (/proc)", "vLLM OpenMP binding", "end to end", "rows/s",
                   "rows/s after start-up (est.)"], rows)


# --- section 4: selection at scale (results/selection.json) ------------------------------------------

STAGES = {"dedup_exact_near": "exact + near dedup (MinHash LSH)",
          "kmeans_sklearn": "MiniBatchKMeans (k = {k})", "dedup_semantic": "semantic dedup",
          "boundary_pairs": "boundary pairs ({pairs} pairs)", "cluster_margin": "Cluster-Margin"}


def _count(n: int) -> str:
    """A row count as the section writes it: a power of ten as 1e8, anything else in full."""
    return f"1e{round(math.log10(n))}" if n > 0 and math.log10(n).is_integer() else f"{n:,}"


def selection_extract_table(data: Data) -> str:
    """Section 4: extracting the candidate pool, per number of score rows."""
    rows = [_row(_count(e["rows"]), f"{e['seconds']:.2f} s", f"{e['rows_per_s'] / 1e6:.1f} M",
                 f"{e['peak_rss_mib']:.0f} MiB") for e in data["extract"]]
    return _table(["score rows", "time", "rows/s", "peak RSS"], rows)


def _stage_seconds(s: float) -> str:
    return "< 0.01 s" if s < 0.005 else f"{s:.2f} s"


def selection_stages_table(data: Data) -> str:
    """Section 4: each selection stage's time, one column per thread setting. ``generate`` (making
    the synthetic candidates) is left out, as the file's total leaves it out."""
    runs = data["select"]
    threads = ["library default threads" if r["threads"] is None else f"`selection.threads: {r['threads']}`"
               for r in runs]
    params = {k: " / ".join(dict.fromkeys(str(r[k]) for r in runs)) for k in ("k", "pairs")}
    rows = [_row(STAGES.get(s, s).format(**params), *(_stage_seconds(r["seconds"][s]) for r in runs))
            for s in runs[0]["seconds"] if s != "generate"]
    rows.append(_row("**total**", *(f"**{r['total_seconds_excl_generate']:.1f} s** "
                                    f"(peak RSS {r['peak_rss_mib']:,.0f} MiB)" for r in runs)))
    return _table(["stage", *threads], rows)


# --- section 4b: fault injection (results/faults.json) -----------------------------------------------

FAULT_NOTES = (("job_seconds", "job {:.1f} s"), ("faults_injected", "faults injected: {}"),
               ("actor_restarts", "actor restarts: {}"), ("rerun_exit_code", "rerun exit code {}"),
               ("seconds_to_clear_error", "clear error after {} s"), ("failed_shards", "shards failed: {}"),
               ("rows_skipped_null_id", "rows skipped for a null id: {}"))


def _fault_notes(r: Data) -> str:
    """The figures a scenario records beyond the counts (each scenario records its own few)."""
    notes = [fmt.format(r[key]) for key, fmt in FAULT_NOTES if key in r]
    if "after_rerun" in r:
        a = r["after_rerun"]
        notes.append(f"rerun: {a['rows_out']} out, {a['lost']} lost, {a['duplicated']} duplicated")
    if not r["invariant_ok"]:
        notes.append("**invariant broken**")
    return "; ".join(notes)


def faults_table(data: Data) -> str:
    """Section 4b: rows in, out, quarantined, lost and duplicated per fault, and the time to recover.
    Rows in carries a * where unreadable files were counted as 0 (the note under the table)."""
    def rows_in(r: Data) -> str:
        return "–" if r["rows_in"] is None else f"{r['rows_in']}" + ("*" if "failed_shards" in r else "")

    def recover(r: Data) -> str:
        return "–" if r["seconds_to_recover"] is None else f"{r['seconds_to_recover']:.1f}"

    rows = [_row(r["scenario"], rows_in(r), r["rows_out"], r["quarantined"], r["lost"], r["duplicated"],
                 recover(r), _fault_notes(r)) for r in data["rows"]]
    return _table(["scenario", "rows in", "rows out", "quarantined", "lost", "duplicated",
                   "time to recover (s)", "also recorded"], rows)


# --- section 5b: the scoring driver (results/scoring_driver.json) ------------------------------------

def _task_memory(check: Data) -> tuple[str, str]:
    """(column header, cell) for the duplicate check's task memory as its report gave it: since
    2026-12-01 each task's private memory at its largest point (``task_peak_private_mb``); files from
    before hold the Ray worker's ru_maxrss (``task_peak_rss_mb``), object-store pages included."""
    if "task_peak_private_mb" in check:
        return ("largest duplicate-check task, private memory",
                f"{check['task_peak_private_mb']:,.0f} MiB (rise {check['task_private_rise_mb']:,.0f} MiB)")
    return "largest duplicate-check task RSS", f"{check['task_peak_rss_mb']:,.0f} MiB"


def scoring_driver_table(data: Data) -> str:
    """Section 5b: the driver's steps at each number of shards, its peak RSS and the largest
    duplicate-check task's."""
    rows, task_header = [], set()
    for n, size in data["sizes"].items():
        done, half = size["all_done"], size["half_done"]
        header, task = _task_memory(done["resume"]["duplicate_check"])
        task_header.add(header)
        changed = size.get("changed", {}).get("resume_changed")  # runs before 2026-12-08: no incremental check
        rows.append(_row(f"{int(n):,}", f"{done['plan']['seconds']:.2f} s",
                         f"{done['resume']['seconds']:.1f} s", f"{done['resume_again']['seconds']:.1f} s",
                         (f"{changed['seconds']:.1f} s ({changed['duplicate_check']['from_sidecars']:,} sidecar(s) read, "
                          f"{changed['duplicate_check']['shards_from_saved']:,} shards from "
                          f"{changed['duplicate_check']['partitions']} saved partition(s))") if changed else "not run",
                         f"{half['plan']['seconds']:.2f} s",
                         f"{data['verdict']['peak_rss_bytes'][n] / 2**20:.0f} MiB", task))
    return _table(["shards", "plan, all done", "resume: `run_scoring`, all done (incl. duplicate check)",
                   "resume again (report reused)", "resume after one shard rescored (incremental check)",
                   "plan, half done", "driver peak RSS",
                   " / ".join(sorted(task_header))], rows)


# --- section 5d: the duplicate check at 1e8 ids (results/duplicate_check*.json) ----------------------

def _load(start: Sequence[float], end: Sequence[float]) -> str:
    """The 1-minute load average at the start and the end of a step."""
    return f"{start[0]:.1f} -> {end[0]:.1f}"


def duplicate_check_table(data: Data) -> str:
    """Section 5d: the check over N sidecars with D planted duplicates: what it found against what was
    planted, its tasks, times (the setup apart), the driver's peak RSS, and each task's memory twice:
    as the bench sampled it (RssAnon every 5 ms: the peak, and the rise over a task) and as the check's
    report gave it."""
    size = data["size"]
    ids = f"{_count(size['ids'])} ({size['shards']:,} x {size['rows_per_shard']:,})"
    rows = [_dup_check_row(ids, data["check"], data["verdict"], f"{data['setup']['seconds']:.1f} s",
                           f"{data['driver_peak_rss_mib']:,.0f} MiB")]
    inc = data.get("incremental")  # since 2026-12-08: the check again after one shard was rescored
    if inc:
        r = inc["report"]
        rows.append(_dup_check_row(
            f"the same, one shard rescored: incremental ({r['from_sidecars']:,} sidecar read, "
            f"{r['shards_from_saved']:,} shards from saved partitions)", inc, inc["verdict"],
            f"{inc['change_seconds']:.2f} s (the rescore)", f"{inc['driver_peak_rss_mib_during_check']:,.0f} MiB "
            "(during the check)"))
    return _table(["ids (shards x ids a shard)", "planted (within / across shards)", "found",
                   "missed / spurious / wrong shards", "exact", "map + reduce tasks", "listing", "check",
                   "setup (apart)", "driver peak RSS", "task private memory, sampled: peak / rise",
                   "task memory in the check's report", "load (1 min)"], rows)


def _dup_check_row(ids: str, check: Data, v: Data, setup: str, driver: str) -> str:
    report, tasks = check["report"], check["tasks"]
    sampled = "; ".join(f"{k} {tasks[k]['peak_private_mb_max']:,.0f} / {tasks[k]['private_rise_mb_max']:,.0f} MiB"
                        for k in ("map", "reduce"))
    if "task_peak_private_mb" in report:
        reported = f"{report['task_peak_private_mb']:,.0f} MiB private (rise {report['task_private_rise_mb']:,.0f} MiB)"
    else:
        reported = f"{report['task_peak_rss_mb']:,.0f} MiB (a worker's ru_maxrss)"
    return _row(ids, f"{v['planted']} ({v['planted_within_shard']} / {v['planted_across_shards']})",
                f"{v['found_count']} ids, {v['found_extra_rows']} extra rows",
                f"{len(v['missed'])} / {len(v['spurious'])} / {len(v['wrong_shards_or_occurrences'])}",
                "**yes**" if v["exact"] else "**no**", f"{report['map_tasks']} + {report['partitions']}",
                f"{check['listing_seconds']:.2f} s", f"{check['check_seconds']:.1f} s", setup, driver, sampled,
                reported, _load(check["load_avg_at_start"], check["load_avg_at_end"]))


# --- section 5d: the driver on S3 (results/scoring_driver_s3*.json) ---------------------------------

S3_PHASES = {"plan": "plan (`plan_scoring`), all done", "resume": "resume (`run_scoring`), all done",
             "resume_again": "resume again (report reused)",
             "resume_changed": "resume after one shard rescored (incremental check)",
             "resume_one_request_reads": "resume, one-request reads", "plan_half": "plan, half done"}


def _check_cell(phase: Data) -> str:
    if "duplicate_check" not in phase:
        return "–"
    d = phase["duplicate_check"]
    tasks = f"{d['map_tasks']} map task" + ("s" if d["map_tasks"] != 1 else "")
    if d["reused"]:
        return "reused"
    saved = f", {d['shards_from_saved']:,} shards from saved partitions" if d.get("shards_from_saved") else ""
    read = f"{d['from_sidecars']:,} sidecar" + ("s" if d["from_sidecars"] != 1 else "")
    return f"{read} read ({tasks}){saved}"


def scoring_driver_s3_table(data: Data) -> str:
    """Section 5d: each phase of the driver on moto S3 through the counting proxy: its time (against the
    60 s goal), peak RSS, S3 requests by kind and per shard, and what the duplicate check did."""
    goal, rows = data["verdict"]["seconds_within_goal"], []
    for name, ph in data["phases"].items():
        kinds, req = ph["requests"]["by_kind"], ph["requests"]
        label = S3_PHASES.get(name, name)
        if "extra_storage_options" in ph:
            label += " (" + ", ".join(f"`{k}: {v}`" for k, v in ph["extra_storage_options"].items()) + ")"
        rows.append(_row(label, f"{ph['seconds']:.1f} s", "yes" if goal[name] else "**no**",
                         f"{max(ph['peak_rss_bytes'], ph['vmhwm_bytes']) / 2**20:.0f} MiB",
                         *(f"{kinds.get(k, 0):,}" for k in ("list", "get", "head", "put")),
                         f"{req['total']:,}", f"{req['per_shard']:.4g}", _check_cell(ph),
                         _load(ph["load_avg_at_start"], ph["load_avg_at_end"])))
    return _table(["phase", "time", f"≤ {data['goals']['seconds']:g} s", "peak RSS", "LIST", "GET", "HEAD", "PUT",
                   "requests", "a shard", "duplicate check", "load (1 min)"], rows)


# --- section 6: the transformers backend on a GPU (results/transformers_gpu*.json) -------------------

def _variant(v: Data) -> str:
    pad = f"{v['padded_token_share'] * 100:.0f} % pad"
    return f"{v['texts_per_s']:,.1f} texts/s ({pad}, {v['forward_passes']} passes)"


def gpu_table(data: Data) -> str:
    """Section 6: each batching variant's speed, share of the GPU's nominal peak, padding, passes and
    memory; then DESIGN.md's reference figures as the file records them."""
    rows = [_row(v["describe"], f"{v['texts_per_s']:,.1f}", f"{v['share_of_nominal_peak'] * 100:.1f} %",
                 f"{v['padded_token_share'] * 100:.0f} %", v["forward_passes"],
                 f"{v['peak_gpu_mem_gib']:.1f} GiB") for v in data["variants"]]
    rows += [_row(f"DESIGN.md reference: {name}", f"{x:,}", "", "", "", "")
             for name, x in data["design_md_reference_texts_per_s"].items()]
    return _table(["variant", "texts/s", f"share of {data['nominal_peak_tflops']:g} TFLOP/s", "padded tokens",
                   "forward passes", "peak GPU memory"], rows)


def gpu_planner_table(*files: Data) -> str:
    """Section 6: the same variants under each batch planner tried on the GPU, one result file per
    planner (its ``planner`` says which), in the order results_md lists the files."""
    by_name = [{v["variant"]: v for v in f["variants"]} for f in files]
    rows = [_row(v["describe"], *(_variant(b[name]) if name in b else "not measured" for b in by_name))
            for name, v in by_name[0].items()]
    return _table(["variant", *(f["planner"] for f in files)], rows)


# --- section 7: al-ray plan (results/plan-1e9-*.json) ------------------------------------------------

def plan_table(data: Data) -> str:
    """Section 7: what ``al-ray plan`` wrote, and which of its inputs were measured or assumed."""
    inputs = data["inputs"]

    def listed(names: Sequence[str]) -> str:
        return ", ".join(f"{n} = {inputs[n]['value']:g}" for n in names)

    rows = [_row(f"engines for ≤ {inputs['target_wall_s']['value'] / 3600:g} h", data["engines"]),
            _row("GPUs", data["gpus"]),
            _row("wall time", f"{data['wall_s']:,.0f} s ({data['wall_h']:.1f} h)"),
            _row("GPU-hours", f"{data['gpu_hours']:.1f}"),
            _row(f"cost at {inputs['price_per_gpu_hour']['value']:g} / GPU-hour", f"{data['cost']:.1f}"),
            _row("measured", listed(data["measured"])),
            _row("assumed, not measured", listed(data["assumed"]))]
    return _table(["result", "value"], rows)
