"""The loop with `labeling.tool: labelstudio`: `al-ray run` pushes the batch to a real Label Studio
server, exits 3 while items are open (saying how many and where), and goes on when the same command
finds the batch complete: resolve, gate, fine-tune, next round (pushed in turn).

Two annotators (alice, bob) answer through Label Studio's API from the gold labels; bob disagrees
on one overlap item, which is a tie, so the run also waits for its adjudication.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import requests
import yaml

from al_ray.cli import main
from tests.labeling.test_labelstudio_live import ALICE, BOB, _assignments, _tasks, annotate

pytestmark = [pytest.mark.slow, pytest.mark.labelstudio]


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_run_pushes_waits_for_label_studio_and_goes_on(label_studio, ray_cluster, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.admin.token)
    cfg = {
        "run": {"name": "live", "seed": 3, "max_rounds": 2, "batch_size": 10, "label_budget": 20},
        "task": {"name": "loop", "labels": ["neither", "violating"], "positive_label": "violating",
                 "label_descriptions": {"neither": "a harmless message", "violating": "an abusive insult"}},
        "corpus": {"source": "demo", "n_rows": 300, "n_shards": 2, "test_fraction": 0.1},
        "scoring": {"mode": "classifier", "backend": "transformers", "max_input_tokens": 32},
        "selection": {"strategy": "cluster_margin", "threads": 1},
        "labeling": {"annotators": [ALICE, BOB], "overlap_fraction": 0.5, "min_overlap_items": 2,
                     "tool": "labelstudio", "labelstudio": {"url": label_studio.url}},
        "finetune": {"epochs": 1, "min_steps": 0, "batch_size": 4, "max_length": 32},
    }
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    cmd = ["run", str(config), "--run", str(run), "--no-report"]
    r0 = run / "rounds" / "r000"
    batch_dir, labels_dir = r0 / "batch", r0 / "labels"

    # 1. The batch goes to Label Studio; nothing is annotated yet: exit 3, saying how many and where.
    assert main(cmd) == 3
    out = _flat(capsys.readouterr().out)
    pid = json.loads((batch_dir / "labelstudio_project.json").read_text())["project_id"]
    assert "10 of 10 items still open in Label Studio" in out
    assert f"{label_studio.url}/projects/{pid}/data" in out
    headers = label_studio.access_headers(label_studio.admin)
    task_ids = sorted(t["id"] for t in _tasks(label_studio, pid, headers))
    assert len(task_ids) == 10

    # 2. The same command again: still waiting, and nothing new in Label Studio.
    assert main(cmd) == 3
    assert "10 of 10 items still open" in _flat(capsys.readouterr().out)
    assert sorted(t["id"] for t in _tasks(label_studio, pid, headers)) == task_ids

    # 3. The experts answer through Label Studio, from the gold labels; bob disagrees once.
    gold = pq.read_table(run / "data" / "gold" / "gold.parquet", columns=["id", "label"])
    gold = dict(zip(gold["id"].to_pylist(), gold["label"].to_pylist()))
    assigned = _assignments(str(batch_dir))
    disputed = sorted(i for i, who in assigned.items() if len(who) == 2)[0]
    flip = {"neither": "violating", "violating": "neither"}
    alice = {i: gold[i] for i, who in assigned.items() if ALICE in who}
    bob = {i: (flip[gold[i]] if i == disputed else gold[i]) for i, who in assigned.items() if BOB in who}
    annotate(label_studio, "alice", pid, alice)
    annotate(label_studio, "bob", pid, bob)

    # 4. Complete in Label Studio, but the tie needs an adjudicator: still exit 3, and it says so.
    assert main(cmd) == 3
    out = _flat(capsys.readouterr().out)
    assert "every item is annotated in Label Studio" in out and "1 item(s) await adjudication" in out
    anns = pq.read_table(labels_dir / "annotations.parquet").to_pylist()
    assert {a["annotator_id"] for a in anns} == {ALICE, BOB} and len(anns) == len(alice) + len(bob)
    queue = labels_dir / "adjudication.jsonl"
    rows = [json.loads(x) for x in queue.read_text().splitlines()]
    assert [r["id"] for r in rows] == [disputed]
    queue.write_text("".join(json.dumps({**r, "label": gold[r["id"]], "adjudicator": "lead"}) + "\n" for r in rows))
    assert main(["labels", "adjudicate", str(queue), "--batch-dir", str(batch_dir), "--labels-dir",
                 str(labels_dir), "--task", str(config), "--config", str(config)]) == 0
    capsys.readouterr()

    # 5. The same command finds round 0 complete: resolves, gates, fine-tunes, and pushes round 1.
    assert main(cmd) == 3
    out = _flat(capsys.readouterr().out)
    manifest = json.loads((run / "manifest.json").read_text())
    steps0 = manifest["rounds"]["000"]["steps"]
    assert steps0["labels"]["status"] == "done" and steps0["labels"]["n_labels"] == 10
    assert steps0["labels"]["n_overlap"] == sum(len(w) == 2 for w in assigned.values())
    assert steps0["finetune"]["status"] == "done" and (r0 / "model" / "merged").is_dir()
    labels = {r["id"]: r for r in pq.read_table(labels_dir / "labels.parquet").to_pylist()}
    assert labels[disputed]["label"] == gold[disputed] and labels[disputed]["source"] == "adjudicated"
    assert all(labels[i]["label"] == gold[i] for i in assigned)
    assert manifest["status"] == "waiting_for_labels" and manifest["status_info"]["round"] == 1
    pid1 = json.loads((run / "rounds" / "r001" / "batch" / "labelstudio_project.json").read_text())["project_id"]
    assert pid1 != pid and "10 of 10 items still open in Label Studio" in out
    project1 = requests.get(f"{label_studio.url}/api/projects/{pid1}", headers=headers, timeout=30).json()
    assert project1["title"] == "al-ray loop round 1"
    round1_ids = {t["data"]["id"] for t in _tasks(label_studio, pid1, headers)}
    assert len(round1_ids) == 10 and not round1_ids & set(assigned)  # a new batch, never re-selected
