"""Should round 0's scout divide out a corpus-wide label prior? (issue 13's cold-start lever)

The scout is the zero-shot classifier built from the label descriptions. ``scoring.calibration:
corpus`` divides the mean predicted distribution over the corpus out of every row (one prior for
the whole corpus, so the same text scores the same in every shard). This measures what that does
on each shared data set, with the project's own calibration code (``al_ray.scoring.uncertainty``):

- zero-shot kappa on a sample of the seeded test split, raw against calibrated;
- the share of each predicted label, and the gold positive rate inside each predicted-label
  stratum on a sample of the train pool;
- the positive share of a round-0 batch that takes equal shares from each predicted label (what
  the cold start does, ``selection.stratify``), against the corpus's own positive share.

The prior is estimated on the train-pool sample, as ``calibration: corpus`` estimates it on a sample
of the corpus. In-process (no Ray): the probabilities are the checkpoint's softmax, the function vLLM
serves.

Usage::

    .venv/bin/python -m benchmarks.bench_scout_calibration                 # violating, hate, spam; seed 0
    .venv/bin/python -m benchmarks.bench_scout_calibration --datasets spam --sample 1000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

from benchmarks import bench_recipe as br
from benchmarks.bench_label_efficiency import DEFAULT_CSV, build_base, machine_info
from benchmarks.common import log, now_utc

RESULTS = Path(__file__).resolve().parent / "results"


def zero_shot_probs(base: Path, texts: list[str], threads: int) -> np.ndarray:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from al_ray.models import apply_checkpoint_pooling

    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(base)
    model = apply_checkpoint_pooling(AutoModelForSequenceClassification.from_pretrained(base)).eval()
    out = []
    with torch.no_grad():
        for k in range(0, len(texts), 64):
            enc = tok(texts[k:k + 64], padding=True, truncation=True, max_length=128, return_tensors="pt")
            out.append(torch.softmax(model(**enc).logits.float(), -1).numpy())
    return np.concatenate(out).astype(np.float64)


def measure(name: str, seed: int, sample: int, threads: int) -> list[dict[str, Any]]:
    from sklearn.metrics import cohen_kappa_score

    from al_ray.scoring.uncertainty import compute

    work = br.WORK / f"{name}-s{seed}"
    split = br.load_split(name, seed, work, None, DEFAULT_CSV, br.DEFAULT_SMS)
    base = build_base(name, work / "base_model", br.task_config(name))
    rng = np.random.default_rng([seed, 11])
    tr = rng.permutation(len(split.train_ids))[:sample]
    te = rng.permutation(len(split.test_ids))[:sample]
    p_tr = zero_shot_probs(base, [split.train_texts[i] for i in tr], threads)
    p_te = zero_shot_probs(base, [split.test_texts[i] for i in te], threads)
    g_tr = np.array([split.train_gold[i] for i in tr])
    g_te = [split.test_gold[i] for i in te]
    labels = np.array(split.labels)
    positive = split.labels[-1]
    prior = p_tr.mean(axis=0)
    rows = []
    for calibration in ("none", "corpus"):
        cal = None if calibration == "none" else prior
        pred_tr = labels[compute(p_tr, cal)["predicted"]]
        pred_te = labels[compute(p_te, cal)["predicted"]]
        in_stratum = {lab: (float(np.mean(g_tr[pred_tr == lab] == positive)) if (pred_tr == lab).any() else None)
                      for lab in split.labels}
        present = [v for v in in_stratum.values() if v is not None]
        rows.append({"dataset": name, "seed": seed, "calibration": calibration, "n_train_sample": int(len(tr)),
                     "n_test_sample": int(len(te)), "prior": [round(float(x), 4) for x in prior],
                     "zero_shot_kappa": round(float(cohen_kappa_score(g_te, pred_te)), 4),
                     "predicted_share": {lab: round(float(np.mean(pred_tr == lab)), 4) for lab in split.labels},
                     "positive_rate_in_predicted_stratum": {k: (None if v is None else round(v, 4))
                                                            for k, v in in_stratum.items()},
                     "stratified_batch_positive_share": round(float(np.mean(present)), 4),
                     "corpus_positive_share": round(float(np.mean(g_tr == positive)), 4)})
        log(f"{name} s{seed} {calibration}: kappa {rows[-1]['zero_shot_kappa']}, stratified batch positive share "
            f"{rows[-1]['stratified_batch_positive_share']} (corpus {rows[-1]['corpus_positive_share']})")
    return rows


def markdown_table(data: dict[str, Any]) -> str:
    lines = ["| data set | scout calibration | prior | zero-shot kappa | stratified round-0 batch: positive share | corpus positive share |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in data["rows"]:
        lines.append(f"| {r['dataset']} | {r['calibration']} | {r['prior']} | {r['zero_shot_kappa']:.3f} | "
                     f"{r['stratified_batch_positive_share']:.3f} | {r['corpus_positive_share']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="violating,hate,spam")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--sample", type=int, default=3000, help="train-pool and test rows scored per data set")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS / "scout_calibration.json")
    ap.add_argument("--table", action="store_true", help="print the table of --out and exit")
    a = ap.parse_args(argv)
    if a.table:
        print(markdown_table(json.loads(a.out.read_text())))
        return 0
    data = {"benchmark": "scout calibration: raw against one corpus-wide prior (zero-shot MiniLM)",
            "command": "python -m benchmarks.bench_scout_calibration " + " ".join(sys.argv[1:] if argv is None else argv),
            "started_at": now_utc(), "machine": machine_info(), "rows": []}
    for seed in [int(s) for s in a.seeds.split(",")]:
        for name in a.datasets.split(","):
            data["rows"] += measure(name, seed, a.sample, a.threads)
    data["finished_at"] = now_utc()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(data, indent=1))
    print(markdown_table(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
