"""What the zero-shot classifier's pooling costs: BERT's [CLS] + pooler against the mean of tokens.

all-MiniLM-L6-v2 was trained as a mean-pooled sentence encoder; the first round-0 models read its
[CLS] token through BERT's pooler instead and were at chance. This is the frozen-feature probe that
showed it (RESULTS.md section 1, "what changed"), on the project's own code: for each pooling the
zero-shot checkpoint is built by ``al_ray.models.build_zero_shot_classifier(pooling=...)``, its
zero-shot kappa is measured on the seeded test split, and a class-balanced logistic regression is
fitted on what its head reads (the label-efficiency benchmark's floor, ``floor_kappa``) with the
same nested random expert labels as that benchmark's arm (b).

Usage::

    .venv/bin/python -m benchmarks.bench_pooling_probe                       # violating, 6,000 tweets, seeds 0,1,2
    .venv/bin/python -m benchmarks.bench_pooling_probe --rows 2000 --seeds 0 --out /tmp/probe.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from benchmarks import bench_label_efficiency as le
from benchmarks.common import log, provenance

POOLINGS = ("cls", "mean")
BUDGETS = (100, 300, 500)


def probe_cell(split: le.Split, pooling: str, work: Path, st: le.Settings) -> dict[str, Any]:
    from al_ray.models import build_zero_shot_classifier

    cfg = le.task_config(split.task)
    base = work / f"zero-shot-{pooling}"
    if not (base / "config.json").exists():
        build_zero_shot_classifier(base, cfg.labels, cfg.label_descriptions, pooling=pooling)
    t0 = time.perf_counter()
    zero = le.kappa_against(split.test_gold, le.predict(base, split.test_texts, split.labels, st.threads),
                            split.labels)
    ids, texts, labels = le.random_labels(split, st, max(BUDGETS))
    feats = le.FrozenFeatures(base, split.labels, st.threads)
    points = [{"labels_used": n, **le.floor_kappa(split, feats, ids[:n], texts[:n], labels[:n], split.seed)}
              for n in BUDGETS]
    return {"pooling": pooling, "zero_shot_kappa": zero["kappa"], "points": points,
            "seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=le.DEFAULT_CSV)
    ap.add_argument("--task", default="violating", choices=sorted(le.TASKS))
    ap.add_argument("--rows", type=int, default=6000, help="seeded subsample of the CSV (the probe's size)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=le.RESULTS / "pooling_probe.json")
    ap.add_argument("--work", type=Path, default=le.WORK / "pooling_probe")
    args = ap.parse_args(argv)
    if not args.csv.is_file():
        print(f"Davidson CSV not found: {args.csv} (set AL_RAY_DAVIDSON_CSV or pass --csv)", file=sys.stderr)
        return 2
    st = replace(le.FULL, threads=args.threads)
    csv_path = le.subsample_csv(args.csv, args.work / f"davidson-{args.rows}.csv", args.rows)
    record: dict[str, Any] = {"benchmark": "pooling_probe", **provenance(argv), "task": args.task,
                              "rows": args.rows, "budgets": list(BUDGETS), "cells": []}
    for seed in le.parse_list(args.seeds, int):
        work = args.work / f"{args.task}-s{seed}"
        split = le.prepare_split(csv_path, args.task, seed, work, st)
        for pooling in POOLINGS:
            cell = {"seed": seed, "n_train": len(split.train_ids), "n_test": len(split.test_ids),
                    **probe_cell(split, pooling, work, st)}
            log(f"seed {seed} {pooling}: zero-shot {cell['zero_shot_kappa']:.3f}, "
                + ", ".join(f"{p['labels_used']}: {p['kappa']:.3f}" for p in cell["points"]))
            record["cells"].append(cell)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
