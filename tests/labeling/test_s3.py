"""Export and import through a real S3 HTTP endpoint (moto), as users run it against object storage."""

from __future__ import annotations

import json

import numpy as np
import pytest

from al_ray import storage
from al_ray.labeling import LabelingConfig, export_batch, import_annotations, resolve_labels
from al_ray.labeling.formats.labelstudio import export_task
from al_ray.task import TaskConfig
from tests.labeling.conftest import LABELS, batch_rows, write_batch


@pytest.mark.slow
def test_export_import_resolve_on_s3(s3, tmp_path):
    so = s3.storage_options
    bucket = s3.create_bucket("labeling")
    batch_dir = write_batch(f"{bucket}/run/rounds/r002/batch", batch_rows(6), storage_options=so,
                            dedup=[{"id": "d0", "representative_id": "t0", "kind": "exact", "similarity": 1.0}])
    labels_dir = f"{bucket}/run/rounds/r002/labels"
    task = TaskConfig(labels=LABELS)
    cfg = LabelingConfig(annotators=["a", "b"], overlap_fraction=1.0, min_overlap_items=2)
    res = export_batch(batch_dir, cfg, task, rng=np.random.default_rng(0), storage_options=so)
    assert res.files["labelstudio_tasks.json"].startswith("s3://")
    assert storage.is_done(storage.join(batch_dir, "export.json"), so)

    tasks = storage.read_json(res.files["labelstudio_tasks.json"], so)
    exported = [export_task(t["data"]["id"], t["data"]["text"], t["data"]["round"],
                            [({"email": "a"}, "violating", None), ({"email": "b"}, "violating", None)], task_id=n)
                for n, t in enumerate(tasks, start=1)]
    ls_url = f"{bucket}/exports/project.json"
    storage.write_bytes_atomic(ls_url, json.dumps(exported).encode(), so)
    imp = import_annotations([ls_url], batch_dir, labels_dir, task, round=2, storage_options=so)
    assert imp.n_new == 12
    assert import_annotations([ls_url], batch_dir, labels_dir, task, round=2, storage_options=so).n_unchanged == 12
    out = resolve_labels(batch_dir, labels_dir, task, cfg, storage_options=so)
    assert out.complete and out.gate.passed and out.n_propagated == 1
    labels = storage.read_parquet(out.labels_url, so).to_pylist()
    assert len(labels) == 7 and {r["label"] for r in labels} == {"violating"}
    assert storage.is_done(out.labels_url, so)
    # secrets never reach the written reports
    agreement = storage.read_bytes(out.agreement_url, so).decode()
    assert s3.secret not in agreement
