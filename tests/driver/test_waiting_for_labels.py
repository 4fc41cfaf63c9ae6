"""With real (not simulated) annotators the run stops at 'waiting for labels' (exit 3), says what to do,
and resumes once the labels are imported with `al-ray labels import`."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
import yaml

from al_ray.cli import main


@pytest.mark.slow
def test_run_waits_for_labels_then_resumes(tmp_path, ray_cluster, capsys):
    cfg = {
        "run": {"name": "human", "seed": 1, "max_rounds": 1, "batch_size": 12, "label_budget": 12},
        "task": {"labels": ["neither", "violating"], "positive_label": "violating"},
        "corpus": {"source": "demo", "n_rows": 300, "n_shards": 2, "test_fraction": 0.1},
        "scoring": {"mode": "classifier", "backend": "transformers", "max_input_tokens": 32},
        "selection": {"strategy": "cluster_margin", "threads": 1},
        "labeling": {"annotators": ["ann", "bob"], "overlap_fraction": 1.0},
        "finetune": {"epochs": 1, "min_steps": 0, "batch_size": 4, "max_length": 32},
    }
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"

    assert main(["run", str(config), "--run", str(run), "--one-round", "--no-report"]) == 3
    out = capsys.readouterr().out
    assert "waiting_for_labels" in out and "al-ray labels import" in out
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["status"] == "waiting_for_labels"

    # The experts answer every assignment from the gold labels (both agree: the gate passes).
    batch_dir, labels_dir = run / "rounds" / "r000" / "batch", run / "rounds" / "r000" / "labels"
    gold = pq.read_table(run / "data" / "gold" / "gold.parquet", columns=["id", "label"])
    gold = dict(zip(gold["id"].to_pylist(), gold["label"].to_pylist()))
    answers = tmp_path / "answers.jsonl"
    with answers.open("w") as f:
        for line in (batch_dir / "assignments.jsonl").read_text().splitlines():
            a = json.loads(line)
            f.write(json.dumps({"id": a["id"], "annotator_id": a["annotator_id"], "label": gold[a["id"]],
                                "round": 0}) + "\n")
    assert main(["labels", "import", str(answers), "--batch-dir", str(batch_dir), "--labels-dir", str(labels_dir),
                 "--labels", "neither,violating"]) == 0

    assert main(["run", str(config), "--run", str(run), "--one-round", "--no-report"]) == 0
    manifest = json.loads((run / "manifest.json").read_text())
    steps = manifest["rounds"]["000"]["steps"]
    assert manifest["status"] == "round_done"
    assert steps["labels"]["status"] == "done" and steps["labels"]["n_labels"] == 12
    assert steps["labels"]["expert_kappa"] in (1.0, None)  # identical answers; None if one class only
    assert steps["finetune"]["status"] == "done"
    assert (run / "rounds" / "r000" / "model" / "merged").is_dir()

    assert main(["status", str(run)]) == 0
    assert "round_done" in capsys.readouterr().out
