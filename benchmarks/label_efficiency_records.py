"""The label-efficiency benchmark's records: what a result file holds and how it is summed up,
merged, checked against issue 13's invariants, plotted and printed (RESULTS.md's tables, through
benchmarks/results_md.py). Split from bench_label_efficiency.py, which prepares the data, trains and
runs the arms; nothing here trains a model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

TASKS = ("violating", "hate")
ARMS = ("zero_shot", "b_random", "e_floor", "a_loop", "c_crowd", "d_expert")
# --dataset DIR registers prepared data sets here (name -> folder), beside the Davidson tasks
PREPARED: dict[str, Path] = {}

# DESIGN.md, "A simple baseline the loop must beat": frozen MiniLM embeddings + logistic regression,
# 3 seeds, mean kappa. Context only (a different, weaker recipe): plotted as grey reference marks.
FROZEN_BASELINES = {
    "violating": {"crowd_vs_expert": 0.86, "c_crowd": 0.67, "d_expert": 0.71, "b_random_500": 0.65,
                  "a_margin_kmeans_500": 0.71},
    "hate": {"crowd_vs_expert": 0.54, "c_crowd": 0.19, "d_expert": 0.26, "b_random_500": 0.28,
             "a_margin_kmeans_500": 0.32},
}


def all_tasks() -> tuple[str, ...]:
    return TASKS + tuple(PREPARED)


def hardware_summary(machine: dict[str, Any]) -> str:
    """One line for a cell: where its training ran (train_round picks CUDA when one is visible)."""
    cpu = machine.get("cpu_model") or next(  # older files kept lscpu's lines instead
        (ln.split(":", 1)[1].strip() for ln in machine.get("lscpu", []) if ln.startswith("Model name")), "?")
    gpu = machine.get("gpu") or "none (CPU only)"
    where = "CPU" if gpu.startswith("none") else f"GPU {gpu}"
    return f"training on {where}; evaluation on CPU ({machine.get('nproc')} x {cpu})"


def merge_result_files(data: dict[str, Any], files: Sequence[Path], mode: str) -> None:
    """Import cells measured elsewhere (say, arms (c)/(d) on a GPU machine) into ``data``.

    A cell that ``data`` already has done is kept; the imported one goes to ``replicates`` so the
    two can be compared (same seed, other hardware) without counting a seed twice.
    """
    for f in files:
        src = json.loads(Path(f).read_text())
        if src.get("settings", {}).get("mode") != mode:
            raise ValueError(f"{f}: mode {src.get('settings', {}).get('mode')!r}, expected {mode!r}")
        hw = hardware_summary(src.get("machine", {}))
        have = {_key(c) for c in data["cells"] if c.get("status") == "done"}
        seen = {(_key(c), c.get("started_at")) for c in data["cells"] + data.get("replicates", [])}
        for c in src.get("cells", []):
            c = {**c, "hardware": c.get("hardware") or hw, "merged_from": Path(f).name}
            if (_key(c), c.get("started_at")) in seen:  # already imported
                continue
            if _key(c) not in have:
                data["cells"].append(c)
            else:
                data.setdefault("replicates", []).append(c)
        known = {(r.get("command"), r.get("started_at")) for r in data.setdefault("runs", [])}
        data["runs"] += [{**r, "merged_from": Path(f).name} for r in src.get("runs", [])
                         if (r.get("command"), r.get("started_at")) not in known]


def summarise(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Per task and arm: mean, std (ddof=1 when >= 2 seeds) and the seeds measured."""
    out: dict[str, Any] = {}
    for task in all_tasks():
        for arm in ARMS:
            ks = [(c["seed"], c["kappa"]) for c in cells
                  if c["task"] == task and c["arm"] == arm and c.get("status") == "done" and c.get("kappa") is not None]
            if not ks:
                continue
            vals = np.array([k for _, k in ks])
            out.setdefault(task, {})[arm] = {
                "mean": round(float(vals.mean()), 6),  # 6 places: the tables print 3 without double rounding
                "std": round(float(vals.std(ddof=1)), 6) if len(vals) > 1 else None,
                "min": round(float(vals.min()), 4), "max": round(float(vals.max()), 4),
                "n_seeds": len(vals), "seeds": [s for s, _ in ks],
            }
    return out


def _point(cell: dict[str, Any] | None, n: int) -> float | None:
    for p in (cell or {}).get("points", []):
        if p.get("labels_used") == n and p.get("kappa") is not None:
            return p["kappa"]
    return None


