"""The few-labels ablation: which fine-tune recipe learns from 30 labels and keeps improving?

Every cell trains one recipe on the same seeded random subset of expert labels (the
label-efficiency benchmark's arm (b): 3 simulated experts, each giving the majority vote flipped
with probability 0.05, majority wins) and measures Cohen's kappa against the experts on the
data set's seeded test split. The subsets are nested (the 30 labels are the first 30 of the 150),
so a recipe's curve is not confounded by which items were drawn.

Recipes (all: ``al_ray.finetune.train.train_round`` in classifier mode on the zero-shot MiniLM
classifier, LoRA r=8 on query/value plus the head, lr 5e-4, batch 16, max 128 tokens, class
weighting 'balanced'; they differ only in the fields named):

  floor       no fine-tune: class-balanced logistic regression on the frozen features the head
              reads (mean-pooled MiniLM), standardised, C=1. The floor the issue asks every arm to beat.
  epochs      the old default: 5 epochs, head kept from the zero-shot checkpoint (min_steps 0, head_init keep)
  steps       a step budget: at least 150 optimiser steps (min_steps 150), head kept
  warm        head warm start (head_init logistic), 5 epochs (min_steps 0)
  warm_steps  head warm start + at least 150 steps
  warm_c001_steps  the same with the warm start fitted at C=0.01 (a less confident head)
  contrastive SetFit's recipe (finetune.recipe 'contrastive'): LoRA steps on sentence-transformers'
              cosine-similarity loss over 20 positive + 20 negative pairs per label (150 to 300 steps),
              then the logistic head (C=1) on the tuned embeddings; no cross-entropy steps
  select      finetune.recipe_candidates [lora, floor]: today's LoRA recipe (12 epochs, >= 150 steps) or
              the floor, whichever has the higher kappa on a stratified 25% holdout; the winner retrains on all

The new defaults (``FinetuneConfig``: min_steps 150, head_init keep) are the ``steps`` recipe: the
warm start measured worse (RESULTS.md section 1b).

Data sets (read in place from ../shared/datasets, never copied):
  violating, hate   the Davidson tweets, prepared exactly as the label-efficiency benchmark does
  spam              the SMS Spam Collection through ``al_ray.data.importer.import_labelled``
  any prepared DIR  ``--dataset DIR`` (what ``al-ray data import`` writes: DIR/corpus, DIR/gold)

Usage::

    .venv/bin/python -m benchmarks.bench_recipe                     # 3 data sets x 3 seeds x 30/150/500 labels
    .venv/bin/python -m benchmarks.bench_recipe --datasets spam --seeds 0 --budgets 30 --recipes floor,warm_steps
    .venv/bin/python -m benchmarks.bench_recipe --dataset path/to/prepared --budgets 30,90,150

The JSON (``results/recipe_ablation.json``) is rewritten after every cell; ``--resume`` keeps
finished cells. RESULTS.md's table is printed at the end (``--table`` prints it without running).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

from benchmarks import bench_label_efficiency as le
from benchmarks.bench_label_efficiency import (
    DEFAULT_CSV,
    FULL,
    FrozenFeatures,
    Split,
    build_base,
    floor_kappa,
    kappa_against,
    loadavg,
    machine_info,
    predict,
    prepare_split,
    random_labels,
    split_from_prepared,
)
from benchmarks.common import log, now_utc

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
WORK = HERE / "_work" / "recipe"
SHARED = HERE.parent.parent / "shared" / "datasets"
DEFAULT_SMS = Path(os.environ.get("AL_RAY_SMS_TSV") or SHARED / "sms-spam" / "SMSSpamCollection.tsv")

RECIPES: dict[str, dict[str, Any] | None] = {
    "floor": None,
    "epochs": {"min_steps": 0, "head_init": "keep"},
    "steps": {"min_steps": 150, "head_init": "keep"},
    "warm": {"min_steps": 0, "head_init": "logistic"},
    "warm_steps": {"min_steps": 150, "head_init": "logistic"},
    # the warm start's direction without its overconfidence: strong L2 keeps training margins small,
    # so the fine-tune still has a gradient to follow
    "warm_c001_steps": {"min_steps": 150, "head_init": "logistic", "head_init_c": 0.01},
    # SetFit's two stages on the LoRA model: cosine loss over pairs (20 per example, 150..300 steps),
    # then the logistic head on the tuned embeddings (al_ray.finetune.contrastive)
    "contrastive": {"recipe": "contrastive", "min_steps": 150},
    # a larger step budget: does training longer help where 150 steps are already ~5 epochs (500 labels)?
    "steps400": {"min_steps": 400, "head_init": "keep"},
    # today's default LoRA recipe (12 epochs, >= 150 steps) or the floor, whichever scores higher on a
    # stratified 25% holdout of the labels (finetune.recipe_candidates); the winner retrains on all
    "select": {"min_steps": 150, "head_init": "keep", "epochs": 12, "recipe_candidates": ["lora", "floor"]},
}
SPAM_TASK = {"name": "sms-spam", "labels": ["ham", "spam"], "positive_label": "spam",
             "label_descriptions": {"ham": "an ordinary personal text message between friends or family",
                                    "spam": "an unsolicited advertising or scam text message: prizes, offers, "
                                            "premium-rate numbers, calls to action"}}


def task_config(name: str, prepared: Path | None = None):
    """Spam's task is defined here (its file has no descriptions); every other one is the
    label-efficiency benchmark's (Davidson tasks, or a prepared set's dataset.json)."""
    from al_ray.task import TaskConfig

    if name == "spam":
        return TaskConfig(**SPAM_TASK)
    if prepared is not None:
        le.PREPARED[name] = prepared
    return le.task_config(name)


def load_split(name: str, seed: int, work: Path, prepared: Path | None, csv: Path, sms: Path) -> Split:
    task = task_config(name, prepared)
    if name in ("violating", "hate"):
        return prepare_split(csv, name, seed, work, FULL)
    if name == "spam":
        from al_ray.data.importer import import_labelled

        data = work / "data"
        if not (data / "gold" / "gold.parquet").exists():
            import_labelled(str(sms), str(data / "corpus"), labels=task.labels, text_column="SMS", id_column=None,
                            label_column="Label", positive_label="spam", test_fraction=FULL.test_fraction,
                            seed=seed, n_shards=1, gold_url=str(data / "gold"))
        return split_from_prepared(data, name, seed, task.labels)
    return split_from_prepared(prepared, name, seed, task.labels)  # type: ignore[arg-type]


def finetune_cell(split: Split, task, base: Path, ids, texts, labels, recipe: dict[str, Any], out: Path,
                  seed: int, threads: int) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from al_ray.finetune.config import FinetuneConfig
    from al_ray.finetune.train import train_round

    out.mkdir(parents=True, exist_ok=True)
    lab_file = out / "labels.parquet"
    pq.write_table(pa.table({"id": list(ids), "text": list(texts), "label": list(labels),
                             "round": [0] * len(ids)}), lab_file)
    cfg = FinetuneConfig(**{"epochs": 5, "batch_size": 16, "max_length": 128, "class_weighting": "balanced",
                            "seed": seed, "torch_threads": threads, "eval_train_loss": True, **recipe})
    digest = hashlib.sha256(json.dumps([list(ids), list(labels), cfg.model_dump(mode="json")]).encode()).hexdigest()[:12]
    t0 = time.perf_counter()
    res = train_round(cfg, task, mode="classifier", base_model=str(base), labels=[str(lab_file)],
                      out_url=str(out / "model"), version=f"recipe-{digest}")
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = predict(Path(res.merged_url), split.test_texts, split.labels, threads)
    m = res.metrics
    return {**kappa_against(split.test_gold, pred, split.labels), "steps": m.get("steps"),
            "train_accuracy_after": m.get("train_accuracy_after"), "train_loss_before": m.get("train_loss_before"),
            "train_loss_after": m.get("train_loss_after"), "head_init": m.get("head_init"),
            "contrastive": m.get("contrastive"), "recipe_trained": m.get("recipe"), "recipe_choice": m.get("recipe_choice"),
            "seconds_train": round(t_train, 1), "seconds_eval": round(time.perf_counter() - t0, 1),
            "train_resumed": bool(res.resumed)}


def summarise(cells: list[dict[str, Any]]) -> dict[str, Any]:
    groups: dict[str, list[float]] = {}
    for c in cells:
        if c.get("status") == "done" and c.get("kappa") is not None:
            groups.setdefault(f"{c['dataset']}|{c['recipe']}|{c['budget']}", []).append(c["kappa"])
    return {k: {"mean": round(float(np.mean(v)), 6), "std": round(float(np.std(v, ddof=1)), 6) if len(v) > 1 else None,
                "n_seeds": len(v), "per_seed": [round(x, 4) for x in v]} for k, v in sorted(groups.items())}


def markdown_table(data: dict[str, Any]) -> str:
    summ = data.get("summary", {})
    datasets = list(dict.fromkeys(k.split("|")[0] for k in summ))
    recipes = [r for r in RECIPES if any(k.split("|")[1] == r for k in summ)]
    budgets = sorted({int(k.split("|")[2]) for k in summ})
    lines = ["| data set | recipe | " + " | ".join(f"{b} labels" for b in budgets) + " |",
             "| --- | --- | " + " | ".join("---" for _ in budgets) + " |"]
    for d in datasets:
        for r in recipes:
            if not any(f"{d}|{r}|{b}" in summ for b in budgets):
                continue
            row = []
            for b in budgets:
                s = summ.get(f"{d}|{r}|{b}")
                row.append("" if s is None else f"{s['mean']:.3f}" + (f" ± {s['std']:.3f}" if s["std"] is not None else "")
                           + ("" if s["n_seeds"] == 3 else f" (n={s['n_seeds']})"))
            lines.append(f"| {d} | {r} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def run(datasets: Sequence[str], seeds: Sequence[int], budgets: Sequence[int], recipes: Sequence[str], out: Path,
        *, resume: bool, threads: int, prepared: Path | None, csv: Path, sms: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(out.read_text()) if (resume and out.exists()) else {}
    data.setdefault("benchmark", "few-labels recipe ablation (random expert labels, in-process)")
    data.setdefault("cells", [])
    data.setdefault("runs", []).append({"command": "python -m benchmarks.bench_recipe " + " ".join(sys.argv[1:]),
                                        "started_at": now_utc(), "loadavg_start": loadavg()})
    data["machine"] = machine_info()
    data["recipes"] = RECIPES

    def save() -> None:
        data["summary"] = summarise(data["cells"])
        data["updated_at"] = now_utc()
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, default=str))
        tmp.replace(out)

    def done(key: tuple) -> bool:
        return any((c["dataset"], c["seed"], c["recipe"], c["budget"]) == key and c.get("status") == "done"
                   for c in data["cells"])

    for seed in seeds:  # seed-major: a stopped run still has every data set at the first seeds
        for name in datasets:
            keys = [(name, seed, r, b) for r in recipes for b in budgets]
            if resume and all(done(k) for k in keys):
                continue
            work = WORK / f"{name}-s{seed}"
            split = load_split(name, seed, work, prepared, csv, sms)
            task = task_config(name, prepared)
            base = build_base(name, work / "base_model", task)
            ids, texts, labels = random_labels(split, FULL, max(budgets))  # arm (b)'s subsets and labels
            feats = FrozenFeatures(base, split.labels, threads) if "floor" in recipes else None
            log(f"{name} seed {seed}: {len(split.train_ids)} train / {len(split.test_ids)} test ({split.test_sha})")
            for budget in budgets:
                for recipe in recipes:
                    key = (name, seed, recipe, budget)
                    if resume and done(key):
                        continue
                    cell: dict[str, Any] = {"dataset": name, "seed": seed, "recipe": recipe, "budget": budget,
                                            "test_split_sha": split.test_sha, "n_test": len(split.test_ids),
                                            "started_at": now_utc(), "loadavg_start": loadavg(),
                                            "class_counts": {lab: labels[:budget].count(lab) for lab in split.labels}}
                    t0 = time.perf_counter()
                    same = _same_training(data["cells"], key, recipe, budget)
                    try:
                        if same is not None:  # e.g. at 500 labels 5 epochs are already >= min_steps
                            cell.update({k: v for k, v in same.items() if k not in cell and k not in ("seconds",)})
                            cell["same_training_as"] = same["recipe"]
                        elif RECIPES[recipe] is None:
                            cell.update(floor_kappa(split, feats, ids[:budget], texts[:budget], labels[:budget], seed))
                        else:
                            cell.update(finetune_cell(split, task, base, ids[:budget], texts[:budget], labels[:budget],
                                                      RECIPES[recipe], work / f"{recipe}-{budget}", seed * 1000, threads))
                        cell["status"] = "done"
                    except Exception as exc:  # one failed cell must not lose the others
                        cell.update(status="failed", error=f"{type(exc).__name__}: {exc}",
                                    traceback=traceback.format_exc()[-3000:])
                    cell["seconds"] = round(time.perf_counter() - t0, 1)
                    data["cells"] = [c for c in data["cells"]
                                     if (c["dataset"], c["seed"], c["recipe"], c["budget"]) != key] + [cell]
                    save()
                    log(f"  {name} s{seed} {recipe:>10} @{budget}: {cell['status']} kappa "
                        f"{cell.get('kappa', float('nan')):.3f} ({cell['seconds']} s)")
    data["runs"][-1]["finished_at"] = now_utc()
    save()
    return data


def effective_training(recipe: str, budget: int, batch_size: int = 16, epochs: int = 5) -> tuple | None:
    """(head_init, optimiser steps) that a recipe runs at a budget: two recipes with the same pair
    train the same model (same data, same seed), so the second one is not trained again."""
    r = RECIPES[recipe]
    if r is None or r.get("recipe", "lora") != "lora" or r.get("recipe_candidates"):
        return None
    per_epoch = -(-budget // batch_size)
    return r["head_init"], r.get("head_init_c", 1.0), max(per_epoch * epochs, r["min_steps"])


def _same_training(cells: list[dict[str, Any]], key: tuple, recipe: str, budget: int) -> dict[str, Any] | None:
    mine = effective_training(recipe, budget)
    for c in cells:
        if (c.get("status") == "done" and (c["dataset"], c["seed"], c["budget"]) == (key[0], key[1], budget)
                and c["recipe"] != recipe and "same_training_as" not in c
                and mine is not None and effective_training(c["recipe"], budget) == mine):
            return c
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="violating,hate,spam", help="comma list of violating,hate,spam")
    ap.add_argument("--dataset", type=Path, help="a prepared data set folder (DIR/corpus, DIR/gold); replaces --datasets")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--budgets", default="30,150,500")
    ap.add_argument("--recipes", default=",".join(RECIPES), help=f"comma list of {','.join(RECIPES)}")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS / "recipe_ablation.json")
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="the Davidson labeled_data.csv")
    ap.add_argument("--sms", type=Path, default=DEFAULT_SMS, help="SMSSpamCollection.tsv")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--table", action="store_true", help="print the table of --out and exit")
    a = ap.parse_args(argv)
    if a.table:
        print(markdown_table(json.loads(a.out.read_text())))
        return 0
    recipes = [r for r in a.recipes.split(",") if r]
    bad = [r for r in recipes if r not in RECIPES]
    if bad:
        ap.error(f"unknown recipes {bad}; choose from {list(RECIPES)}")
    datasets = [a.dataset.name] if a.dataset else [d for d in a.datasets.split(",") if d]
    for d in datasets:
        need = a.csv if d in ("violating", "hate") else a.sms if d == "spam" else None
        if need is not None and not need.exists():
            ap.error(f"data for {d!r} not found: {need}")
    data = run(datasets, [int(s) for s in a.seeds.split(",")], [int(b) for b in a.budgets.split(",")], recipes,
               a.out, resume=a.resume, threads=a.threads, prepared=a.dataset, csv=a.csv, sms=a.sms)
    print(markdown_table(data))
    return 1 if any(c.get("status") == "failed" for c in data["cells"]) else 0


if __name__ == "__main__":
    sys.exit(main())
