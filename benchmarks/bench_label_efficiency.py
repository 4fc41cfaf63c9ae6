"""The headline benchmark: does the loop beat crowd labels? (real data: Davidson et al. 2017 tweets)

For each task (violating vs neither; hate vs not) and seed, on the seeded test split that
``al_ray.data.davidson.prepare_davidson(seed=...)`` writes (experts = majority vote of the
CrowdFlower votes), with ONE model recipe for every arm — the zero-shot MiniLM classifier built from
the task's label descriptions (``al_ray.models.build_zero_shot_classifier``) + LoRA fine-tune by
``al_ray.finetune.train.train_round`` (classifier mode, class weighting 'balanced', r=8, lr 5e-4,
batch 16, max 128 tokens):

  zero_shot   the round-0 model, no labels (the starting point of every arm)
  a  loop     the real loop (``al_ray.driver.run.run_loop``, config ``configs/davidson-<task>.yaml``:
              vLLM scoring in a Ray actor, boundary-pairs selection, 3 simulated experts per item,
              cumulative LoRA retraining each round), ``rounds x batch <= 500`` expert labels; its
              kappa is the manifest's per-round ``holdout_kappa`` (= this same test split)
  b  random   the same number of expert labels, chosen uniformly at random from the train split
              (labelled by the same simulated experts: 3 votes of the majority, each flipped w.p. 0.05)
  c  crowd    every train-split item labelled by ONE crowd annotator (one vote drawn from its counts)
  d  expert   every train-split item with the expert (majority) label: the upper bound

(b), (c), (d) train in-process and are evaluated in-process with transformers on the merged
checkpoint. (c) and (d) train on ~13.8K items: 1 epoch instead of the recipe's (``--cd-epochs``), otherwise the
same recipe; see RESULTS.md for why. Metric: Cohen's kappa against the experts on the test split.

Usage::

    .venv/bin/python -m benchmarks.bench_label_efficiency --quick     # minutes: 3K-row subsample
    .venv/bin/python -m benchmarks.bench_label_efficiency --full      # both tasks, seeds 0,1,2 (~hours on 2 cores)
    .venv/bin/python -m benchmarks.bench_label_efficiency --full --tasks violating --seeds 0 --arms b,a --resume

The result JSON is rewritten after every (task, seed, arm) cell, so a stopped run loses at most
the cell in progress; ``--resume`` skips cells already in the JSON. The plot (kappa against labels
used) goes to ``benchmarks/plots/``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

from benchmarks.common import log, machine, now_utc
from benchmarks.label_efficiency_records import (  # noqa: F401 (re-exported: other benchmarks and tests)
    ARMS, FROZEN_BASELINES, PREPARED, TASKS, _key, all_tasks, hardware_summary, invariants, markdown_table,
    merge_cells, merge_result_files, plot, summarise, write_json)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
PLOTS = HERE / "plots"
WORK = HERE / "_work"  # git-ignored
# ../shared/datasets beside the checkout (never copied into the repo); AL_RAY_DAVIDSON_CSV points elsewhere
DEFAULT_CSV = Path(os.environ.get("AL_RAY_DAVIDSON_CSV") or
                   REPO.parent / "shared" / "datasets" / "davidson-hate-offensive" / "labeled_data.csv")
ARM_ALIASES = {"zero": "zero_shot", "zero_shot": "zero_shot", "a": "a_loop", "loop": "a_loop",
               "b": "b_random", "random": "b_random", "c": "c_crowd", "crowd": "c_crowd",
               "d": "d_expert", "expert": "d_expert", "e": "e_floor", "floor": "e_floor"}



@dataclass
class Settings:
    mode: str
    subsample_rows: int | None  # None: the whole CSV (17,311 records)
    rounds: int  # arm (a): labelling rounds
    batch_size: int  # arm (a): items per round; rounds * batch_size is the budget
    b_sizes: tuple[int, ...]  # arm (b): random-label budgets (the last one = the loop's budget)
    epochs: int | None = None  # (a), (b): None = FinetuneConfig's default (the loop's, from configs/davidson-*.yaml)
    min_steps: int | None = None  # (a)-(d): None = FinetuneConfig's default step budget (the loop's too)
    cd_epochs: int = 1  # (c), (d): ~13.8K items, one pass (see module docstring)
    cd_max_items: int | None = None  # cap (c)/(d) training items (quick mode only)
    threads: int = 1  # torch threads for in-process training/inference (1: no OpenMP spin on a busy box)
    eval_fraction: float = 0.0  # arm (a): all expert labels train; the test split is the evaluation
    scoring_backend: str = "vllm"  # arm (a): the config's engine; 'transformers' gives the same probabilities
    n_shards: int = 8
    test_fraction: float = 0.2
    flip_prob: float = 0.05  # simulated experts (the configs' value)
    n_experts: int = 3

    @property
    def budget(self) -> int:
        return self.rounds * self.batch_size


QUICK = Settings(mode="quick", subsample_rows=2000, rounds=2, batch_size=50, b_sizes=(100,), cd_max_items=600)
FULL = Settings(mode="full", subsample_rows=None, rounds=5, batch_size=100, b_sizes=(100, 300, 500))
# Issue 13's small-budget regime: a ~1,000-item data set (e.g. `al-ray data import ... --max-rows 1000
# --test-fraction 0.3`, given with --dataset), rounds of 30 up to 150 labels.
SMALL = Settings(mode="small", subsample_rows=None, rounds=5, batch_size=30, b_sizes=(30, 90, 150))


# ----------------------------------------------------------------------------------------- machine

def machine_info() -> dict[str, Any]:
    """benchmarks.common.machine() (kept under this name: bench_recipe, bench_gate and bench_scout_calibration import it)."""
    return machine()


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ----------------------------------------------------------------------------------------- data

def subsample_csv(src: Path, dst: Path, n: int, seed: int = 12345) -> Path:
    """A seeded n-record sample of the Davidson CSV (quick mode), written outside the repo's tracked files."""
    if dst.exists():
        return dst
    with open(src, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    keep = sorted(np.random.default_rng(seed).choice(len(body), size=min(n, len(body)), replace=False))
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(body[i] for i in keep)
    tmp.replace(dst)
    return dst


@dataclass
class Split:
    """One (task, seed)'s prepared data: the train pool and the test split, with gold and votes."""

    task: str
    seed: int
    labels: list[str]
    gold_table: Any  # pyarrow Table (gold.parquet)
    train_ids: list[str]
    train_texts: list[str]
    train_gold: list[str]
    test_ids: list[str]
    test_texts: list[str]
    test_gold: list[str]
    test_sha: str


def test_split_sha(ids: Sequence[str]) -> str:
    return hashlib.sha256("\n".join(sorted(str(i) for i in ids)).encode()).hexdigest()[:16]


def read_test_ids_from_gold(gold_parquet: Path) -> list[str]:
    import pyarrow.parquet as pq

    t = pq.read_table(gold_parquet, columns=["id", "split"])
    return [str(i) for i, s in zip(t["id"].to_pylist(), t["split"].to_pylist()) if s == "test"]


# A prepared data set (what ``al-ray data import`` writes: DIR/corpus, DIR/gold) given by --dataset;
# its task name is the folder's name. The Davidson tasks are prepared from the CSV instead.


def task_config(task: str):
    """The TaskConfig of a Davidson task or of a prepared data set (labels from its dataset.json;
    label descriptions too, when the file has them, else the label names)."""
    from al_ray.data.davidson import davidson_task
    from al_ray.task import TaskConfig

    if task in TASKS:
        return davidson_task(task)
    info = json.loads((PREPARED[task] / "gold" / "dataset.json").read_text())
    if info.get("preparer") == "al_ray.data.davidson":  # a Davidson subsample keeps its task's descriptions
        return davidson_task(info["task"]).model_copy(update={"name": task})
    return TaskConfig(name=task, labels=info["labels"], positive_label=info.get("positive_label"),
                      label_descriptions=info.get("label_descriptions") or {})


def split_from_prepared(data: Path, name: str, seed: int, labels: Sequence[str]) -> Split:
    """A Split from any prepared data set (DIR/corpus shards + DIR/gold/gold.parquet)."""
    import pyarrow.parquet as pq

    gold = pq.read_table(data / "gold" / "gold.parquet")
    corpus = pq.ParquetDataset(str(data / "corpus")).read(columns=["id", "text"])
    text_of = dict(zip([str(i) for i in corpus["id"].to_pylist()], corpus["text"].to_pylist()))
    ids = [str(i) for i in gold["id"].to_pylist()]
    lab, spl = gold["label"].to_pylist(), gold["split"].to_pylist()
    tr = [k for k, s in enumerate(spl) if s != "test"]
    te = [k for k, s in enumerate(spl) if s == "test"]
    test_ids = [ids[k] for k in te]
    return Split(task=name, seed=seed, labels=list(labels), gold_table=gold,
                 train_ids=[ids[k] for k in tr], train_texts=[text_of[ids[k]] for k in tr],
                 train_gold=[lab[k] for k in tr], test_ids=test_ids, test_texts=[text_of[i] for i in test_ids],
                 test_gold=[lab[k] for k in te], test_sha=test_split_sha(test_ids))


def prepare_split(csv_path: Path, task: str, seed: int, workdir: Path, st: Settings) -> Split:
    """The same call the loop's ``ensure_corpus`` makes (same csv, task, shards, test fraction, seed).
    A prepared data set (--dataset) is read as it is: its split was fixed when it was imported."""
    import pyarrow.parquet as pq

    from al_ray.data.davidson import davidson_task, prepare_davidson

    if task in PREPARED:
        return split_from_prepared(PREPARED[task], task, seed, task_config(task).labels)
    data = workdir / "data"
    gold_file = data / "gold" / "gold.parquet"
    if not gold_file.exists():
        prepare_davidson(str(csv_path), str(data / "corpus"), task=task, n_shards=st.n_shards,
                         test_fraction=st.test_fraction, seed=seed, gold_url=str(data / "gold"))
    gold = pq.read_table(gold_file)
    corpus = pq.ParquetDataset(str(data / "corpus")).read(columns=["id", "text"])
    text_of = dict(zip([str(i) for i in corpus["id"].to_pylist()], corpus["text"].to_pylist()))
    ids = [str(i) for i in gold["id"].to_pylist()]
    lab = gold["label"].to_pylist()
    spl = gold["split"].to_pylist()
    tr = [k for k, s in enumerate(spl) if s != "test"]
    te = [k for k, s in enumerate(spl) if s == "test"]
    test_ids = [ids[k] for k in te]
    return Split(task=task, seed=seed, labels=list(davidson_task(task).labels), gold_table=gold,
                 train_ids=[ids[k] for k in tr], train_texts=[text_of[ids[k]] for k in tr],
                 train_gold=[lab[k] for k in tr], test_ids=test_ids,
                 test_texts=[text_of[i] for i in test_ids], test_gold=[lab[k] for k in te],
                 test_sha=test_split_sha(test_ids))


def simulated_expert_labels(split: Split, ids: Sequence[str], st: Settings, rng: np.random.Generator) -> list[str]:
    """The loop's simulated experts: 3 experts answer the majority, each flipped w.p. flip_prob; majority wins."""
    from al_ray.labeling.simulated import VoteCountAnnotators, gold_from_table

    sim = VoteCountAnnotators(split.gold_table, split.labels, mode="expert", flip_prob=st.flip_prob, rng=rng,
                              tie_labels=gold_from_table(split.gold_table, "label"))
    names = [f"sim-expert-{k + 1}" for k in range(st.n_experts)]
    out = []
    for i in ids:
        votes = sim.draw(str(i), names)
        out.append(max(split.labels, key=lambda lab: (votes.count(lab), lab == sim.reference(str(i)))))
    return out


def crowd_labels(split: Split, ids: Sequence[str], rng: np.random.Generator) -> list[str]:
    """One real crowd vote per item, drawn from its vote counts."""
    from al_ray.labeling.simulated import VoteCountAnnotators

    sim = VoteCountAnnotators(split.gold_table, split.labels, mode="crowd", rng=rng)
    return [sim.draw(str(i), ["crowd-1"])[0] for i in ids]


# ----------------------------------------------------------------------------------------- model

def build_base(task: str, out: Path, cfg=None) -> Path:
    """The round-0 zero-shot classifier of ``task`` (or of the TaskConfig ``cfg``), built once."""
    from al_ray.models import build_zero_shot_classifier

    if (out / "config.json").exists():
        return out
    cfg = cfg or task_config(task)
    return build_zero_shot_classifier(out, cfg.labels, cfg.label_descriptions, version="r000-zero-shot")


def predict(model_dir: Path, texts: Sequence[str], labels: Sequence[str], threads: int,
            max_length: int = 128, batch_size: int = 64) -> list[str]:
    """Batch inference of a (merged) sequence-classification checkpoint with transformers."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from al_ray.finetune.peft_adapter import label_probabilities, torch_threads
    from al_ray.models import apply_checkpoint_pooling

    with torch_threads(threads):
        tok = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32)
        apply_checkpoint_pooling(model)  # the checkpoint's own pooling (mean for the zero-shot MiniLM)
        id2label = {int(k): v for k, v in model.config.id2label.items()}
        order = np.argsort([len(t) for t in texts], kind="stable")  # length-sorted batches: less padding
        probs = label_probabilities(model, tok, [texts[i] for i in order], mode="classifier",
                                    max_length=max_length, batch_size=batch_size).numpy()
    pred_sorted = probs.argmax(axis=1)
    pred = np.empty(len(texts), dtype=np.int64)
    pred[order] = pred_sorted
    return [id2label[int(k)] for k in pred]


def kappa_against(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    from al_ray.driver.evaluate import agreement

    a = agreement(gold, pred, labels)
    return {"kappa": a["kappa"], "accuracy": a["accuracy"], "n_test": a["n"], "per_class": a["per_class"]}


def train_and_evaluate(split: Split, base: Path, ids: Sequence[str], texts: Sequence[str], labels: Sequence[str],
                       out: Path, *, epochs: int | None, seed: int, st: Settings) -> dict[str, Any]:
    """Fine-tune with the recipe (train_round, classifier mode) and measure kappa on the test split."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from al_ray.finetune.config import FinetuneConfig
    from al_ray.finetune.train import train_round

    out.mkdir(parents=True, exist_ok=True)
    lab_file = out / "labels.parquet"
    pq.write_table(pa.table({"id": [str(i) for i in ids], "text": list(texts), "label": list(labels),
                             "round": [0] * len(ids)}), lab_file)
    steps = {} if st.min_steps is None else {"min_steps": st.min_steps}
    cfg = FinetuneConfig(**({} if epochs is None else {"epochs": epochs}), batch_size=16, max_length=128,
                         class_weighting="balanced", seed=seed,
                         torch_threads=st.threads, eval_train_loss=False, **steps)
    # the version names the exact training data and recipe: a rerun with the same ones reuses the model
    digest = hashlib.sha256(json.dumps([list(map(str, ids)), list(labels), cfg.model_dump(mode="json")],
                                       default=str).encode()).hexdigest()[:12]
    t0 = time.perf_counter()
    res = train_round(cfg, task_config(split.task), mode="classifier", base_model=str(base),
                      labels=[str(lab_file)], out_url=str(out / "model"), version=f"bench-{out.name}-{digest}")
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = predict(Path(res.merged_url), split.test_texts, split.labels, st.threads)
    t_eval = time.perf_counter() - t0
    m = res.metrics
    return {**kappa_against(split.test_gold, pred, split.labels), "n_labels": len(ids),
            "class_counts": m.get("class_counts"), "epochs": cfg.epochs, "steps": m.get("steps"),
            "seconds_train": round(t_train, 1), "seconds_eval": round(t_eval, 1),
            "train_resumed": bool(res.resumed)}


# ----------------------------------------------------------------------------------------- arms

def arm_zero_shot(split: Split, base: Path, work: Path, st: Settings) -> dict[str, Any]:
    t0 = time.perf_counter()
    pred = predict(base, split.test_texts, split.labels, st.threads)
    r = kappa_against(split.test_gold, pred, split.labels)
    return {**r, "n_labels": 0, "points": [{"labels_used": 0, "kappa": r["kappa"]}],
            "seconds_eval": round(time.perf_counter() - t0, 1)}


def random_labels(split: Split, st: Settings, n: int) -> tuple[list[str], list[str], list[str]]:
    """(ids, texts, simulated expert labels) of the seeded random subset arms (b) and (e) share:
    nested, so the first k items of a larger budget are the k items of the smaller one."""
    rng = np.random.default_rng([split.seed, 2])
    order = rng.permutation(len(split.train_ids))[:n]
    ids = [split.train_ids[k] for k in order]
    texts = [split.train_texts[k] for k in order]
    return ids, texts, simulated_expert_labels(split, ids, st, np.random.default_rng([split.seed, 3]))


class FrozenFeatures:
    """What the zero-shot model's head reads (mean-pooled MiniLM), computed once per text id."""

    def __init__(self, base: Path, labels: Sequence[str], threads: int) -> None:
        from al_ray.finetune import peft_adapter as pa
        from al_ray.finetune.config import FinetuneConfig

        self.pa, self.threads = pa, threads
        self.lm = pa.build_lora_model(base, "classifier", list(labels), FinetuneConfig())
        self.cache: dict[str, np.ndarray] = {}

    def __call__(self, ids: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        todo = [(i, t) for i, t in zip(ids, texts) if i not in self.cache]
        if todo:
            order = sorted(range(len(todo)), key=lambda k: len(todo[k][1]))  # less padding
            with self.pa.torch_threads(self.threads):
                x = self.pa.head_features(self.lm, [todo[k][1] for k in order], max_length=128, device="cpu")
            for row, k in enumerate(order):
                self.cache[todo[k][0]] = x[row]
        return np.stack([self.cache[i] for i in ids])


def floor_kappa(split: Split, feats: FrozenFeatures, ids: Sequence[str], texts: Sequence[str],
                labels: Sequence[str], seed: int) -> dict[str, Any]:
    """The frozen-embedding floor: class-balanced logistic regression (standardised features, C=1)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(set(labels)) < 2:  # one class labelled: the only possible prediction is that class
        return {**kappa_against(split.test_gold, [labels[0]] * len(split.test_ids), split.labels),
                "note": "one class labelled: constant prediction"}
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, class_weight="balanced", max_iter=5000,
                                                             random_state=seed))
    clf.fit(feats(ids, texts), list(labels))
    return kappa_against(split.test_gold, clf.predict(feats(split.test_ids, split.test_texts)).tolist(), split.labels)


def arm_floor(split: Split, base: Path, work: Path, st: Settings) -> dict[str, Any]:
    """(e): the floor on (b)'s random labels, at (b)'s budgets and the loop's invariant budgets."""
    sizes = sorted({*st.b_sizes, *(st.batch_size * k for k in range(1, st.rounds + 1))})  # every loop round too
    ids, texts, labels = random_labels(split, st, max(sizes))
    feats = FrozenFeatures(base, split.labels, st.threads)
    points = [{"labels_used": n, **floor_kappa(split, feats, ids[:n], texts[:n], labels[:n], split.seed)}
              for n in sizes]
    return {"kappa": points[-1]["kappa"], "n_labels": points[-1]["labels_used"], "points": points}


def arm_random(split: Split, base: Path, work: Path, st: Settings) -> dict[str, Any]:
    """(b): nested random subsets of the train split (seeded), labelled by the simulated experts."""
    from sklearn.metrics import cohen_kappa_score

    ids, texts, labels = random_labels(split, st, max(st.b_sizes))
    position = {i: k for k, i in enumerate(split.train_ids)}
    order = [position[i] for i in ids]
    label_kappa = float(cohen_kappa_score([split.train_gold[k] for k in order], labels, labels=split.labels))
    points = []
    for n in st.b_sizes:
        log(f"  (b) {n} random expert labels")
        r = train_and_evaluate(split, base, ids[:n], texts[:n], labels[:n], work / f"b{n}",
                               epochs=st.epochs, seed=split.seed * 1000, st=st)
        points.append({"labels_used": n, **r})
        log(f"  (b) n={n}: kappa {r['kappa']:.3f} ({r['seconds_train']} s train)")
    last = points[-1]
    return {"kappa": last["kappa"], "n_labels": last["labels_used"], "points": points,
            "simulated_label_kappa_vs_gold": round(label_kappa, 4)}


def _cd_items(split: Split, st: Settings) -> list[int]:
    idx = list(range(len(split.train_ids)))
    if st.cd_max_items is not None and st.cd_max_items < len(idx):
        idx = sorted(np.random.default_rng([split.seed, 4]).permutation(len(idx))[: st.cd_max_items].tolist())
    return idx


def arm_crowd(split: Split, base: Path, work: Path, st: Settings) -> dict[str, Any]:
    from sklearn.metrics import cohen_kappa_score

    idx = _cd_items(split, st)
    ids = [split.train_ids[k] for k in idx]
    labels = crowd_labels(split, ids, np.random.default_rng([split.seed, 5]))
    label_kappa = float(cohen_kappa_score([split.train_gold[k] for k in idx], labels, labels=split.labels))
    # the crowd's own agreement with the experts on the test split (DESIGN.md's first column)
    test_crowd = crowd_labels(split, split.test_ids, np.random.default_rng([split.seed, 6]))
    crowd_test_kappa = float(cohen_kappa_score(split.test_gold, test_crowd, labels=split.labels))
    r = train_and_evaluate(split, base, ids, [split.train_texts[k] for k in idx], labels, work / "c_crowd",
                           epochs=st.cd_epochs, seed=split.seed * 1000, st=st)
    return {**r, "crowd_label_kappa_vs_gold_train": round(label_kappa, 4),
            "crowd_vote_kappa_vs_gold_test": round(crowd_test_kappa, 4)}


def arm_expert(split: Split, base: Path, work: Path, st: Settings) -> dict[str, Any]:
    idx = _cd_items(split, st)
    return train_and_evaluate(split, base, [split.train_ids[k] for k in idx], [split.train_texts[k] for k in idx],
                              [split.train_gold[k] for k in idx], work / "d_expert",
                              epochs=st.cd_epochs, seed=split.seed * 1000, st=st)


_RAY_STARTED = False


def ensure_ray() -> None:
    """A local Ray instance owned by this process (never connects to, or stops, anyone else's)."""
    global _RAY_STARTED
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning",
                 log_to_driver=False)
        _RAY_STARTED = True


def loop_config(csv_path: Path, task: str, seed: int, st: Settings):
    from al_ray.config_io import build, deep_merge, load, load_mapping
    from al_ray.driver.config import RunConfig

    if task in PREPARED:  # the Davidson config as the template, pointed at the prepared files
        gold = str(PREPARED[task] / "gold")
        corpus = {"url": str(PREPARED[task] / "corpus"), "gold_url": gold, "holdout_url": gold}
        template = "davidson-violating"
    else:
        corpus = {"csv": str(csv_path), "n_shards": st.n_shards, "test_fraction": st.test_fraction}
        template = f"davidson-{task}"
    overrides = {
        "run": {"name": f"bench-{task}", "seed": seed, "max_rounds": st.rounds, "batch_size": st.batch_size,
                "label_budget": st.budget, "eval_fraction": st.eval_fraction},
        "corpus": corpus,
        "scoring": {"backend": st.scoring_backend},
        "simulation": {"flip_prob": st.flip_prob, "n_annotators": st.n_experts},
    }
    if st.min_steps is not None:
        overrides["finetune"] = {"min_steps": st.min_steps}
    url = str(REPO / "configs" / f"{template}.yaml")
    if task in PREPARED:  # the task replaces the template's (a merge would keep its label descriptions)
        mapping = deep_merge(load_mapping(url), overrides)
        mapping["task"] = task_config(task).model_dump(mode="json")
        mapping["corpus"] = corpus  # no source: the files are there already
        return build(RunConfig, mapping, source=url)
    return load(RunConfig, url, overrides)


def loop_progress(run_dir: Path) -> dict[str, Any]:
    """Per-round figures from a loop's manifest (works for a finished run and for one still going)."""
    from datetime import datetime as _dt

    mf = run_dir / "manifest.json"
    if not mf.exists():
        return {"points": [], "rounds": []}
    man = json.loads(mf.read_text())
    rounds = [man["rounds"][k] for k in sorted(man.get("rounds", {}))]
    points, info = [], []
    prev_at = man.get("created_at")
    for rd in rounds:
        s = rd.get("steps", {})
        ev, ft = s.get("evaluate", {}), s.get("finetune", {})
        if ev.get("status") == "done":
            points.append({"round": rd.get("round"), "labels_used": ev.get("labels_used"),
                           "kappa": ev.get("holdout_kappa"), "n_holdout": ev.get("n_holdout"),
                           "holdout_per_class": ev.get("holdout_per_class"),
                           "predicted_counts": ev.get("predicted_counts")})
        ats = [v.get("at") for v in s.values() if isinstance(v, dict) and v.get("at")]
        last_at = max(ats) if ats else None
        secs = None
        if prev_at and last_at:
            secs = (_dt.fromisoformat(last_at) - _dt.fromisoformat(prev_at)).total_seconds()
        prev_at = last_at or prev_at
        m = ft.get("metrics") or {}
        info.append({"round": rd.get("round"), "seconds": secs,
                     "score_rows_per_s": s.get("score", {}).get("rows_per_s"),
                     "n_selected": s.get("select", {}).get("n_selected"),
                     "pool_size": s.get("select", {}).get("pool_size"),
                     "labels_expert_kappa": s.get("labels", {}).get("expert_kappa"),
                     "finetune_seconds": m.get("seconds"), "finetune_class_counts": m.get("class_counts"),
                     "step_seconds": {k: v["seconds"] for k, v in s.items()
                                      if isinstance(v, dict) and isinstance(v.get("seconds"), (int, float))},
                     "steps_done": sorted(k for k, v in s.items() if isinstance(v, dict) and v.get("status") == "done")})
    return {"points": points, "rounds": info, "status": man.get("status"),
            "status_info": man.get("status_info")}


def arm_loop(split: Split, base: Path, work: Path, st: Settings, csv_path: Path) -> dict[str, Any]:
    """(a): the real loop; per-round holdout kappa from its manifest (the holdout is the test split)."""
    from al_ray.driver.run import run_loop

    ensure_ray()
    cfg = loop_config(csv_path, split.task, split.seed, st)
    run_dir = work / "loop"
    t0 = time.perf_counter()
    outcome = run_loop(cfg, str(run_dir), log=lambda m: log("  (a) " + m))
    seconds = time.perf_counter() - t0
    gold = (PREPARED[split.task] if split.task in PREPARED else run_dir / "data") / "gold" / "gold.parquet"
    loop_sha = test_split_sha(read_test_ids_from_gold(gold))
    if loop_sha != split.test_sha:
        raise RuntimeError(f"the loop's test split ({loop_sha}) differs from the baselines' ({split.test_sha})")
    prog = loop_progress(run_dir)
    points = prog["points"]
    last = points[-1] if points else {}
    return {"kappa": last.get("kappa"), "n_labels": outcome.labels_used, "points": points,
            "status_loop": outcome.status, "detail": outcome.detail, "rounds": prog["rounds"],
            "n_test": last.get("n_holdout"), "seconds_loop_this_call": round(seconds, 1),
            "config": {"strategy": cfg.selection.get("strategy"), "pool_size": cfg.selection.get("pool_size"),
                       "scoring": cfg.scoring, "finetune": cfg.finetune, "eval_fraction": cfg.run.eval_fraction,
                       "rounds": st.rounds, "batch_size": st.batch_size, "budget": st.budget,
                       "simulation": cfg.simulation.model_dump() if cfg.simulation else None}}


def partial_loop_cell(task: str, seed: int, work: Path, test_sha: str | None) -> dict[str, Any] | None:
    """A loop that has not finished: its rounds so far, as a 'partial' cell (never averaged)."""
    prog = loop_progress(work / "loop")
    if not prog["points"]:
        return None
    last = prog["points"][-1]
    return {"task": task, "seed": seed, "arm": "a_loop", "status": "partial", "kappa": last.get("kappa"),
            "n_labels": last.get("labels_used"), "points": prog["points"], "rounds": prog["rounds"],
            "n_test": last.get("n_holdout"), "test_split_sha": test_sha, "seconds": None,
            "loadavg_start": None, "loadavg_end": loadavg(), "finished_at": now_utc(),
            "note": "loop stopped before its budget was spent; rounds so far from its manifest"}


# ----------------------------------------------------------------------------------------- results

















# ----------------------------------------------------------------------------------------- driver

def run(st: Settings, tasks: Sequence[str], seeds: Sequence[int], arms: Sequence[str], out: Path, *,
        csv_path: Path = DEFAULT_CSV, resume: bool = False, plot_path: Path | None = None,
        work_root: Path | None = None, log: Callable[[str], None] = log,
        collect_partial: bool = False, merge: Sequence[Path] = (), refresh_rounds: bool = False) -> dict[str, Any]:
    """Run every requested (task, seed, arm) cell, rewriting ``out`` after each one."""
    work_root = work_root or (WORK / (f"label_efficiency-{st.mode}"
                                      + (f"-sub{st.subsample_rows}" if st.subsample_rows else "")))
    command = "python -m benchmarks.bench_label_efficiency " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""
    data: dict[str, Any] = {}
    if resume and out.exists():
        data = json.loads(out.read_text())
        if data.get("settings", {}).get("mode") != st.mode:
            data = {}
    data.setdefault("benchmark", "label efficiency: loop vs random vs crowd vs expert (Davidson tweets)")
    data["mode"] = st.mode
    data["settings"] = asdict(st)
    data.setdefault("started_at", now_utc())
    data.setdefault("cells", [])
    this_run = {"command": command, "started_at": now_utc(), "loadavg_start": loadavg(),
                "tasks": list(tasks), "seeds": list(seeds), "arms": list(arms)}
    data.setdefault("runs", []).append(this_run)
    if data.get("machine"):  # cells from before cells recorded their hardware ran on the file's machine
        for c in data["cells"]:
            c.setdefault("hardware", hardware_summary(data["machine"]))
    data["machine"] = machine_info()
    data["frozen_embedding_baselines_design_md"] = FROZEN_BASELINES
    data["csv"] = str(csv_path)
    for name, d in PREPARED.items():  # how each --dataset was made (its import command's settings)
        data.setdefault("datasets", {})[name] = {"path": str(d), **json.loads((d / "gold" / "dataset.json").read_text())}
    if merge:
        merge_result_files(data, merge, st.mode)

    src_csv = csv_path
    if st.subsample_rows and any(t in TASKS for t in tasks):  # a prepared data set is used as imported
        csv_path = subsample_csv(src_csv, work_root / f"labeled_data_sub{st.subsample_rows}.csv", st.subsample_rows)
        data["csv_subsample"] = {"rows": st.subsample_rows, "sample_seed": 12345, "path": str(csv_path)}

    def done(task: str, seed: int, arm: str) -> bool:
        return any(c["task"] == task and c["seed"] == seed and c["arm"] == arm and c.get("status") == "done"
                   for c in data["cells"])

    def save() -> None:
        # other processes may write the same file (e.g. a second run on other cells): merge, don't clobber
        if out.exists():
            try:
                disk = json.loads(out.read_text())
            except (OSError, ValueError):
                disk = {}
            if disk.get("settings", {}).get("mode") == st.mode:
                data["cells"] = merge_cells(data["cells"], disk.get("cells", []))
                seen = {(r.get("command"), r.get("started_at")) for r in data["runs"]}
                data["runs"] = sorted(data["runs"] + [r for r in disk.get("runs", [])
                                                      if (r.get("command"), r.get("started_at")) not in seen],
                                      key=lambda r: r.get("started_at") or "")
        data["summary"] = summarise(data["cells"])
        data["invariants"] = invariants(data["cells"])
        data["updated_at"] = now_utc()
        write_json(out, data)
        if plot_path is not None:
            try:
                plot(data, plot_path)
            except Exception as exc:  # a plotting problem must not lose measured cells
                log(f"plot failed: {exc}")

    for task in tasks:
        for seed in seeds:
            todo = [a for a in arms if not (resume and done(task, seed, a))]
            if not todo:
                continue
            work = work_root / f"{task}-s{seed}"
            split = prepare_split(csv_path, task, seed, work, st)
            base = build_base(task, work / "base_model")
            log(f"{task} seed {seed}: {len(split.train_ids)} train / {len(split.test_ids)} test items "
                f"(test split {split.test_sha}); arms {todo}")
            for arm in todo:
                cell: dict[str, Any] = {"task": task, "seed": seed, "arm": arm, "started_at": now_utc(),
                                        "hardware": hardware_summary(data["machine"]),
                                        "loadavg_start": loadavg(), "test_split_sha": split.test_sha,
                                        "n_train_pool": len(split.train_ids), "n_test": len(split.test_ids)}
                log(f"{task} seed {seed} arm {arm} ... (load average {cell['loadavg_start']})")
                t0 = time.perf_counter()
                try:
                    fn = {"zero_shot": arm_zero_shot, "b_random": arm_random, "c_crowd": arm_crowd,
                          "d_expert": arm_expert, "e_floor": arm_floor}.get(arm)
                    res = fn(split, base, work, st) if fn else arm_loop(split, base, work, st, csv_path)
                    cell.update(res)
                    cell["status"] = "done"
                except Exception as exc:  # record and go on: one failed cell must not lose the others
                    cell["status"] = "failed"
                    cell["error"] = f"{type(exc).__name__}: {exc}"
                    cell["traceback"] = traceback.format_exc()[-4000:]
                    log(f"  FAILED: {cell['error']}")
                cell["seconds"] = round(time.perf_counter() - t0, 1)
                cell["loadavg_end"] = loadavg()
                cell["finished_at"] = now_utc()
                data["cells"] = [c for c in data["cells"] if _key(c) != (task, seed, arm)] + [cell]
                save()
                k = cell.get("kappa")
                log(f"{task} seed {seed} arm {arm}: {cell['status']}, kappa "
                    f"{'n/a' if k is None else f'{k:.3f}'} with {cell.get('n_labels')} labels, {cell['seconds']} s")
    if refresh_rounds:  # finished loops' per-round figures re-read from their manifests (e.g. new keys)
        for c in data["cells"]:
            mf = work_root / f"{c['task']}-s{c['seed']}" / "loop" / "manifest.json"
            if c["arm"] == "a_loop" and c.get("status") == "done" and c["task"] in tasks and mf.exists():
                c["rounds"] = loop_progress(mf.parent)["rounds"]
                log(f"{c['task']} seed {c['seed']}: loop rounds re-read from {mf}")
    if collect_partial:
        for task in tasks:
            for seed in seeds:
                if not done(task, seed, "a_loop"):
                    work = work_root / f"{task}-s{seed}"
                    gold = work / "data" / "gold" / "gold.parquet"
                    sha = test_split_sha(read_test_ids_from_gold(gold)) if gold.exists() else None
                    cell = partial_loop_cell(task, seed, work, sha)
                    if cell:
                        data["cells"] = [c for c in data["cells"] if _key(c) != (task, seed, "a_loop")] + [cell]
                        log(f"{task} seed {seed}: loop partial, {len(cell['points'])} rounds evaluated")
    this_run["finished_at"] = now_utc()
    this_run["loadavg_end"] = loadavg()
    save()
    return data


def parse_list(s: str | None, cast=str) -> list:
    return [cast(x.strip()) for x in s.split(",") if x.strip()] if s else []


def _terminate(signum, frame):  # SIGTERM -> KeyboardInterrupt, so Ray and the engines shut down cleanly
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="CI size (default): violating, seed 0, 3K-row "
                      "subsample, loop 2 x 50 labels, (b) 100, (c)/(d) 600 items")
    size.add_argument("--small", action="store_true", help="small-budget regime: loop 5 x 30 labels, (b)/(e) "
                      "30/90/150; meant for a ~1K-item --dataset")
    size.add_argument("--full", action="store_true", help="full corpus, loop 5 x 100 labels, (b) 100/300/500, "
                      "(c)/(d) every train item (1 epoch)")
    ap.add_argument("--tasks", help="comma list of violating,hate (quick: violating; full: both)")
    ap.add_argument("--seeds", help="comma list (quick: 0; full: 0,1,2)")
    ap.add_argument("--arms", help=f"comma list of {','.join(ARMS)} (or a,b,c,d,zero); default all")
    ap.add_argument("--out", type=Path, help="result JSON (default results/label_efficiency[-quick].json)")
    ap.add_argument("--plot", type=Path, help="PNG (default plots/label_efficiency[-quick].png)")
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="the Davidson labeled_data.csv")
    ap.add_argument("--dataset", type=Path, action="append", default=[],
                    help="a prepared data set folder (DIR/corpus, DIR/gold: what `al-ray data import` writes); "
                    "its task is named after the folder and runs instead of the Davidson tasks unless --tasks "
                    "names them too. Repeatable")
    ap.add_argument("--resume", action="store_true", help="keep cells already in --out and skip them")
    ap.add_argument("--cd-epochs", type=int, help="epochs for arms (c)/(d) (default 1)")
    ap.add_argument("--cd-max-items", type=int, help="cap the (c)/(d) training items (default: all; quick 600)")
    ap.add_argument("--scoring-backend", choices=["vllm", "transformers"],
                    help="arm (a)'s scoring engine (default vllm, as in configs/davidson-*.yaml)")
    ap.add_argument("--threads", type=int, help="torch threads for in-process training/inference (default 1)")
    ap.add_argument("--work", type=Path, help="working folder (default benchmarks/_work/, git-ignored)")
    ap.add_argument("--collect-partial", action="store_true", help="record loops that have not finished "
                    "(their rounds so far, from the manifest) as 'partial' cells; combine with --arms none")
    ap.add_argument("--refresh-rounds", action="store_true", help="re-read the per-round figures of finished "
                    "loops from their manifests in --work (combine with --arms none)")
    ap.add_argument("--merge", type=Path, action="append", default=[],
                    help="import the cells of another result file of the same mode (e.g. arms run on a GPU "
                    "machine with --out there); cells --out already has stay, the imported ones go to "
                    "'replicates'. Combine with --arms none")
    args = ap.parse_args(argv)

    st = FULL if args.full else SMALL if args.small else QUICK
    st = Settings(**asdict(st))
    if args.cd_epochs:
        st.cd_epochs = args.cd_epochs
    if args.cd_max_items:
        st.cd_max_items = args.cd_max_items
    if args.threads:
        st.threads = args.threads
    if args.scoring_backend:
        st.scoring_backend = args.scoring_backend
    for d in args.dataset:
        if not (d / "gold" / "gold.parquet").exists() or not (d / "corpus").is_dir():
            ap.error(f"--dataset {d}: not a prepared data set (expected {d}/corpus and {d}/gold/gold.parquet; "
                     "make one with `al-ray data import`)")
        PREPARED[d.name] = d.resolve()
    tasks = parse_list(args.tasks) or (list(PREPARED) if PREPARED else
                                       ["violating", "hate"] if args.full else ["violating"])
    seeds = parse_list(args.seeds, int) or ([0, 1, 2] if args.full else [0])
    arms = [] if args.arms == "none" else [ARM_ALIASES.get(a, a) for a in parse_list(args.arms)] or list(ARMS)
    bad = [t for t in tasks if t not in all_tasks()] + [a for a in arms if a not in ARMS]
    if bad:
        ap.error(f"unknown task/arm {bad}")
    if any(t in TASKS for t in tasks) and not args.csv.exists():
        ap.error(f"Davidson CSV not found: {args.csv} (pass --csv PATH or set AL_RAY_DAVIDSON_CSV)")
    suffix = "" if args.full else "-small" if args.small else "-quick"
    out = args.out or RESULTS / f"label_efficiency{suffix}.json"
    plot_path = args.plot or PLOTS / f"label_efficiency{suffix}.png"
    try:
        data = run(st, tasks, seeds, arms, out, csv_path=args.csv,
                   resume=args.resume or args.collect_partial or bool(args.merge) or args.refresh_rounds,
                   plot_path=plot_path, work_root=args.work, collect_partial=args.collect_partial,
                   merge=args.merge, refresh_rounds=args.refresh_rounds)
    finally:
        if _RAY_STARTED:
            import ray

            ray.shutdown()
    print(markdown_table(data))
    print(f"results: {out}\nplot: {plot_path}")
    failed = [c for c in data["cells"] if c.get("status") == "failed"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
