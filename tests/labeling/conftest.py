"""Small labelling-batch fixtures, written with pyarrow as selection would write them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from al_ray import storage
from al_ray.labeling.config import LabelingConfig
from al_ray.schemas import DEDUP_GROUPS_SCHEMA, batch_schema
from al_ray.task import TaskConfig

LABELS = ["neither", "violating"]


def batch_rows(n: int, labels: Sequence[str] = LABELS, round: int = 2, prefix: str = "t") -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        p = (i % 10) / 10 + 0.05
        probs = {f"p_{labels[0]}": 1 - p, f"p_{labels[1]}": p}
        for lab in labels[2:]:
            probs[f"p_{lab}"] = 0.0
        rows.append({
            "id": f"{prefix}{i}", "text": f"text number {i}\nwith a \"quote\" and ünïcode 🙂", **probs,
            "predicted_label": labels[1] if p > 0.5 else labels[0], "entropy": 0.5, "margin": abs(1 - 2 * p),
            "least_confidence": min(p, 1 - p), "label_mass": 1.0, "cluster_id": i % 3,
            "pair_id": i // 2 if i < 4 else None, "reason": "boundary_pair" if i < 4 else "margin", "round": round,
        })
    return rows


def write_batch(url: str, rows: list[dict[str, Any]], labels: Sequence[str] = LABELS,
                dedup: list[dict[str, Any]] | None = None, storage_options=None) -> str:
    table = pa.Table.from_pylist(rows, schema=batch_schema(list(labels)))
    storage.write_parquet_atomic(table, storage.join(url, "batch.parquet"), storage_options)
    storage.write_bytes_atomic(storage.join(url, "batch.jsonl"),
                               "".join(json.dumps(r) + "\n" for r in rows).encode(), storage_options)
    if dedup is not None:
        storage.write_parquet_atomic(pa.Table.from_pylist(dedup, schema=DEDUP_GROUPS_SCHEMA),
                                     storage.join(url, "dedup_groups.parquet"), storage_options)
    return url


@pytest.fixture
def task() -> TaskConfig:
    return TaskConfig(name="violating", labels=LABELS)


@pytest.fixture
def config() -> LabelingConfig:
    return LabelingConfig(annotators=["ann1", "ann2", "ann3"], overlap_fraction=0.5, min_overlap_items=2)


@pytest.fixture
def batch_dir(tmp_path: Path) -> str:
    dedup = [
        {"id": "dup-exact", "representative_id": "t0", "kind": "exact", "similarity": 1.0},
        {"id": "dup-near", "representative_id": "t1", "kind": "near", "similarity": 0.93},
    ]
    return write_batch(str(tmp_path / "batch"), batch_rows(8), dedup=dedup)


@pytest.fixture
def labels_dir(tmp_path: Path) -> str:
    return str(tmp_path / "labels")


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def read_labels(labels_dir: str) -> dict[str, dict[str, Any]]:
    t = pq.read_table(str(Path(labels_dir) / "labels.parquet"))
    return {r["id"]: r for r in t.to_pylist()}


# ----------------------------------------------------------------------------- Label Studio, live

def pytest_configure(config):
    config.addinivalue_line(
        "markers", "labelstudio: needs the live Label Studio server (its own venv, installed on first use); "
        "deselect with -m 'not labelstudio' on a machine that cannot install it")


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory):
    """A real Label Studio Community server, once per session (install ~80 s cold, start ~50 s).

    No skip path: if Label Studio cannot be installed or started the tests that use it error with
    the reason (pip's or the server's output). A machine that cannot install it deselects them
    explicitly (-m 'not labelstudio'), which the test summary shows; a silent skip would let CI
    pass with the integration broken.
    """
    from tests.servers import label_studio_server

    with label_studio_server(str(tmp_path_factory.mktemp("label-studio"))) as server:
        yield server
