"""The planner's measured driver costs: the constants match their benchmark files, and the scaling.

``al_ray/planner_driver_costs.py`` copies figures from ``benchmarks/results/`` (not installed with
the package). The first tests load those files and fail when a copied figure, date or machine
differs, or when a file holds a measurement the table lacks: the constants cannot drift.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from al_ray import planner_driver_costs as dc
from al_ray.planner import Throughput, plan_capacity

ROOT = Path(__file__).resolve().parents[1]
BY_KEY = {m.key: m for m in dc.MEASUREMENTS}


def _load(rel: str) -> dict:
    path = ROOT / rel
    assert path.is_file(), f"{rel} is gone: update al_ray/planner_driver_costs.py with what replaced it"
    return json.loads(path.read_text())


def _machine(data: dict) -> str:
    m = data["machine"]
    return (f"{m['cpu_model']}, {m['nproc']} CPUs, {m['mem_total_bytes'] / 2**30:.1f} GiB RAM, "
            f"Python {m['python']}, Ray {m['ray']}, pyarrow {m['pyarrow']}")


def test_every_measurement_is_checked_here():
    assert set(BY_KEY) == {"plan", "resume", "resume_again", "resume_changed", "pool_merge", "pool_merge_small_k",
                           "pool_merge_100k"}
    for m in dc.MEASUREMENTS:
        assert m.points and all(p.shards > 0 and p.seconds > 0 and p.peak_rss_bytes > 0 for p in m.points)
        assert m.source.startswith("benchmarks/results/") and m.date and m.machine and m.conditions


@pytest.mark.parametrize("key", ["plan", "resume", "resume_again", "resume_changed"])
def test_scoring_driver_constants_match_the_result_file(key):
    m = BY_KEY[key]
    assert m.source == dc.SCORING_DRIVER_FILE
    data = _load(m.source)
    assert m.date == data["date"]
    assert m.machine == _machine(data)
    # every size the file measured is in the table, and nothing else
    assert sorted(p.shards for p in m.points) == sorted(int(n) for n in data["sizes"])
    for p in m.points:
        fig = data["sizes"][str(p.shards)]["changed" if key == "resume_changed" else "all_done"][key]
        assert (p.seconds, p.peak_rss_bytes) == (fig["seconds"], fig["peak_rss_bytes"]), (key, p.shards)
        if key == "plan":
            assert fig["shards"] == p.shards
        if key == "resume":
            assert fig["shards_skipped_done"] == p.shards


@pytest.mark.parametrize("key,k_values,load", [("pool_merge", {2048}, (4.5, 8)), ("pool_merge_small_k", None, (4.5, 8)),
                                               ("pool_merge_100k", {64}, (0, 3))])
def test_pool_constants_match_the_result_files(key, k_values, load):
    m = BY_KEY[key]
    data = _load(m.source)
    assert m.date == data["started_at"]
    assert m.machine == _machine(data)
    runs = [r for r in data["runs"] if k_values is None or r["k"] in k_values]
    assert runs, f"no runs with k in {k_values} in {m.source}"
    if k_values is None:
        assert max(r["k"] for r in runs) <= 256 and "K 8-256" in m.step
    elif key == "pool_merge_100k":
        assert "100K sidecars" in m.step and data["corpus"]["files"] == 100_000
    else:
        assert f"K {min(k_values)}" in m.step
    arms = [r["sidecars"] for r in runs]
    (p,) = m.points
    assert p.shards == data["corpus"]["files"] and {a["files"] for a in arms} == {p.shards}
    assert p.seconds == max(a["seconds"] for a in arms)
    assert p.peak_rss_bytes == round(max(a["peak_rss_mib"] for a in arms) * dc.MIB)
    assert f"{data['corpus']['rows_per_file']:,}-row shards" in m.conditions
    assert f"pool {data['pool_size']:,}" in m.conditions
    assert f"{data['io_workers']} I/O workers" in m.conditions
    assert all(load[0] <= x <= load[1] for x in data["load_avg_at_start"])  # the load the conditions name


def test_the_default_k_is_the_one_measured():
    from al_ray.scoring.config import ScoringConfig

    assert ScoringConfig.model_fields["candidates_per_shard"].default == 2048
    assert "K 2048 (the default)" in BY_KEY["pool_merge"].step


def test_scaling_two_points():
    m = BY_KEY["plan"]
    a, b = sorted(m.points, key=lambda p: p.shards)
    at = dc.estimate(m, a.shards)
    assert (at.seconds, at.peak_rss_bytes, at.scaling) == (a.seconds, a.peak_rss_bytes, "measured")
    mid = dc.estimate(m, (a.shards + b.shards) // 2)  # 55,000: the midpoint of the line
    assert mid.scaling == "interpolated"
    assert mid.seconds == pytest.approx((a.seconds + b.seconds) / 2)
    assert mid.peak_rss_bytes == pytest.approx((a.peak_rss_bytes + b.peak_rss_bytes) / 2, abs=1)
    big = dc.estimate(m, 1_000_000)  # the line continued, and said so
    slope = (b.seconds - a.seconds) / (b.shards - a.shards)
    assert big.scaling == "extrapolated" and "measured at 10K-100K shards only" in big.method
    assert big.seconds == pytest.approx(b.seconds + slope * 900_000)
    small = dc.estimate(m, 1_000)
    assert small.scaling == "extrapolated" and 0 < small.seconds < a.seconds
    assert (big.source, big.date, big.machine) == (m.source, m.date, m.machine)


def test_scaling_one_point():
    m = BY_KEY["pool_merge"]
    (p,) = m.points
    at = dc.estimate(m, p.shards)
    assert (at.seconds, at.peak_rss_bytes, at.scaling) == (p.seconds, p.peak_rss_bytes, "measured")
    big = dc.estimate(m, 100_000)
    assert big.scaling == "extrapolated" and "only" in big.method and "not scaled" in big.method
    assert big.seconds == pytest.approx(p.seconds * 100_000 / p.shards)  # per shard x shards
    assert big.peak_rss_bytes == p.peak_rss_bytes
    with pytest.raises(ValueError):
        dc.estimate(m, 0)


@pytest.mark.parametrize("key", sorted(BY_KEY))
def test_more_shards_never_cost_less(key):
    counts = [1, 100, 200, 1_000, 10_000, 30_000, 100_000, 1_000_000, 10_000_000]
    est = [dc.estimate(BY_KEY[key], n) for n in counts]
    assert all(x.seconds <= y.seconds and x.peak_rss_bytes <= y.peak_rss_bytes for x, y in zip(est, est[1:]))
    assert all(e.seconds >= 0 and e.peak_rss_bytes > 0 for e in est)


def test_the_plan_states_the_driver_costs_at_its_shard_count(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the package reads no benchmark file at run time
    plan = plan_capacity(rows=1e9, throughput=Throughput(2000.0, "given"), engines=64, n_shards=100_000)
    got = {c.key: c for c in plan.driver}
    assert set(got) == set(BY_KEY) and all(c.shards == 100_000 for c in plan.driver)
    assert got["plan"].scaling == got["resume"].scaling == "measured"
    assert got["resume"].seconds == BY_KEY["resume"].points[-1].seconds and got["pool_merge"].scaling == "extrapolated"
    assert got["pool_merge_100k"].scaling == "measured" and got["pool_merge_100k"].seconds == 133.655
    d = plan.to_dict()
    json.dumps(d)
    row = next(r for r in d["driver"] if r["key"] == "pool_merge")
    assert row["source"] == dc.POOL_200X50K_FILE and row["date"] and row["machine"] == dc.MACHINE_2CORE
    assert row["scaling"] == "extrapolated" and row["peak_rss_mib"] == pytest.approx(172.7)
    # the engine figures are unchanged by it
    assert plan.wall_s == pytest.approx(120 + (1e9 / 2000 + 100_000 * 0.5) / 64)
