"""A run killed at an arbitrary point and resumed ends in the same state as an uninterrupted run.

Both runs go through the real CLI (`al-ray run`) in a subprocess connected to the session's Ray
cluster; the interrupted one is SIGKILLed once round 0 has been fine-tuned (i.e. during round 1's
scoring), then started again with the same command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

AL_RAY = str(Path(sys.executable).parent / "al-ray")


def _config(tmp_path: Path) -> Path:
    cfg = {
        "run": {"name": "resume-test", "seed": 3, "max_rounds": 2, "batch_size": 16, "label_budget": 32,
                "eval_fraction": 0.25},
        "task": {"name": "demo", "labels": ["neither", "violating"], "positive_label": "violating",
                 "label_descriptions": {"neither": "a friendly, harmless everyday message",
                                        "violating": "an abusive, offensive or insulting message"}},
        "corpus": {"source": "demo", "n_rows": 600, "n_shards": 2, "test_fraction": 0.1},
        "scoring": {"mode": "classifier", "backend": "transformers", "workers": 1, "max_input_tokens": 32},
        "selection": {"strategy": "boundary_pairs", "threads": 1},
        "labeling": {"overlap_fraction": 1.0},
        "finetune": {"epochs": 1, "min_steps": 0, "batch_size": 8, "max_length": 32},
        "simulation": {"kind": "vote_counts", "n_annotators": 2, "flip_prob": 0.05},
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run(config: Path, run_dir: Path, ray_cluster) -> subprocess.Popen:
    env = dict(os.environ, RAY_ADDRESS=ray_cluster.address)
    return subprocess.Popen([AL_RAY, "run", str(config), "--run", str(run_dir), "--no-report"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _final_state(run_dir: Path) -> dict:
    m = json.loads((run_dir / "manifest.json").read_text())
    state = {"status": m["status"], "rounds": {}}
    for key, rd in sorted(m["rounds"].items()):
        ev = rd["steps"].get("evaluate", {})
        r = {"eval_kappa": ev.get("eval_kappa"), "holdout_kappa": ev.get("holdout_kappa"), "n_eval": ev.get("n_eval"),
             "labels_used": ev.get("labels_used")}
        batch = run_dir / "rounds" / f"r{key}" / "batch" / "batch.parquet"
        if batch.exists():
            r["batch"] = sorted(pq.read_table(batch, columns=["id"])["id"].to_pylist())
        labels = run_dir / "rounds" / f"r{key}" / "labels" / "labels.parquet"
        if labels.exists():
            t = pq.read_table(labels, columns=["id", "label"])
            r["labels"] = sorted(zip(t["id"].to_pylist(), t["label"].to_pylist()))
        scores = sorted((run_dir / "rounds" / f"r{key}" / "scores").glob("*.parquet"))
        r["scores"] = [
            [round(p, 6) for p in pq.read_table(s, columns=["p_violating"])["p_violating"].to_pylist()]
            for s in scores
        ]
        state["rounds"][key] = r
    return state


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_state(tmp_path, ray_cluster):
    config = _config(tmp_path)

    straight = tmp_path / "straight"
    proc = _run(config, straight, ray_cluster)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    expected = _final_state(straight)
    assert expected["status"] in ("budget_spent", "max_rounds")
    assert len(expected["rounds"]) == 3  # two labelling rounds + the final scoring of the last model
    assert expected["rounds"]["000"]["batch"] and expected["rounds"]["001"]["batch"]
    assert not set(expected["rounds"]["000"]["batch"]) & set(expected["rounds"]["001"]["batch"])

    interrupted = tmp_path / "interrupted"
    proc = _run(config, interrupted, ray_cluster)
    manifest = interrupted / "manifest.json"
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if manifest.exists():
            try:
                m = json.loads(manifest.read_text())
            except json.JSONDecodeError:
                m = {}
            if m.get("rounds", {}).get("000", {}).get("steps", {}).get("finetune", {}).get("status") == "done":
                break
        assert proc.poll() is None, "run ended before it could be interrupted"
        time.sleep(0.2)
    time.sleep(1.0)  # into round 1's scoring
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = json.loads(manifest.read_text())
    assert partial["status"] == "running"  # it really was cut off mid-run

    proc = _run(config, interrupted, ray_cluster)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    assert _final_state(interrupted) == expected
