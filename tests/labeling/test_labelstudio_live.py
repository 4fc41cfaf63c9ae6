"""`al-ray labels push/pull` against a real Label Studio server (tests/servers.py starts it once).

The annotators (alice, bob) sign up through Label Studio's own forms and annotate through its REST
API with their own personal access tokens, as the web UI would on their behalf; al_ray only ever
holds the admin's token (from the environment). Faults are real too: the "server down" case puts
the fault proxy of the fault suite between al_ray and the server and drops the export request.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import requests
import yaml

from al_ray.cli import main
from al_ray.labeling.tools.labelstudio import offered_labels
from al_ray.labeling.tools.labelstudio import read_assignments
from al_ray.testing.s3_proxy import FaultProxy
from tests.labeling.conftest import LABELS, batch_rows, write_batch

pytestmark = [pytest.mark.slow, pytest.mark.labelstudio]

ALICE, BOB = "alice@al-ray.test", "bob@al-ray.test"
DESCRIPTIONS = {"neither": "a friendly, harmless message", "violating": "an abusive or hateful insult"}


def _files(tmp_path: Path, **labelstudio) -> tuple[str, str]:
    """(task file, labelling config file): two annotators, half the items overlap."""
    task = tmp_path / "task.yaml"
    task.write_text(yaml.safe_dump({"task": {"name": "violating", "labels": LABELS,
                                             "label_descriptions": DESCRIPTIONS}}))
    cfg = tmp_path / "labeling.yaml"
    cfg.write_text(yaml.safe_dump({"labeling": {"annotators": [ALICE, BOB], "overlap_fraction": 0.5,
                                                "min_overlap_items": 2, "labelstudio": labelstudio}}))
    return str(task), str(cfg)


def _batch(tmp_path: Path, prefix: str, n: int = 8) -> str:
    return write_batch(str(tmp_path / "run" / "batch"), batch_rows(n, prefix=prefix))


def _assignments(batch_dir: str) -> dict[str, list[str]]:
    return read_assignments(batch_dir)  # the package's reader of assignments.jsonl


def _admin(server) -> dict:
    return server.access_headers(server.admin)


def _project_id(batch_dir: str) -> int:
    return int(json.loads(Path(batch_dir, "labelstudio_project.json").read_text())["project_id"])


def _tasks(server, pid: int, headers: dict) -> list[dict]:
    r = requests.get(f"{server.url}/api/tasks/", headers=headers,
                     params={"project": pid, "page_size": 500, "fields": "all"}, timeout=30)
    r.raise_for_status()
    return r.json()["tasks"]


def annotate(server, who: str, pid: int, labels_by_item: dict[str, str]) -> int:
    """``who`` labels the items through Label Studio's API with its own token; returns how many."""
    headers = server.access_headers(server.annotators[who])
    n = 0
    for t in _tasks(server, pid, headers):
        label = labels_by_item.get(t["data"]["id"])
        if label is None:
            continue
        result = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]
        r = requests.post(f"{server.url}/api/tasks/{t['id']}/annotations/", headers=headers,
                          json={"result": result, "lead_time": 2.5}, timeout=30)
        assert r.status_code == 201, r.text
        n += 1
    return n


def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_push_creates_the_project_and_pushing_again_creates_nothing(label_studio, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.admin.token)
    task, cfg = _files(tmp_path)
    batch = _batch(tmp_path, "push-")
    args = ["labels", "push", batch, "--tool", "labelstudio", "--url", label_studio.url, "--task", task,
            "--config", cfg, "--json"]
    code, out, _ = _cli(args, capsys)
    assert code == 0
    first = json.loads(out)["push"]
    assert first["created_project"] and first["n_created"] == 8 and first["n_existing"] == 0

    pid = _project_id(batch)
    headers = _admin(label_studio)
    project = requests.get(f"{label_studio.url}/api/projects/{pid}", headers=headers, timeout=30).json()
    assert project["title"] == "al-ray violating round 2"
    assert offered_labels(project["label_config"]) == LABELS
    assert f'hint="{DESCRIPTIONS["violating"]}"' in project["label_config"]
    assert DESCRIPTIONS["neither"] in project["expert_instruction"]
    tasks = requests.get(f"{label_studio.url}/api/projects/{pid}/export", headers=headers,
                         params={"exportType": "JSON", "download_all_tasks": "true"}, timeout=30).json()
    by_item = {t["data"]["id"]: t for t in tasks}
    rows = {r["id"]: r for r in batch_rows(8, prefix="push-")}
    assert set(by_item) == set(rows)
    assigned = _assignments(batch)
    assert sorted(len(v) for v in assigned.values()) == [1, 1, 1, 1, 2, 2, 2, 2]
    listed = {t["data"]["id"]: t for t in _tasks(label_studio, pid, headers)}
    for item_id, row in rows.items():
        t = by_item[item_id]
        assert t["data"]["assigned_to"] == assigned[item_id]
        assert listed[item_id]["overlap"] == len(assigned[item_id])  # overlap items go to 2 distinct people
        assert t["data"]["p_violating"] == pytest.approx(row["p_violating"], abs=1e-4)
        pred = listed[item_id]["predictions"][0]
        assert pred["result"][0]["value"]["choices"] == [row["predicted_label"]]
        assert pred["score"] == pytest.approx(row[f"p_{row['predicted_label']}"])
        assert pred["model_version"] == "violating-round-2"

    code, out, _ = _cli(args, capsys)
    assert code == 0
    again = json.loads(out)["push"]
    assert again["project_id"] == pid and not again["created_project"]
    assert again["n_created"] == 0 and again["n_existing"] == 8 and again["n_overlap_set"] == 0
    assert sorted(t["id"] for t in _tasks(label_studio, pid, headers)) == sorted(t["id"] for t in tasks)
    same_title = requests.get(f"{label_studio.url}/api/projects/", headers=headers,
                              params={"title": project["title"]}, timeout=30).json()["results"]
    assert [p["id"] for p in same_title if p["description"] == project["description"]] == [pid]

    # The batch-key lookup finds the project again even when the local record is lost.
    Path(batch, "labelstudio_project.json").unlink()
    code, out, _ = _cli(args, capsys)
    assert code == 0 and json.loads(out)["push"]["project_id"] == pid
    assert json.loads(out)["push"]["n_created"] == 0


