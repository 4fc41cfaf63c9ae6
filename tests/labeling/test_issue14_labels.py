"""Two labelling bugs a new user hit (issue #14): an export silently reused with other annotators,
and a Label Studio export imported under Label Studio's numeric user ids instead of the names the
batch was assigned to."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from al_ray.cli import main
from al_ray.errors import ConfigError
from al_ray.labeling import LabelingConfig, export_batch, import_annotations
from al_ray.labeling.ingest import AnnotationFileError, read_annotations
from al_ray.labeling.formats.labelstudio import export_task
from al_ray.labeling.tools.labelstudio import read_assignments


def _assigned(out_dir: str) -> dict[str, list[str]]:
    return read_assignments(out_dir)  # the package's reader of assignments.jsonl


def test_export_with_other_annotators_is_not_silently_reused(batch_dir, task, tmp_path, capsys):
    args = ["labels", "export", batch_dir, "--labels", "neither,violating", "--annotators", "ann1,ann2"]
    assert main(args) == 0
    before = Path(batch_dir, "assignments.jsonl").read_text()
    capsys.readouterr()

    assert main([*args[:-1], "ann1,ann2,ann3"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{batch_dir}/export.json" in err and "already exported with other settings" in err
    assert "annotators ['ann1', 'ann2'] there, ['ann1', 'ann2', 'ann3'] asked" in err and "--force" in err
    assert Path(batch_dir, "assignments.jsonl").read_text() == before  # nothing reshuffled

    assert main([*args[:-2]]) == 0  # a rerun without options reuses the export, as before
    assert "reused completed export" in capsys.readouterr().out
    assert main([*args, "--overlap", "0.9"]) == 2
    assert "overlap_fraction 0.2 there, 0.9 asked" in " ".join(capsys.readouterr().err.split())
    assert main([*args[:-1], "ann1,ann2,ann3", "--force"]) == 0
    assert {a for who in _assigned(batch_dir).values() for a in who} == {"ann1", "ann2", "ann3"}

    with pytest.raises(ConfigError, match="formats"):  # the API refuses the same way
        export_batch(batch_dir, LabelingConfig(annotators=["ann1", "ann2", "ann3"], formats=["jsonl"]), task,
                     rng=np.random.default_rng(0))


def _ls_export(tmp_path: Path, out: str, user_of: dict[str, int], extra: list[tuple[str, int]] = ()) -> str:
    """A Label Studio JSON export as 1.23 writes it: ``completed_by`` is the numeric user id only."""
    tasks = json.loads(Path(out, "labelstudio_tasks.json").read_text(encoding="utf-8"))
    exported = []
    for n, t in enumerate(tasks, start=1):
        d = t["data"]
        anns = [(user_of[a], "neither", None) for a in d["assigned_to"]]
        anns += [(uid, "neither", None) for item, uid in extra if item == d["id"]]
        exported.append(export_task(d["id"], d["text"], d["round"], anns, task_id=n, assigned_to=d["assigned_to"]))
    f = tmp_path / "project-7-at-2026-12-01.json"
    f.write_text(json.dumps(exported, indent=1), encoding="utf-8")
    return str(f)


def test_label_studio_import_names_users_by_their_assignments(batch_dir, labels_dir, task, config, tmp_path):
    out = str(tmp_path / "out")
    export_batch(batch_dir, config, task, rng=np.random.default_rng(1), out_dir=out)
    f = _ls_export(tmp_path, out, {"ann1": 11, "ann2": 12, "ann3": 13})
    res = import_annotations([f], batch_dir, labels_dir, task, round=2)
    assert set(res.per_annotator) == {"ann1", "ann2", "ann3"}  # not {"11", "12", "13"}
    got = {(a["id"], a["annotator_id"]) for a in read_annotations(labels_dir)}
    assert got == {(i, a) for i, who in _assigned(out).items() for a in who}


def test_label_studio_user_the_assignments_cannot_name_is_an_error_until_mapped(batch_dir, labels_dir, task, config,
                                                                               tmp_path, capsys):
    out = str(tmp_path / "out")
    export_batch(batch_dir, config, task, rng=np.random.default_rng(1), out_dir=out)
    assigned = _assigned(out)
    stray = next(i for i, who in assigned.items() if "ann3" not in who)
    # user 13 is ann3, but also labelled an item assigned to others: no single assigned name fits it
    f = _ls_export(tmp_path, out, {"ann1": 11, "ann2": 12, "ann3": 13}, extra=[(stray, 13)])
    with pytest.raises(AnnotationFileError) as ei:
        import_annotations([f], batch_dir, labels_dir, task, round=2)
    assert len(ei.value.problems) == 1
    loc, msg = ei.value.problems[0]
    assert loc.startswith(f"{f}:") and "Label Studio user 13" in msg and "--user-map 13=NAME" in msg
    assert read_annotations(labels_dir) == []

    args = ["labels", "import", f, "--batch-dir", batch_dir, "--labels-dir", labels_dir,
            "--labels", "neither,violating"]
    assert main(args) == 2
    assert main([*args, "--user-map", "13=ann3", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res["per_annotator"]) == {"ann1", "ann2", "ann3"}
    assert (stray, "ann3") in {(a["id"], a["annotator_id"]) for a in read_annotations(labels_dir)}


def test_label_studio_export_without_assignments_keeps_the_numbers(batch_dir, labels_dir, task, tmp_path):
    """Tasks al_ray did not write carry no names to go by: the ids are all there is (or --user-map)."""
    f = tmp_path / "export.json"
    f.write_text(json.dumps([export_task("t0", "x", 2, [(11, "neither", None)], task_id=1)]))
    assert import_annotations([str(f)], batch_dir, labels_dir, task, round=2).per_annotator == {"11": 1}
    res = import_annotations([str(f)], batch_dir, str(tmp_path / "l2"), task, round=2, user_map={"11": "alice"})
    assert res.per_annotator == {"alice": 1}
