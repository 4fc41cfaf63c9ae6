"""`al-ray labels ...` end to end on local files."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from al_ray.cli import main
from tests.labeling.conftest import read_labels


def test_cli_round(batch_dir, labels_dir, tmp_path, capsys):
    task = tmp_path / "task.yaml"
    task.write_text("task:\n  name: violating\n  labels: [neither, violating]\n")
    cfg = tmp_path / "labeling.yaml"
    cfg.write_text("labeling:\n  annotators: [ann1, ann2]\n  overlap_fraction: 1.0\n  min_overlap_items: 2\n")
    assert main(["labels", "export", batch_dir, "--task", str(task), "--config", str(cfg), "--seed", "1"]) == 0
    assert "8 items" in capsys.readouterr().out
    assert Path(batch_dir, "labelstudio_tasks.json").exists()

    gold = tmp_path / "gold.parquet"
    pq.write_table(pa.table({"id": [f"t{i}" for i in range(8)], "label": ["neither", "violating"] * 4}), gold)
    sim_dir = tmp_path / "sim"
    assert main(["labels", "simulate", batch_dir, "--out-dir", str(sim_dir), "--mode", "gold", "--gold", str(gold),
                 "--error-rate", "0", "--labels", "neither,violating", "--json"]) == 0
    sim = json.loads(capsys.readouterr().out)
    assert sim["quality"]["kappa_vs_reference"] == 1.0 and len(sim["files"]) == 2

    args = ["--batch-dir", batch_dir, "--labels-dir", labels_dir, "--task", str(task)]
    assert main(["labels", "import", *sim["files"], *args]) == 0
    assert "16 new" in capsys.readouterr().out
    assert main(["labels", "import", *sim["files"], *args]) == 0
    assert "0 new" in capsys.readouterr().out  # idempotent

    assert main(["labels", "status", *args, "--config", str(cfg), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["gate"]["status"] == "passed" and status["agreement"]["mean_cohen_kappa"] == 1.0

    assert main(["labels", "resolve", *args, "--config", str(cfg)]) == 0
    assert "gate: passed" in capsys.readouterr().out
    labels = read_labels(labels_dir)
    assert labels["t1"]["label"] == "violating" and labels["dup-exact"]["source"] == "propagated"

    adj = tmp_path / "adj.csv"
    adj.write_text("id,label\nt1,neither\n")
    assert main(["labels", "adjudicate", str(adj), *args, "--config", str(cfg)]) == 0
    assert read_labels(labels_dir)["t1"]["source"] == "adjudicated"


def test_cli_bad_file_reports_line(batch_dir, labels_dir, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "t0", "annotator_id": "a", "label": "neither"}\n{"id": "t1", "annotator_id": "a", "label": "x"}\n')
    code = main(["labels", "import", str(bad), "--batch-dir", batch_dir, "--labels-dir", labels_dir,
                 "--labels", "neither,violating"])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{bad}:2" in err.replace("\n", "") and "unknown label" in err


def test_cli_reads_the_task_from_the_batch(batch_dir, tmp_path, capsys):
    """No --task or --labels: the label set comes from the batch (its recorded task, else p_<label>)."""
    out = tmp_path / "export"
    assert main(["labels", "export", batch_dir, "--out-dir", str(out), "--annotators", "a1,a2", "--json"]) == 0
    assert "violating" in (out / "labelstudio_config.xml").read_text()


def test_cli_needs_a_task(tmp_path, capsys):
    empty = tmp_path / "not_a_batch"
    empty.mkdir()
    assert main(["labels", "export", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "--task FILE or --labels" in err and "batch.parquet" in err