def test_pull_names_the_annotators_is_idempotent_and_counts_open_items(label_studio, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.admin.token)
    task, cfg = _files(tmp_path)
    batch = _batch(tmp_path, "pull-")
    labels_dir = str(Path(batch).parent / "labels")
    assert main(["labels", "push", batch, "--url", label_studio.url, "--task", task, "--config", cfg]) == 0
    capsys.readouterr()
    pid = _project_id(batch)
    assigned = _assignments(batch)
    gold = {r["id"]: ("violating" if i % 3 == 0 else "neither") for i, r in enumerate(batch_rows(8, prefix="pull-"))}
    overlap = sorted(i for i, who in assigned.items() if len(who) == 2)
    disputed = overlap[0]
    left_open = next(i for i, who in assigned.items() if who == [BOB])
    alice = {i: gold[i] for i, who in assigned.items() if ALICE in who}
    bob = {i: gold[i] for i, who in assigned.items() if BOB in who and i != left_open}
    bob[disputed] = "neither" if gold[disputed] == "violating" else "violating"  # the one disagreement
    assert annotate(label_studio, "alice", pid, alice) == len(alice)
    assert annotate(label_studio, "bob", pid, bob) == len(bob)

    pull = ["labels", "pull", batch, "--url", label_studio.url, "--task", task, "--config", cfg]
    code, out, _ = _cli([*pull, "--json"], capsys)
    assert code == 0
    res = json.loads(out)
    assert res["imported"]["n_new"] == len(alice) + len(bob)
    assert res["n_open"] == 1 and res["open_ids"] == [left_open] and not res["complete"]
    table = pq.read_table(Path(labels_dir, "annotations.parquet")).to_pylist()
    assert {a["annotator_id"] for a in table} == {ALICE, BOB}  # names, not Label Studio's numeric ids
    got = {(a["id"], a["annotator_id"]): a["label"] for a in table}
    assert got[(disputed, ALICE)] != got[(disputed, BOB)]
    assert all(got[(i, ALICE)] == lab for i, lab in alice.items())

    code, out, _ = _cli([*pull, "--json"], capsys)  # again: nothing changes
    again = json.loads(out)
    assert code == 0 and again["imported"]["n_new"] == 0 and again["imported"]["n_updated"] == 0
    assert again["imported"]["n_unchanged"] == len(alice) + len(bob)
    assert pq.read_table(Path(labels_dir, "annotations.parquet")).to_pylist() == table

    assert annotate(label_studio, "bob", pid, {left_open: gold[left_open]}) == 1
    code, out, _ = _cli(pull, capsys)
    assert code == 0 and "all 8 items have every annotation" in out and "1 new" in out
    code, out, _ = _cli(["labels", "resolve", "--batch-dir", batch, "--labels-dir", labels_dir, "--task", task,
                         "--config", cfg, "--json"], capsys)
    resolved = json.loads(out)
    assert code == 0 and resolved["n_pending_adjudication"] == 1 and resolved["n_unlabelled"] == 0
    queue = [json.loads(x) for x in Path(labels_dir, "adjudication.jsonl").read_text().splitlines()]
    assert [q["id"] for q in queue] == [disputed]


