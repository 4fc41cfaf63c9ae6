"""Gate, majority, ties and adjudication, propagation to the duplicates selection dropped."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from al_ray.labeling import (
    AnnotationFileError, LabelingConfig, agreement_report, apply_adjudication, import_annotations, resolve_labels,
)
from al_ray.schemas import LABELS_SCHEMA
from tests.labeling.conftest import read_labels, write_jsonl

V, N = "violating", "neither"

# t0 unanimous V, t1 majority N (2:1), t2 tie (1:1), t3 single, t4 nobody, t5-t7 single
ANNOTATIONS = {
    "A": {"t0": V, "t1": N, "t2": V, "t3": N, "t5": V},
    "B": {"t0": V, "t1": N, "t2": N, "t6": N},
    "C": {"t0": V, "t1": V, "t7": V},
}


def _import(batch_dir, labels_dir, task, tmp_path, annotations=ANNOTATIONS):
    files = [write_jsonl(tmp_path / f"{who}.jsonl", [{"id": i, "annotator_id": who, "label": lab}
                                                      for i, lab in items.items()])
             for who, items in annotations.items()]
    return import_annotations(files, batch_dir, labels_dir, task, round=2)


def _cfg(**kw) -> LabelingConfig:
    return LabelingConfig(**{"annotators": ["A", "B", "C"], "min_overlap_items": 2, **kw})


def _queue(labels_dir) -> list[dict]:
    return [json.loads(x) for x in Path(labels_dir, "adjudication.jsonl").read_text().splitlines()]


def test_passed_gate_majority_ties_and_propagation(batch_dir, labels_dir, task, tmp_path):
    _import(batch_dir, labels_dir, task, tmp_path)
    res = resolve_labels(batch_dir, labels_dir, task, _cfg(gate_threshold=-1.0))
    assert res.gate.status == "passed" and res.gate.n_overlap_items == 3
    labels = read_labels(labels_dir)
    assert {k: (v["label"], v["source"], v["n_annotations"]) for k, v in labels.items()} == {
        "t0": (V, "unanimous", 3), "t1": (N, "majority", 3), "t3": (N, "single", 1),
        "t5": (V, "single", 1), "t6": (N, "single", 1), "t7": (V, "single", 1),
        "dup-exact": (V, "propagated", 3), "dup-near": (N, "propagated", 3),
    }
    assert labels["dup-exact"]["propagated_from"] == "t0" and labels["dup-near"]["propagated_from"] == "t1"
    assert labels["dup-exact"]["text"] == labels["t0"]["text"]  # exact duplicate: same text
    assert labels["dup-near"]["text"] is None  # near duplicate: text not recorded by selection
    assert all(v["propagated_from"] is None for k, v in labels.items() if not k.startswith("dup"))
    assert labels["t0"]["round"] == 2
    assert pq.read_schema(res.labels_url).equals(LABELS_SCHEMA, check_metadata=False)
    # the tie goes to adjudication, t4 is unlabelled: not complete, no completion marker
    q = _queue(labels_dir)
    assert [(x["id"], x["reason"], x["votes"]) for x in q] == [("t2", "tie", {N: 1, V: 1})]
    assert (res.n_resolved, res.n_pending_adjudication, res.n_unlabelled, res.n_propagated) == (6, 1, 1, 2)
    assert res.by_source == {"majority": 1, "propagated": 2, "single": 4, "unanimous": 1}
    assert not res.complete and not Path(labels_dir, "labels.parquet.done").exists()
    agreement = json.loads(Path(labels_dir, "agreement.json").read_text())
    assert agreement["gate"]["status"] == "passed" and agreement["n_pending_adjudication"] == 1
    assert agreement["agreement"]["n_overlap_items"] == 3

    # the adjudicator fills in the queue file and hands it back
    q[0]["label"], q[0]["adjudicator"] = V, "expert-1"
    adj = write_jsonl(tmp_path / "adjudicated.jsonl", q)
    out = apply_adjudication(adj, labels_dir, task, batch_dir=batch_dir, config=_cfg(gate_threshold=-1.0))
    assert out.n_applied == 1 and out.resolve.n_pending_adjudication == 0
    assert read_labels(labels_dir)["t2"]["source"] == "adjudicated"
    assert _queue(labels_dir) == []
    # re-applying is a no-op
    assert apply_adjudication(adj, labels_dir, task, batch_dir=batch_dir, config=_cfg(gate_threshold=-1.0)).n_applied == 0

    # the last item gets its label: the batch is complete and marked done
    f = write_jsonl(tmp_path / "late.jsonl", [{"id": "t4", "annotator_id": "A", "label": N}])
    import_annotations([f], batch_dir, labels_dir, task, round=2)
    res = resolve_labels(batch_dir, labels_dir, task, _cfg(gate_threshold=-1.0))
    assert res.complete and Path(labels_dir, "labels.parquet.done").exists()
    assert len(read_labels(labels_dir)) == 10


def test_flagged_batch_holds_back_disagreements(batch_dir, labels_dir, task, tmp_path):
    _import(batch_dir, labels_dir, task, tmp_path)
    res = resolve_labels(batch_dir, labels_dir, task, _cfg())  # default gate: AC1's lower bound
    default = LabelingConfig().gate_threshold
    assert res.gate.status == "flagged" and res.gate.threshold == default and res.gate.value < default
    labels = read_labels(labels_dir)
    assert "t1" not in labels and "t2" not in labels  # the 2:1 majority is not trusted either
    assert "dup-near" not in labels  # its representative is pending, so is it
    assert labels["t0"]["source"] == "unanimous" and labels["dup-exact"]["source"] == "propagated"
    q = {x["id"]: x for x in _queue(labels_dir)}
    assert set(q) == {"t1", "t2"} and q["t1"]["reason"] == "disagreement in a flagged batch"
    assert {a["annotator_id"]: a["label"] for a in q["t1"]["annotations"]} == {"A": N, "B": N, "C": V}
    # resolving them by adjudication releases them (and t1's duplicate)
    adj = write_jsonl(tmp_path / "adj.jsonl", [{"id": "t1", "label": N}, {"id": "t2", "label": V}])
    out = apply_adjudication(adj, labels_dir, task, batch_dir=batch_dir, config=_cfg())
    labels = read_labels(labels_dir)
    assert labels["t1"]["source"] == "adjudicated" and labels["dup-near"]["label"] == N
    assert out.resolve.gate.status == "flagged" and out.resolve.n_pending_adjudication == 0


@pytest.mark.parametrize("metric", ["mean_cohen_kappa", "min_cohen_kappa", "krippendorff_alpha",
                                    "fleiss_kappa", "gwet_ac1", "brennan_prediger"])
def test_gate_metrics_threshold(batch_dir, labels_dir, task, tmp_path, metric):
    # 6 overlap items, A and B disagree on one: kappa by hand
    #        B:N  B:V
    # A:N     2    1      p_o = 5/6, A: N 3/6, B: N 2/6
    # A:V     0    3      p_e = 3/6*2/6 + 3/6*4/6 = 1/2, kappa = (5/6 - 1/2) / (1/2) = 2/3
    # AC1: pi_N = 5/12, p_e = 2 * 5/12 * 7/12 = 70/144, AC1 = (5/6 - 70/144) / (74/144) = 50/74 = 0.676
    # Brennan-Prediger: (5/6 - 1/2) / (1/2) = 2/3. All between 0.6 and 0.7.
    a = {"t0": N, "t1": N, "t2": N, "t3": V, "t4": V, "t5": V}
    b = {"t0": N, "t1": N, "t2": V, "t3": V, "t4": V, "t5": V}
    _import(batch_dir, labels_dir, task, tmp_path, {"A": a, "B": b})
    cfg = {"gate_metric": metric, "gate_bound": "estimate"}
    report, g = agreement_report(batch_dir, labels_dir, task, _cfg(**cfg, gate_threshold=0.6))
    assert report.mean_cohen_kappa == pytest.approx(2 / 3)
    assert report.gwet_ac1 == pytest.approx(50 / 74)
    assert g.value == pytest.approx(report.metric(metric)) and g.estimate == g.value
    assert g.passed == (g.value >= 0.6)
    _, g = agreement_report(batch_dir, labels_dir, task, _cfg(**cfg, gate_threshold=0.7))
    assert g.status == "flagged"
    # on its lower bound, 6 items are too few to pass even at 0.6: one disagreement in six
    _, g = agreement_report(batch_dir, labels_dir, task, _cfg(gate_metric=metric, gate_threshold=0.6))
    assert g.status == "flagged" and g.bound == "lower" and g.value < g.estimate
    assert g.value == pytest.approx(report.intervals[metric]["low"])


def test_unmeasured_when_too_little_overlap(batch_dir, labels_dir, task, tmp_path):
    _import(batch_dir, labels_dir, task, tmp_path)
    res = resolve_labels(batch_dir, labels_dir, task, _cfg(gate_threshold=-1.0, min_overlap_items=5))
    assert res.gate.status == "unmeasured" and "5 needed" in res.gate.reason
    assert {x["id"] for x in _queue(labels_dir)} == {"t1", "t2"}


def test_single_label_overlap_passes(batch_dir, labels_dir, task, tmp_path):
    _import(batch_dir, labels_dir, task, tmp_path, {"A": {"t0": V, "t1": V}, "B": {"t0": V, "t1": V}})
    kappa = _cfg(gate_metric="mean_cohen_kappa", gate_bound="estimate")
    res = resolve_labels(batch_dir, labels_dir, task, kappa)
    assert res.gate.status == "passed" and res.gate.value is None and "undefined" in res.gate.reason
    # AC1 is defined on a single label (chance term 0): perfect agreement, interval [1, 1]
    res = resolve_labels(batch_dir, labels_dir, task, _cfg())
    assert res.gate.status == "passed" and res.gate.value == 1.0 and res.gate.estimate == 1.0


def test_propagation_respects_kinds_and_similarity(batch_dir, labels_dir, task, tmp_path):
    _import(batch_dir, labels_dir, task, tmp_path)
    resolve_labels(batch_dir, labels_dir, task, _cfg(gate_threshold=-1.0, propagate_kinds=["exact"]))
    assert "dup-near" not in read_labels(labels_dir) and "dup-exact" in read_labels(labels_dir)
    resolve_labels(batch_dir, labels_dir, task, _cfg(gate_threshold=-1.0, propagate_min_similarity=0.95))
    assert "dup-near" not in read_labels(labels_dir)


def test_adjudication_overrides_and_validates(batch_dir, labels_dir, task, tmp_path):
    _import(batch_dir, labels_dir, task, tmp_path)
    adj = write_jsonl(tmp_path / "adj.jsonl", [{"id": "t0", "label": N, "note": "context matters"}])
    apply_adjudication(adj, labels_dir, task, batch_dir=batch_dir, config=_cfg(gate_threshold=-1.0))
    labels = read_labels(labels_dir)
    assert labels["t0"]["label"] == N and labels["t0"]["source"] == "adjudicated"
    assert labels["dup-exact"]["label"] == N  # duplicates follow the adjudicated label
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "t1", "label": "neither"}\n{"id": "zzz", "label": "neither"}\n'
                   '{"id": "t2", "label": "meh"}\n{"id": "t1", "label": "violating"}\n{"id": "t3", "label": null}\n')
    with pytest.raises(AnnotationFileError) as ei:
        apply_adjudication(str(bad), labels_dir, task, batch_dir=batch_dir)
    assert [loc for loc, _ in ei.value.problems] == [f"{bad}:2", f"{bad}:3", f"{bad}:4"]


def test_adjudication_csv(batch_dir, labels_dir, task, tmp_path):
    _import(batch_dir, labels_dir, task, tmp_path)
    p = tmp_path / "adj.csv"
    p.write_text("id,label,adjudicator\nt2,violating,ex\n")
    out = apply_adjudication(str(p), labels_dir, task, batch_dir=batch_dir, config=_cfg(gate_threshold=-1.0))
    assert out.n_applied == 1 and read_labels(labels_dir)["t2"]["label"] == V


def test_resolve_without_annotations(batch_dir, labels_dir, task):
    res = resolve_labels(batch_dir, labels_dir, task, _cfg())
    assert res.n_resolved == 0 and res.n_unlabelled == 8 and res.gate.status == "unmeasured"
    assert read_labels(labels_dir) == {}