def invariants(cells: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 13's invariants, per task, seed and budget: the loop (a) is never below the floor (e) nor
    random selection with the same recipe (b) at the same number of labels (every budget both arms
    were measured at: (b)'s 100/300/500 in full mode, the floor's every round). A check whose arms
    were not both measured at that budget is left out (never counted as passed)."""
    out = []
    by = {(c["task"], c["seed"], c["arm"]): c for c in cells if c.get("status") == "done"}
    for (task, seed, arm), loop in sorted(by.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        if arm != "a_loop":
            continue
        for other in ("e_floor", "b_random"):
            for n in sorted({p["labels_used"] for p in by.get((task, seed, other), {}).get("points", [])}):
                k_loop, k_other = _point(loop, n), _point(by.get((task, seed, other)), n)
                if n > 0 and k_loop is not None and k_other is not None:
                    out.append({"task": task, "seed": seed, "labels": n, "loop": k_loop, "against": other,
                                "other": k_other, "holds": bool(k_loop >= k_other)})
    return out


def _key(c: dict[str, Any]) -> tuple:
    return (c.get("task"), c.get("seed"), c.get("arm"))


def merge_cells(mine: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Union by (task, seed, arm); for a key in both, done beats partial beats failed, then the later finish."""
    rank = {"done": 2, "partial": 1}
    best: dict[tuple, dict[str, Any]] = {}
    for c in list(theirs) + list(mine):
        k = _key(c)
        old = best.get(k)
        if old is None or (rank.get(c.get("status"), 0), c.get("finished_at") or "") >= \
                (rank.get(old.get("status"), 0), old.get("finished_at") or ""):
            best[k] = c
    return sorted(best.values(), key=lambda c: (all_tasks().index(c["task"]) if c["task"] in all_tasks() else 9, c["seed"],
                                                 ARMS.index(c["arm"]) if c["arm"] in ARMS else 9))


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str))
    tmp.replace(path)


