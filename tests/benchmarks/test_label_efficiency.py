"""Smoke tests of the benchmark scripts on tiny sizes (the real figures are in benchmarks/RESULTS.md)."""

from __future__ import annotations

import csv
import json
import sys

import numpy as np
import pytest

from benchmarks import bench_label_efficiency as le
from benchmarks import run_all

POS = "you idiot stupid ugly hate trash loser disgusting".split()
NEG = "good lovely sunny morning coffee friend happy walk park music".split()


def write_fake_davidson(path, n=200, seed=0):
    """A CSV shaped like labeled_data.csv: unnamed id column, vote counts, class, tweet."""
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["", "count", "hate_speech", "offensive_language", "neither", "class", "tweet"])
        for i in range(n):
            bad = rng.random() < 0.6
            words = rng.choice(POS if bad else NEG, size=6).tolist() + rng.choice(NEG, size=2).tolist()
            hate = int(rng.integers(0, 2)) if bad else 0
            off = 3 - hate if bad else int(rng.integers(0, 2))
            nei = 3 - hate - off
            cls = int(np.argmax([hate, off, nei]))
            w.writerow([str(i), 3, hate, off, nei, cls, " ".join(words) + (" &amp; more" if i % 7 == 0 else "")])
    return path


TINY = le.Settings(mode="quick", subsample_rows=None, rounds=1, batch_size=10, b_sizes=(10, 20), epochs=1, min_steps=0,
                   cd_epochs=1, cd_max_items=40, threads=1, n_shards=2)


def check_schema(data):
    assert data["mode"] == "quick"
    for key in ("settings", "machine", "cells", "summary", "runs", "frozen_embedding_baselines_design_md"):
        assert key in data, key
    for c in data["cells"]:
        for key in ("task", "seed", "arm", "status", "seconds", "loadavg_start", "loadavg_end", "test_split_sha"):
            assert key in c, (key, c)
        if c["status"] == "done":
            assert c["kappa"] is None or -1.0 <= c["kappa"] <= 1.0
            assert isinstance(c["n_labels"], int)


def test_split_is_seeded_and_matches_the_loop_preparation(tmp_path):
    path = write_fake_davidson(tmp_path / "d.csv")
    a = le.prepare_split(path, "violating", 3, tmp_path / "a", TINY)
    b = le.prepare_split(path, "violating", 3, tmp_path / "b", TINY)
    c = le.prepare_split(path, "violating", 4, tmp_path / "c", TINY)
    assert a.test_sha == b.test_sha != c.test_sha
    assert not set(a.test_ids) & set(a.train_ids)
    assert len(a.test_ids) == 40  # 20% of 200
    # the loop's run config prepares the same data: same csv, task, shards, test fraction and seed
    cfg = le.loop_config(path, "violating", 3, TINY)
    assert (cfg.run.seed, cfg.corpus.davidson_task, cfg.corpus.n_shards, cfg.corpus.test_fraction) == \
        (3, "violating", TINY.n_shards, TINY.test_fraction)
    assert cfg.run.label_budget == TINY.rounds * TINY.batch_size and cfg.run.eval_fraction == 0.0
    from al_ray.driver.config import validate_stages

    validate_stages(cfg)


def test_label_draws(tmp_path):
    split = le.prepare_split(write_fake_davidson(tmp_path / "d.csv"), "violating", 0, tmp_path / "w", TINY)
    ids = split.train_ids[:50]
    crowd = le.crowd_labels(split, ids, np.random.default_rng(0))
    experts = le.simulated_expert_labels(split, ids, TINY, np.random.default_rng(0))
    assert set(crowd) <= set(split.labels) and set(experts) <= set(split.labels)
    gold = dict(zip(split.train_ids, split.train_gold))
    # 3 experts at 5% flips: the majority almost always equals the gold label
    assert np.mean([gold[i] == e for i, e in zip(ids, experts)]) >= 0.9
    assert le.crowd_labels(split, ids, np.random.default_rng(0)) == crowd  # seeded