def test_a_wrong_token_is_refused_clearly_and_never_printed(label_studio, tmp_path, monkeypatch, capsys):
    task, cfg = _files(tmp_path)
    batch = _batch(tmp_path, "token-")
    args = ["labels", "push", batch, "--url", label_studio.url, "--task", task, "--config", cfg]
    real = label_studio.admin.token
    forged = real[:-6] + ("AAAAAA" if not real.endswith("AAAAAA") else "BBBBBB")  # a JWT whose signature fails
    legacy = "0123456789abcdef0123456789abcdef01234567"
    for bad in (forged, legacy):
        monkeypatch.setenv("LABEL_STUDIO_API_KEY", bad)
        code, out, err = _cli(args, capsys)
        assert code == 2
        assert "refused" in err and "$LABEL_STUDIO_API_KEY" in err and "401" in err
        assert bad not in out + err and "Traceback" not in err
    assert not Path(batch, "labelstudio_project.json").exists()
    monkeypatch.delenv("LABEL_STUDIO_API_KEY")
    code, _, err = _cli(args, capsys)
    assert code == 2 and "set the environment variable LABEL_STUDIO_API_KEY" in err
    monkeypatch.setenv("SOME_OTHER_VAR", real)  # --token-env names where the token is
    assert main([*args, "--token-env", "SOME_OTHER_VAR"]) == 0
    assert real not in capsys.readouterr().out


def _pushed_and_annotated_by_alice(label_studio, tmp_path, monkeypatch, prefix: str, **files_kw):
    """A batch pushed to the server, with alice's share annotated 'neither' through the API."""
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.admin.token)
    task, cfg = _files(tmp_path, **files_kw)
    batch = _batch(tmp_path, prefix)
    assert main(["labels", "push", batch, "--url", label_studio.url, "--task", task, "--config", cfg]) == 0
    pid = _project_id(batch)
    assigned = _assignments(batch)
    annotate(label_studio, "alice", pid, {i: "neither" for i, who in assigned.items() if ALICE in who})
    return task, cfg, batch, Path(batch).parent / "labels", pid, assigned


def test_server_down_mid_pull_is_retried_then_fails_clearly_importing_nothing(label_studio, tmp_path, monkeypatch,
                                                                             capsys):
    task, cfg, batch, labels_dir, pid, assigned = _pushed_and_annotated_by_alice(
        label_studio, tmp_path, monkeypatch, "down-", attempts=3)
    capsys.readouterr()

    proxy = FaultProxy(label_studio.url)
    try:
        # The project, its users and the token exchange get through; the export never does.
        proxy.add("drop", key=r"/export$", times=None)
        pull = ["labels", "pull", batch, "--url", proxy.url, "--task", task, "--config", cfg]
        code, out, err = _cli(pull, capsys)
        # exit 4 (the one table in al_ray.errors, issue 17): a server down after retries, like storage
        # failing after retries, is "retry later", not bad input (2)
        assert code == 4 and "Traceback" not in err
        flat = " ".join(err.split())
        assert f"did not answer GET /api/projects/{pid}/export after 3 attempt(s)" in flat
        assert "Nothing was imported" in flat
        assert len(proxy.injected("drop")) == 3  # retried, then given up
        assert not labels_dir.exists() or not any(labels_dir.iterdir())  # nothing half-imported

        proxy.reset()
        proxy.add("drop", key=r"/export$", times=2)  # down twice, then back: the third attempt succeeds
        code, out, _ = _cli([*pull, "--json"], capsys)
        assert code == 0 and len(proxy.injected("drop")) == 2
        assert json.loads(out)["imported"]["n_new"] == sum(ALICE in w for w in assigned.values())
    finally:
        proxy.close()


def test_a_project_edited_by_hand_is_refused_with_the_reason(label_studio, tmp_path, monkeypatch, capsys):
    task, cfg, batch, labels_dir, pid, assigned = _pushed_and_annotated_by_alice(
        label_studio, tmp_path, monkeypatch, "edited-")
    headers = _admin(label_studio)
    project = requests.get(f"{label_studio.url}/api/projects/{pid}", headers=headers, timeout=30).json()
    edited = project["label_config"].replace(
        project["label_config"][project["label_config"].index('    <Choice value="violating"'):
                                project["label_config"].index("  </Choices>")], "")
    assert offered_labels(edited) == ["neither"]
    r = requests.patch(f"{label_studio.url}/api/projects/{pid}", headers=headers, json={"label_config": edited},
                       timeout=30)
    assert r.status_code == 200, r.text
    capsys.readouterr()
    for cmd in (["labels", "pull", batch], ["labels", "push", batch]):
        code, _, err = _cli([*cmd, "--url", label_studio.url, "--task", task, "--config", cfg], capsys)
        flat = " ".join(err.split())
        assert code == 2, cmd
        assert f"Label Studio project {pid}" in flat and "no longer offers ['violating']" in flat
        assert "edited by hand" in flat
    assert not labels_dir.exists() or not any(labels_dir.iterdir())
