"""Fixtures of the fine-tune tests: synthetic labels files and a generative adapter trained once."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pytest

from al_ray import storage
from al_ray.schemas import LABELS_SCHEMA
from al_ray.task import TaskConfig

LABELS = ["neither", "violating"]
GOOD = ["have a lovely day", "thanks for the help", "see you at lunch", "great game last night",
        "the weather is nice today", "my cat is sleeping", "coffee with friends", "happy birthday mom"]
BAD = ["you are a worthless idiot", "shut up you moron", "i hate you loser", "go away you pathetic fool",
       "nobody likes you freak", "you disgusting piece of trash"]


def synthetic_rows(n: int = 64, *, seed: int = 0, round_: int = 1, positive_every: int = 4,
                   id_prefix: str = "x") -> list[dict]:
    """Short texts, one in ``positive_every`` violating (imbalanced, like the real data but milder)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        violating = i % positive_every == 0
        text = f"{rng.choice(BAD if violating else GOOD)} {rng.randint(0, 99)}"
        rows.append(dict(id=f"{id_prefix}{i}", text=text, label=LABELS[int(violating)], round=round_,
                         source="single", n_annotations=1, propagated_from=None))
    return rows


def write_labels(url: str, rows: list[dict], storage_options=None) -> str:
    storage.write_parquet_atomic(pa.Table.from_pylist(rows, schema=LABELS_SCHEMA), url, storage_options)
    return url


@pytest.fixture(scope="session")
def task() -> TaskConfig:
    return TaskConfig(labels=LABELS)


@pytest.fixture(scope="session")
def labels_file(tmp_path_factory) -> str:
    return write_labels(str(tmp_path_factory.mktemp("labels") / "labels.parquet"), synthetic_rows(64))


@pytest.fixture(scope="session")
def generative_run(tmp_path_factory, tiny_llama_dir, labels_file, task):
    """A generative-mode round on the tiny Llama (5 epochs, high LR so the adapter moves the probs)."""
    from al_ray.finetune import FinetuneConfig, train_round

    out = tmp_path_factory.mktemp("gen_round")
    cfg = FinetuneConfig(torch_threads=1, epochs=5, min_steps=0, batch_size=16, max_length=48, learning_rate=5e-3, seed=0)
    return train_round(cfg, task, mode="generative", base_model=str(tiny_llama_dir), labels=[labels_file],
                       out_url=str(out / "model"), version="r001-gen")


@pytest.fixture(scope="session")
def classifier_run(tmp_path_factory, minilm_classifier_dir, labels_file, task):
    from al_ray.finetune import FinetuneConfig, train_round

    out = tmp_path_factory.mktemp("clf_round")
    cfg = FinetuneConfig(torch_threads=1, epochs=3, min_steps=0, batch_size=16, max_length=32, learning_rate=2e-3, seed=0)
    return train_round(cfg, task, mode="classifier", base_model=str(minilm_classifier_dir), labels=[labels_file],
                       out_url=str(out / "model"), version="r001-clf")


def read_version(d: Path) -> str | None:
    from al_ray.models import read_model_version

    return read_model_version(d)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Inference in these tests runs on one thread (restored after each test): on a shared 2-core
    machine two OpenMP threads competing with other processes were measured ~8x slower."""
    from al_ray.finetune.peft_adapter import torch_threads

    with torch_threads(1):
        yield