def test_summary_plot_and_table(tmp_path):
    cells = []
    for seed, ka in ((0, 0.5), (1, 0.6)):
        cells.append({"task": "violating", "seed": seed, "arm": "a_loop", "status": "done", "kappa": ka,
                      "n_labels": 20, "points": [{"labels_used": 0, "kappa": 0.1}, {"labels_used": 20, "kappa": ka}]})
        cells.append({"task": "violating", "seed": seed, "arm": "b_random", "status": "done", "kappa": ka - 0.1,
                      "n_labels": 20, "points": [{"labels_used": 20, "kappa": ka - 0.1}]})
        cells.append({"task": "violating", "seed": seed, "arm": "c_crowd", "status": "done", "kappa": 0.55,
                      "n_labels": 160})
    cells.append({"task": "violating", "seed": 2, "arm": "d_expert", "status": "failed", "error": "x"})
    data = {"mode": "quick", "settings": {"rounds": 2, "batch_size": 10, "b_sizes": [20]}, "cells": cells}
    data["summary"] = le.summarise(cells)
    s = data["summary"]["violating"]
    assert s["a_loop"]["mean"] == pytest.approx(0.55) and s["a_loop"]["n_seeds"] == 2
    assert s["a_loop"]["std"] == pytest.approx(np.std([0.5, 0.6], ddof=1), abs=1e-4)
    assert "d_expert" not in s  # failed cells are not summarised
    png = le.plot(data, tmp_path / "p.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = le.markdown_table(data)
    assert "| violating | (a) loop | 20 | 0.550 |" in table


@pytest.mark.slow
def test_baseline_arms_end_to_end_tiny(tmp_path):
    """zero-shot, (b), (c), (d) on 200 fake tweets, 1 epoch: the JSON is written after each cell."""
    path = write_fake_davidson(tmp_path / "d.csv")
    out = tmp_path / "res.json"
    data = le.run(TINY, ["violating"], [0], ["zero_shot", "b_random", "e_floor", "c_crowd", "d_expert"], out,
                  csv_path=path, plot_path=tmp_path / "plot.png", work_root=tmp_path / "work",
                  log=lambda m: None)
    check_schema(data)
    on_disk = json.loads(out.read_text())
    check_schema(on_disk)
    cells = {c["arm"]: c for c in on_disk["cells"]}
    assert set(cells) == {"zero_shot", "b_random", "e_floor", "c_crowd", "d_expert"}
    assert all(c["status"] == "done" for c in cells.values()), [c.get("error") for c in cells.values()]
    assert [p["labels_used"] for p in cells["b_random"]["points"]] == [10, 20]
    # the floor is measured at (b)'s budgets (and the loop's, here 10), on the same labels
    assert [p["labels_used"] for p in cells["e_floor"]["points"]] == [10, 20]
    assert all(-1.0 <= p["kappa"] <= 1.0 for p in cells["e_floor"]["points"])
    assert cells["c_crowd"]["n_labels"] == 40 and cells["d_expert"]["n_labels"] == 40
    assert cells["c_crowd"]["n_test"] == 40
    assert len({c["test_split_sha"] for c in cells.values()}) == 1
    assert (tmp_path / "plot.png").exists()
    # --resume skips finished cells
    again = le.run(TINY, ["violating"], [0], ["zero_shot"], out, csv_path=path, resume=True,
                   work_root=tmp_path / "work", log=lambda m: None)
    assert len(again["cells"]) == 5 and len(again["runs"]) == 2


def test_run_all_plans_commands(capsys, monkeypatch):
    bench = run_all.Bench("x", "benchmarks.x", ("--quick", "--json", "{results}/x.json"), ("--full",))
    args, dropped = run_all.plan_args(bench, "quick", "usage: x [--quick]")
    assert args == ["--quick"] and dropped == ["--json"]
    args, dropped = run_all.plan_args(bench, "quick", "usage: x [--quick] [--json JSON]")
    assert args[:2] == ["--quick", "--json"] and args[2].endswith("x.json") and not dropped
    assert run_all.main(["--quick", "--dry-run", "--only", "label_efficiency,actors"]) == 0
    out = capsys.readouterr().out
    assert "benchmarks.bench_label_efficiency --quick" in out and "benchmarks.bench_actors --quick" in out


def test_merge_imports_missing_cells_and_keeps_replicates(tmp_path):
    """Cells measured on another machine fill the gaps; a seed measured twice is not counted twice."""
    gpu_machine = {"nproc": "16", "lscpu": ["Model name:  Xeon"], "gpu": "NVIDIA H100 80GB HBM3"}
    theirs = {"settings": {"mode": "quick"}, "machine": gpu_machine,
              "runs": [{"command": "gpu run", "started_at": "t0"}],
              "cells": [{"task": "violating", "seed": s, "arm": "c_crowd", "status": "done", "kappa": k,
                         "started_at": f"t{s}"} for s, k in ((0, 0.70), (1, 0.72))]}
    src = tmp_path / "gpu.json"
    src.write_text(json.dumps(theirs))
    data = {"cells": [{"task": "violating", "seed": 0, "arm": "c_crowd", "status": "done", "kappa": 0.71,
                       "hardware": "training on CPU"}], "runs": []}
    le.merge_result_files(data, [src], "quick")
    le.merge_result_files(data, [src], "quick")  # merging twice adds nothing
    assert [(c["seed"], c["kappa"]) for c in data["cells"]] == [(0, 0.71), (1, 0.72)]
    assert [(c["seed"], c["kappa"]) for c in data["replicates"]] == [(0, 0.70)]
    assert data["cells"][1]["hardware"].startswith("training on GPU NVIDIA H100")
    assert data["cells"][1]["merged_from"] == "gpu.json" and len(data["runs"]) == 1
    assert le.summarise(data["cells"])["violating"]["c_crowd"]["n_seeds"] == 2
    with pytest.raises(ValueError, match="mode"):
        le.merge_result_files(data, [src], "full")


def test_invariants_compare_the_loop_with_the_floor_and_random_at_each_budget():
    def cell(arm, seed, points):
        return {"task": "hate", "seed": seed, "arm": arm, "status": "done",
                "points": [{"labels_used": n, "kappa": k} for n, k in points]}

    cells = [cell("a_loop", 0, [(100, 0.30), (200, 0.31), (300, 0.40)]),
             cell("e_floor", 0, [(100, 0.25), (300, 0.45), (500, 0.5)]),
             cell("b_random", 0, [(100, 0.30), (300, 0.35)]),
             cell("a_loop", 1, [(100, 0.2)]),  # seed 1 has no other arm: no check, never a pass
             {**cell("e_floor", 0, [(100, 0.9)]), "seed": 2, "status": "failed"}]
    checks = le.invariants(cells)
    got = {(c["labels"], c["against"]): c["holds"] for c in checks}
    assert got == {(100, "e_floor"): True, (100, "b_random"): True, (300, "e_floor"): False,
                   (300, "b_random"): True}  # 200: only the loop has it; 500: the loop does not
    table = le.markdown_table({"summary": {}, "cells": cells, "invariants": checks})
    assert "| hate | 0 | 300 | 0.400 | e_floor | 0.450 | **no** |" in table


def test_refresh_rounds_rereads_a_finished_loops_manifest(tmp_path):
    """A finished loop's per-round step seconds come from its manifest, also for cells written before
    the benchmark recorded them."""
    work = tmp_path / "work"
    (work / "violating-s0" / "loop").mkdir(parents=True)
    steps = {"score": {"status": "done", "seconds": 12.5, "at": "2026-12-01T00:00:12+00:00"},
             "finetune": {"status": "done", "seconds": 70.0, "at": "2026-12-01T00:01:30+00:00"}}
    (work / "violating-s0" / "loop" / "manifest.json").write_text(json.dumps(
        {"created_at": "2026-12-01T00:00:00+00:00", "rounds": {"r000": {"round": 0, "steps": steps}}}))
    out = tmp_path / "le.json"
    cell = {"task": "violating", "seed": 0, "arm": "a_loop", "status": "done", "kappa": 0.5, "n_labels": 10,
            "rounds": [{"round": 0}], "points": []}
    out.write_text(json.dumps({"mode": "quick", "settings": {"mode": "quick"}, "cells": [cell], "runs": []}))
    data = le.run(TINY, ["violating"], [0], [], out, work_root=work, refresh_rounds=True, resume=True,
                  log=lambda m: None)
    (rd,) = data["cells"][0]["rounds"]
    assert rd["step_seconds"] == {"score": 12.5, "finetune": 70.0} and rd["seconds"] == 90.0
    assert json.loads(out.read_text())["cells"][0]["rounds"][0]["step_seconds"]["finetune"] == 70.0