def plot(data: dict[str, Any], path: Path) -> Path | None:
    """Kappa against labels used: (a) per round, (b) per budget, (c)/(d) horizontal lines, frozen baselines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = [c for c in data.get("cells", []) if c.get("status") == "done"
             or (c.get("status") == "partial" and c.get("arm") == "a_loop")]
    tasks = list(dict.fromkeys(c["task"] for c in cells))
    if not tasks:
        return None
    fig, axes = plt.subplots(1, len(tasks), figsize=(6.5 * len(tasks), 6.6), squeeze=False)
    budget = data["settings"]["rounds"] * data["settings"]["batch_size"]
    xmax = max(budget, max(data["settings"]["b_sizes"])) * 1.08
    for ax, task in zip(axes[0], tasks):
        tc = [c for c in cells if c["task"] == task]
        seeds = sorted({c["seed"] for c in tc})
        # (a) per seed, then the mean over seeds per labels_used
        loop = [c for c in tc if c["arm"] == "a_loop"]
        by_x: dict[int, list[float]] = {}
        for c in loop:
            xs = [p["labels_used"] for p in c["points"] if p.get("kappa") is not None]
            ys = [p["kappa"] for p in c["points"] if p.get("kappa") is not None]
            ax.plot(xs, ys, color="tab:blue", alpha=0.25, lw=1)
            for x, y in zip(xs, ys):
                by_x.setdefault(x, []).append(y)
        if by_x:
            xs = sorted(by_x)
            m = np.array([np.mean(by_x[x]) for x in xs])
            s = np.array([np.std(by_x[x]) for x in xs])
            n_part = sum(c.get("status") == "partial" for c in loop)
            ax.plot(xs, m, "o-", color="tab:blue", lw=2,
                    label=f"(a) loop (n={len(loop)} seeds"
                          + (f", {n_part} unfinished" if n_part else "") + ")")
            ax.fill_between(xs, m - s, m + s, color="tab:blue", alpha=0.15)
        # (b) per budget
        rb = [c for c in tc if c["arm"] == "b_random"]
        by_n: dict[int, list[float]] = {}
        for c in rb:
            for p in c["points"]:
                if p.get("kappa") is not None:
                    by_n.setdefault(p["labels_used"], []).append(p["kappa"])
        if by_n:
            xs = sorted(by_n)
            m = np.array([np.mean(by_n[x]) for x in xs])
            s = np.array([np.std(by_n[x]) for x in xs])
            ax.errorbar(xs, m, yerr=s, fmt="s--", color="tab:orange", capsize=3,
                        label=f"(b) random expert labels (n={len(rb)} seeds)")
        by_f: dict[int, list[float]] = {}
        for c in (c for c in tc if c["arm"] == "e_floor"):
            for p in c["points"]:
                if p.get("kappa") is not None:
                    by_f.setdefault(p["labels_used"], []).append(p["kappa"])
        if by_f:
            xs = sorted(by_f)
            ax.plot(xs, [np.mean(by_f[x]) for x in xs], "^:", color="tab:purple",
                    label="(e) frozen-embedding floor, same random labels")
        zs = [c["kappa"] for c in tc if c["arm"] == "zero_shot" and c.get("kappa") is not None]
        if zs and not by_x:
            ax.plot([0], [np.mean(zs)], "o", color="tab:gray", label="zero-shot (no labels)")
        for arm, color, name in (("c_crowd", "tab:red", "(c) all train items, 1 crowd vote"),
                                 ("d_expert", "tab:green", "(d) all train items, expert label")):
            ks = [c["kappa"] for c in tc if c["arm"] == arm and c.get("kappa") is not None]
            if ks:
                n_items = [c["n_labels"] for c in tc if c["arm"] == arm][0]
                ax.axhline(np.mean(ks), color=color, lw=2,
                           label=f"{name} ({n_items:,} labels, {len(ks)} seeds)")
                if len(ks) > 1:
                    ax.axhspan(np.mean(ks) - np.std(ks), np.mean(ks) + np.std(ks), color=color, alpha=0.1)
        fb = FROZEN_BASELINES.get(task)
        ax.set_xlabel("expert labels used (items)")
        ax.set_ylabel("Cohen's kappa vs experts (test split)")
        ax.grid(alpha=0.3)
        if fb is None:  # a prepared data set: no DESIGN.md reference lines
            ax.set_xlim(-10, xmax)
            ax.set_title(f"{task} ({data['mode']}; seeds {','.join(map(str, seeds))})")
            ax.legend(fontsize=7)
            continue
        ax.axhline(fb["crowd_vs_expert"], color="black", ls=":", lw=1,
                   label=f"one crowd vote vs experts (DESIGN.md) {fb['crowd_vs_expert']}")
        ax.axhline(fb["c_crowd"], color="tab:red", ls=":", lw=1, alpha=0.7,
                   label=f"frozen-embedding LR: all crowd {fb['c_crowd']}")
        ax.axhline(fb["d_expert"], color="tab:green", ls=":", lw=1, alpha=0.7,
                   label=f"frozen-embedding LR: all expert {fb['d_expert']}")
        ax.plot([500], [fb["b_random_500"]], "x", color="tab:orange", ms=9, label="frozen LR: 500 random")
        ax.plot([500], [fb["a_margin_kmeans_500"]], "+", color="tab:blue", ms=11, label="frozen LR: 500 margin+k-means")
        ax.set_xlim(-10, max(xmax, 530))
        ax.set_title(f"Davidson: {task} ({data['mode']}; seeds {','.join(map(str, seeds))})")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def markdown_table(data: dict[str, Any]) -> str:
    """The summary as a Markdown table (pasted into RESULTS.md)."""
    s = data.get("summary", {})
    names = {"zero_shot": "zero-shot (0 labels)", "a_loop": "(a) loop", "b_random": "(b) random expert",
             "c_crowd": "(c) all crowd", "d_expert": "(d) all expert", "e_floor": "(e) frozen-embedding floor"}
    lines = ["| task | arm | labels | kappa mean | std | seeds | per seed |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for task in list(dict.fromkeys([*all_tasks(), *(c["task"] for c in data.get("cells", []))])):
        for arm in ARMS:
            v = s.get(task, {}).get(arm)
            if not v:
                continue
            cs = [c for c in data["cells"] if c["task"] == task and c["arm"] == arm and c.get("status") == "done"]
            per = ", ".join(f"s{c['seed']}: {c['kappa']:.3f}" for c in cs if c.get("kappa") is not None)
            n = cs[0].get("n_labels") if cs else ""
            std = "" if v["std"] is None else f"{v['std']:.3f}"
            lines.append(f"| {task} | {names[arm]} | {n} | {v['mean']:.3f} | {std} | {v['n_seeds']} | {per} |")
    for c in data.get("cells", []):
        if c.get("status") == "partial":
            pts = ", ".join(f"{p['labels_used']}: {p['kappa']:.3f}" for p in c["points"] if p.get("kappa") is not None)
            lines.append(f"| {c['task']} | (a) loop, UNFINISHED (seed {c['seed']}) | {c['n_labels']} | "
                         f"{c['kappa']:.3f} | | | per round (labels: kappa) {pts} |")
    checks = data.get("invariants") or []
    if checks:
        lines += ["", "| task | seed | labels | loop | against | its kappa | holds |", "| --- | --- | --- | --- | --- | --- | --- |"]
        lines += [f"| {c['task']} | {c['seed']} | {c['labels']} | {c['loop']:.3f} | {c['against']} | "
                  f"{c['other']:.3f} | {'yes' if c['holds'] else '**no**'} |" for c in checks]
    return "\n".join(lines)
