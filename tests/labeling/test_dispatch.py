"""Assignments and the files written for annotators and labelling tools."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import Counter
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from al_ray.errors import InputError
from al_ray.labeling import LabelingConfig, export_batch
from al_ray.labeling.dispatch import assign, n_overlap_items
from tests.labeling.conftest import batch_rows, write_batch


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 60), m=st.integers(2, 5), k=st.integers(2, 5), f=st.floats(0.0, 1.0),
       min_over=st.integers(0, 20), seed=st.integers(0, 2**16))
def test_assignment_properties(n, m, k, f, min_over, seed):
    k = min(k, m)
    cfg = LabelingConfig(annotators=[f"a{i}" for i in range(m)], overlap_fraction=f,
                         annotators_per_overlap_item=k, min_overlap_items=min_over)
    ids = [f"x{i}" for i in range(n)]
    out = assign(ids, cfg, np.random.default_rng(seed))
    per_item = Counter(a.id for a in out)
    assert set(per_item) == set(ids)  # every item assigned
    overlap = {a.id for a in out if a.overlap}
    assert len(overlap) == n_overlap_items(n, cfg)
    for item, c in per_item.items():
        assert c == (k if item in overlap else 1)
    assert len({(a.id, a.annotator_id) for a in out}) == len(out)  # nobody labels an item twice
    load = Counter(a.annotator_id for a in out)
    if n:
        assert max(load.values()) - min(load.get(x, 0) for x in cfg.annotators) <= k + 1  # balanced
    if len(overlap) >= len(list(combinations(range(m), k))):
        # every pair of annotators shares at least one item, so every pairwise kappa is measurable
        shared = {frozenset(p) for item in overlap
                  for p in combinations([a.annotator_id for a in out if a.id == item], 2)}
        assert len(shared) == m * (m - 1) // 2
    # same seed, same assignment
    assert assign(ids, cfg, np.random.default_rng(seed)) == out


def test_overlap_count_rules():
    cfg = LabelingConfig(annotators=["a", "b"], overlap_fraction=0.1, min_overlap_items=5)
    assert n_overlap_items(100, cfg) == 10
    assert n_overlap_items(20, cfg) == 5  # at least min_overlap_items
    assert n_overlap_items(3, cfg) == 3  # capped at the batch
    assert n_overlap_items(100, LabelingConfig(annotators=["a"], overlap_fraction=0.0)) == 0


def test_config_validation():
    with pytest.raises(ValueError):
        LabelingConfig(annotators=["a"], overlap_fraction=0.2)
    with pytest.raises(ValueError):
        LabelingConfig(annotators=["a", "a"])
    with pytest.raises(ValueError):
        LabelingConfig(annotators_per_overlap_item=1)
    with pytest.raises(ValueError):
        LabelingConfig(overlap_fraction=1.5)
    LabelingConfig(annotators=["solo"], overlap_fraction=0.0)


def test_export_writes_every_format(batch_dir, task, config, tmp_path):
    out = str(tmp_path / "out")
    res = export_batch(batch_dir, config, task, rng=np.random.default_rng(0), out_dir=out)
    assert res.n_items == 8 and res.round == 2 and res.n_overlap_items == 4 and not res.reused
    assert res.n_assignments == 8 + 4
    assert set(res.files) == {"batch.jsonl", "assignments.jsonl", "labelstudio_tasks.json", "labelstudio_config.xml",
                              "argilla_records.json", "argilla_settings.json"}
    o = Path(out)
    # canonical JSONL: one item per line, texts with newlines stay on one line
    lines = (o / "batch.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 8 and json.loads(lines[0])["text"].startswith("text number 0\nwith")
    # assignments double as a fill-in template
    assigns = [json.loads(x) for x in (o / "assignments.jsonl").read_text().splitlines()]
    assert {a["annotator_id"] for a in assigns} == {"ann1", "ann2", "ann3"}
    assert all(a["label"] is None and a["round"] == 2 for a in assigns)
    # Label Studio import file: data + predictions carrying the model label and score
    tasks = json.loads((o / "labelstudio_tasks.json").read_text(encoding="utf-8"))
    assert len(tasks) == 8
    t7 = tasks[7]
    assert t7["data"]["id"] == "t7" and t7["data"]["round"] == 2
    pred = t7["predictions"][0]
    assert pred["result"][0]["value"] == {"choices": ["violating"]}
    assert pred["result"][0]["from_name"] == "label" and pred["result"][0]["to_name"] == "text"
    assert pred["score"] == pytest.approx(0.75)
    # labelling config matches: <Choices name="label" toName="text"> with the task labels
    root = ET.fromstring((o / "labelstudio_config.xml").read_text())
    choices = root.find("Choices")
    assert choices.get("name") == "label" and choices.get("toName") == "text"
    assert [c.get("value") for c in choices.findall("Choice")] == task.labels
    assert root.find("Text").get("value") == "$text"
    # Argilla v2 records
    recs = json.loads((o / "argilla_records.json").read_text(encoding="utf-8"))
    r7 = recs[7]
    assert r7["id"] == "t7" and r7["fields"] == {"text": tasks[7]["data"]["text"]}
    assert r7["suggestions"][0]["question_name"] == "label" and r7["suggestions"][0]["value"] == "violating"
    assert r7["suggestions"][0]["score"] == pytest.approx(0.75)
    assert r7["metadata"]["round"] == 2
    settings_ = json.loads((o / "argilla_settings.json").read_text())
    assert settings_["questions"][0]["labels"] == task.labels
    # a completed export is reused, not reshuffled
    again = export_batch(batch_dir, config, task, rng=np.random.default_rng(99), out_dir=out)
    assert again.reused and json.loads((o / "assignments.jsonl").read_text().splitlines()[0]) == assigns[0]


def test_export_in_place_keeps_selections_batch_jsonl(batch_dir, task, config):
    before = Path(batch_dir, "batch.jsonl").read_bytes()
    res = export_batch(batch_dir, config, task, rng=np.random.default_rng(0))
    assert Path(batch_dir, "batch.jsonl").read_bytes() == before
    assert Path(batch_dir, "export.json.done").exists()
    assert res.files["batch.jsonl"].endswith("batch.jsonl")


def test_export_rejects_foreign_predicted_label(tmp_path, task, config):
    rows = batch_rows(3)
    rows[1]["predicted_label"] = "spam"
    bd = write_batch(str(tmp_path / "b"), rows)
    with pytest.raises(InputError, match="spam"):
        export_batch(bd, config, task, rng=np.random.default_rng(0))


def test_export_missing_batch(tmp_path, task, config):
    with pytest.raises(InputError, match="batch.parquet"):
        export_batch(str(tmp_path / "nope"), config, task, rng=np.random.default_rng(0))


def test_formats_subset(batch_dir, task, tmp_path):
    cfg = LabelingConfig(annotators=["a", "b"], formats=["labelstudio"])
    res = export_batch(batch_dir, cfg, task, rng=np.random.default_rng(0), out_dir=str(tmp_path / "o"))
    assert set(res.files) == {"assignments.jsonl", "labelstudio_tasks.json", "labelstudio_config.xml"}
    with pytest.raises(ValueError):
        LabelingConfig(formats=["excel"])
