"""bench_duplicate_check: where duplicates are planted, what is written, how the report is judged."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from al_ray.scoring.summary import DuplicateIds
from benchmarks import bench_duplicate_check as bench

REPO = Path(__file__).resolve().parents[2]


def test_plants_use_each_row_once_and_mix_within_and_across():
    plants = bench.plan_plants(1000, 100, 40, seed=3)
    assert plants == bench.plan_plants(1000, 100, 40, seed=3)  # seeded
    cells = [(p.src, p.src_row) for p in plants] + [(p.dst, p.dst_row) for p in plants]
    assert len(cells) == len(set(cells)) == 80
    within = [p for p in plants if p.within]
    assert len(within) == 4
    assert all(p.dst - p.src >= 500 for p in plants if not p.within)  # far apart: other map tasks
    assert len(bench.expected_duplicates(plants)) == 40


def test_small_corpora():
    assert [p.within for p in bench.plan_plants(3, 10, 1)] == [False]
    assert all(p.within for p in bench.plan_plants(1, 10, 2))
    with pytest.raises(ValueError):
        bench.plan_plants(1, 3, 2)


def test_written_sidecars_hold_the_product_hashes_with_the_plant(tmp_path):
    from al_ray.scoring.duplicates import sources_from_listing
    from al_ray.scoring.job import list_outputs
    from al_ray.scoring.shard import hash_ids

    plants = bench.plan_plants(3, 20, 1, seed=0)
    fig = bench.write_shards(tmp_path, 3, 20, plants)
    assert fig["sidecars"] == 3 and fig["score_files"] == 2
    p = plants[0]
    ids = [bench.id_of(p.dst, r) for r in range(20)]
    ids[p.dst_row] = bench.id_of(p.src, p.src_row)
    side = np.load(io.BytesIO((tmp_path / (bench.rel_of(p.dst) + ".ids.npy")).read_bytes()))
    assert np.array_equal(side, hash_ids(pa.array(ids)))
    rels = [bench.rel_of(k) for k in range(3)]
    sources = sources_from_listing(str(tmp_path), list_outputs(str(tmp_path), rels))
    assert [s.rel for s in sources] == rels and all(s.sidecar and s.rows == 20 for s in sources)


def test_compare_is_exact_only_for_the_planted_set():
    plants = bench.plan_plants(3, 20, 1, seed=0)
    (pid, (shards, occ)), = bench.expected_duplicates(plants).items()
    good = DuplicateIds(count=1, extra_rows=1, shards_checked=3, from_sidecars=3, rows_checked=60,
                        examples=[{"id": pid, "shards": shards, "occurrences": occ}])
    assert bench.compare(good, plants, 60, 3)["exact"]
    missed = good.model_copy(update={"count": 0, "extra_rows": 0, "examples": []})
    v = bench.compare(missed, plants, 60, 3)
    assert not v["exact"] and v["missed"] == [pid]
    spurious = good.model_copy(update={"count": 2, "extra_rows": 2, "examples": [
        *good.examples, {"id": "other", "shards": shards, "occurrences": 2}]})
    assert bench.compare(spurious, plants, 60, 3)["spurious"] == ["other"]
    assert not bench.compare(good.model_copy(update={"rows_checked": 59}), plants, 60, 3)["exact"]


@pytest.mark.slow
def test_script_finds_one_planted_duplicate_in_three_sidecars(tmp_path):
    out = tmp_path / "dup.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_duplicate_check", "--shards", "3",
                           "--rows-per-shard", "50", "--duplicates", "1", "--out", str(out),
                           "--workdir", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    res = json.loads(out.read_text())
    assert res["verdict"]["exact"] and res["verdict"]["found_count"] == 1
    assert res["check"]["tasks"]["map"]["tasks"] == res["check"]["report"]["map_tasks"] == 1
    tasks = res["check"]["tasks"]
    assert 0 < tasks["reduce"]["reported_peak_private_mb_max"] < 2048
    assert tasks["map"]["reported_private_rise_mb_max"] >= 0
    assert res["verdict"]["task_peak_private_mb_reported"] == res["check"]["report"]["task_peak_private_mb"]
    assert {"date", "command", "machine"} <= set(res)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("dup_check_")]  # sidecars deleted
