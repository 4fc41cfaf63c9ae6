"""Reading labels back: canonical JSONL/CSV, Label Studio and Argilla exports, validation, idempotency."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from al_ray.errors import InputError
from al_ray.labeling import AnnotationFileError, export_batch, import_annotations, resolve_labels
from al_ray.labeling.formats.labelstudio import export_task
from al_ray.schemas import ANNOTATIONS_SCHEMA
from tests.labeling.conftest import read_labels, write_jsonl


def _annotations(labels_dir: str) -> list[dict]:
    t = pq.read_table(str(Path(labels_dir) / "annotations.parquet"))
    assert t.schema.equals(ANNOTATIONS_SCHEMA, check_metadata=False)
    return t.to_pylist()


def test_canonical_jsonl_import_and_idempotent_reimport(batch_dir, labels_dir, task, tmp_path):
    f = write_jsonl(tmp_path / "ann1.jsonl", [
        {"id": "t0", "annotator_id": "ann1", "label": "violating", "note": "slur", "round": 2},
        {"id": "t1", "annotator_id": "ann1", "label": "neither"},
        {"id": "t2", "annotator_id": "ann1", "label": None},  # not labelled yet: skipped
    ])
    res = import_annotations([f], batch_dir, labels_dir, task, round=2)
    assert (res.n_read, res.n_new, res.n_skipped, res.n_total) == (2, 2, 1, 2)
    rows = _annotations(labels_dir)
    assert rows[0] == {"id": "t0", "annotator_id": "ann1", "label": "violating", "note": "slur", "round": 2,
                       "source_file": f}
    before = Path(labels_dir, "annotations.parquet").read_bytes()
    again = import_annotations([f], batch_dir, labels_dir, task, round=2)
    assert (again.n_new, again.n_updated, again.n_unchanged, again.n_total) == (0, 0, 2, 2)
    assert Path(labels_dir, "annotations.parquet").read_bytes() == before  # not even rewritten


def test_conflicting_reimport_needs_replace(batch_dir, labels_dir, task, tmp_path):
    f1 = write_jsonl(tmp_path / "a.jsonl", [{"id": "t0", "annotator_id": "ann1", "label": "violating"}])
    f2 = write_jsonl(tmp_path / "b.jsonl", [{"id": "t0", "annotator_id": "ann1", "label": "neither"}])
    import_annotations([f1], batch_dir, labels_dir, task, round=2)
    with pytest.raises(AnnotationFileError) as ei:
        import_annotations([f2], batch_dir, labels_dir, task, round=2)
    assert ei.value.location == f"{f2}:1" and "replace" in str(ei.value)
    res = import_annotations([f2], batch_dir, labels_dir, task, round=2, replace=True)
    assert res.n_updated == 1 and _annotations(labels_dir)[0]["label"] == "neither"


def test_malformed_jsonl_errors_name_file_and_line(batch_dir, labels_dir, task, tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text("\n".join([
        json.dumps({"id": "t0", "annotator_id": "ann1", "label": "violating"}),   # 1 ok
        json.dumps({"id": "nope", "annotator_id": "ann1", "label": "neither"}),   # 2 unknown id
        json.dumps({"id": "t1", "annotator_id": "ann1", "label": "spam"}),        # 3 unknown label
        json.dumps({"id": "t2", "annotator_id": "ann1", "label": "neither", "round": 1}),  # 4 other round
        json.dumps({"id": "t3", "label": "neither"}),                             # 5 no annotator
        json.dumps({"id": "t0", "annotator_id": "ann1", "label": "neither"}),     # 6 duplicate of 1
        "{not json",                                                              # 7
        json.dumps({"id": "dup-exact", "annotator_id": "ann1", "label": "neither"}),  # 8 dropped duplicate
        "",
    ]) + "\n", encoding="utf-8")
    with pytest.raises(AnnotationFileError) as ei:
        import_annotations([str(p)], batch_dir, labels_dir, task, round=2)
    problems = dict(ei.value.problems)
    assert set(problems) == {f"{p}:{n}" for n in (2, 3, 4, 5, 6, 7, 8)}
    assert "unknown item id 'nope'" in problems[f"{p}:2"]
    assert "unknown label 'spam'" in problems[f"{p}:3"]
    assert "round 1" in problems[f"{p}:4"]
    assert "missing annotator id" in problems[f"{p}:5"]
    assert "duplicate" in problems[f"{p}:6"] and f"{p}:1" in problems[f"{p}:6"]
    assert "invalid JSON" in problems[f"{p}:7"]
    assert "t0" in problems[f"{p}:8"]  # names the representative to label instead
    assert isinstance(ei.value, InputError) and str(ei.value).startswith(f"{p}:")
    assert not Path(labels_dir, "annotations.parquet").exists()  # all or nothing


def test_path_like_ids_are_opaque(tmp_path, task, labels_dir):
    from tests.labeling.conftest import batch_rows, write_batch

    rows = batch_rows(2)
    rows[0]["id"] = "../../etc/passwd"
    bd = write_batch(str(tmp_path / "b"), rows)
    f = write_jsonl(tmp_path / "a.jsonl", [{"id": "../../etc/passwd", "annotator_id": "../x", "label": "neither"}])
    import_annotations([f], bd, labels_dir, task, round=2)
    assert _annotations(labels_dir)[0]["id"] == "../../etc/passwd"
    assert sorted(p.name for p in Path(labels_dir).iterdir()) == ["annotations.parquet"]


def test_csv_with_multiline_note(batch_dir, labels_dir, task, tmp_path):
    p = tmp_path / "ann.csv"
    p.write_text('id,annotator_id,label,note\nt0,ann2,violating,"two\nline note"\nt1,ann2,neither,\n'
                 't2,,neither,\nt3,ann2,maybe,\n', encoding="utf-8")
    with pytest.raises(AnnotationFileError) as ei:
        import_annotations([str(p)], batch_dir, labels_dir, task, round=2)
    # the record on line 5 is "t2" (the quoted note spans lines 2-3), t3 on line 6
    assert dict(ei.value.problems).keys() == {f"{p}:5", f"{p}:6"}
    p.write_text('id,annotator_id,label,note\nt0,ann2,violating,"two\nline note"\nt1,ann2,neither,\n', encoding="utf-8")
    import_annotations([str(p)], batch_dir, labels_dir, task, round=2)
    assert _annotations(labels_dir)[0]["note"] == "two\nline note"


def test_csv_header_problem(batch_dir, labels_dir, task, tmp_path):
    p = tmp_path / "ann.csv"
    p.write_text("item,who,label\nt0,a,neither\n")
    with pytest.raises(AnnotationFileError, match=r"ann\.csv:1: .*lacks column"):
        import_annotations([str(p)], batch_dir, labels_dir, task, round=2)


def test_wrong_round_call(batch_dir, labels_dir, task, tmp_path):
    f = write_jsonl(tmp_path / "a.jsonl", [{"id": "t0", "annotator_id": "a", "label": "neither"}])
    with pytest.raises(InputError, match="round 3"):
        import_annotations([f], batch_dir, labels_dir, task, round=3)


def test_label_studio_export_round_trip(batch_dir, labels_dir, task, config, tmp_path):
    """Export tasks, 'annotate' them as Label Studio would, import the JSON export back."""
    out = tmp_path / "ls"
    export_batch(batch_dir, config, task, rng=np.random.default_rng(1), out_dir=str(out))
    tasks = json.loads((out / "labelstudio_tasks.json").read_text(encoding="utf-8"))
    exported = []
    for n, t in enumerate(tasks, start=1):
        item = t["data"]
        label = t["predictions"][0]["result"][0]["value"]["choices"][0]  # annotators accept the prediction
        anns = [(1, label, None), ({"id": 2, "email": "bob@example.com"}, label, "checked")]
        e = export_task(item["id"], item["text"], item["round"], anns, task_id=n)
        e["predictions"] = t["predictions"]
        exported.append(e)
    exported[0]["annotations"].append({"completed_by": 3, "result": [], "was_cancelled": True})
    ls_file = tmp_path / "project-1-at-2026.json"
    ls_file.write_text(json.dumps(exported, indent=2, ensure_ascii=False), encoding="utf-8")
    res = import_annotations([str(ls_file)], batch_dir, labels_dir, task, round=2)
    assert res.n_new == 16 and res.n_skipped == 1 and res.per_annotator == {"1": 8, "bob@example.com": 8}
    anns = _annotations(labels_dir)
    assert {a["note"] for a in anns if a["annotator_id"] == "bob@example.com"} == {"checked"}
    by_id = {t["data"]["id"]: t["predictions"][0]["result"][0]["value"]["choices"][0] for t in tasks}
    assert all(a["label"] == by_id[a["id"]] for a in anns)
    again = import_annotations([str(ls_file)], batch_dir, labels_dir, task, round=2)
    assert again.n_new == 0 and again.n_unchanged == 16
    res = resolve_labels(batch_dir, labels_dir, task, config)
    assert res.n_resolved == 8 and res.gate.status in ("passed", "unmeasured")
    assert {k: v["label"] for k, v in read_labels(labels_dir).items() if k in by_id} == by_id


def test_label_studio_errors_name_task_line(batch_dir, labels_dir, task, tmp_path):
    good = export_task("t0", "x", 2, [(1, "neither", None)], task_id=1)
    other_round = export_task("t1", "x", 1, [(1, "neither", None)], task_id=2)
    bad_label = export_task("t2", "x", 2, [(1, "toxic", None)], task_id=3)
    no_user = export_task("t3", "x", 2, [(None, "neither", None)], task_id=4)
    text = "[\n" + ",\n".join(json.dumps(t) for t in (good, other_round, bad_label, no_user)) + "\n]\n"
    f = tmp_path / "export.json"
    f.write_text(text)
    with pytest.raises(AnnotationFileError) as ei:
        import_annotations([str(f)], batch_dir, labels_dir, task, round=2)
    locs = [loc for loc, _ in ei.value.problems]
    assert [loc.split(" ")[0] for loc in locs] == [f"{f}:3", f"{f}:4", f"{f}:5"]
    assert "toxic" in ei.value.problems[1][1]


def test_label_studio_invalid_json_names_line(batch_dir, labels_dir, task, tmp_path):
    f = tmp_path / "export.json"
    f.write_text('[\n{"data": {"id": "t0"}, "annotations": []},\n{"data": oops}\n]')
    with pytest.raises(InputError) as ei:
        import_annotations([str(f)], batch_dir, labels_dir, task, round=2)
    assert ei.value.location == f"{f}:3"


def test_argilla_records_import(batch_dir, labels_dir, task, tmp_path):
    recs = [
        {"id": "t0", "fields": {"text": "x"}, "metadata": {"round": 2},
         "responses": {"label": [{"value": "violating", "user_id": "u1"}, {"value": "neither", "user_id": "u2"}],
                       "note": [{"value": "hmm", "user_id": "u2"}]}},
        {"id": "t1", "label.responses": ["neither"], "label.responses.users": ["u1"]},
        {"id": "t2", "responses": {"label": [{"value": "neither", "user_id": "u1", "status": "discarded"}]}},
    ]
    f = tmp_path / "argilla_export.json"
    f.write_text(json.dumps(recs, indent=1))
    res = import_annotations([str(f)], batch_dir, labels_dir, task, round=2, fmt="argilla")
    assert res.n_new == 3 and res.n_skipped == 1
    anns = {(a["id"], a["annotator_id"]): a for a in _annotations(labels_dir)}
    assert anns[("t0", "u2")]["note"] == "hmm" and anns[("t1", "u1")]["label"] == "neither"


def test_unknown_extension(batch_dir, labels_dir, task, tmp_path):
    f = tmp_path / "labels.xlsx"
    f.write_text("x")
    with pytest.raises(InputError, match="format"):
        import_annotations([str(f)], batch_dir, labels_dir, task, round=2)


def test_missing_file(batch_dir, labels_dir, task, tmp_path):
    with pytest.raises(InputError, match="not found"):
        import_annotations([str(tmp_path / "nope.jsonl")], batch_dir, labels_dir, task, round=2)
