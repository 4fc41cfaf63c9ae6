"""Capacity planner: hand-computed figures, provenance of every input, input validation, CLI."""

from __future__ import annotations

import json
import math

import pytest

from al_ray.cli import main
from al_ray.errors import ConfigError, InputError
from al_ray.planner import Throughput, plan_capacity, throughput_from_benchmark
from al_ray.planner_driver_costs import MEASUREMENTS

GIVEN = Throughput(2000.0, "given", note="flag")


def test_billion_rows_on_64_engines():
    plan = plan_capacity(rows=1e9, throughput=GIVEN, engines=64, engine_startup_s=60, per_shard_overhead_s=0,
                         price_per_gpu_hour=3.0, n_shards=100_000)
    # 1e9 / 2000 / 64 = 7,812.5 s of scoring, plus 60 s start-up
    assert plan.wall_s == pytest.approx(7812.5 + 60)
    assert plan.gpu_hours == pytest.approx(64 * 7872.5 / 3600)  # 139.956 GPU-hours
    assert plan.cost == pytest.approx(64 * 7872.5 / 3600 * 3.0)  # 419.87
    assert plan.gpus == 64 and plan.n_shards == 100_000
    # one shard of 10,000 rows takes 5 s: the straggler bound
    assert plan.wall_s_upper == pytest.approx(7872.5 + 5)
    assert plan.assumed == ["gpus_per_engine"]
    assert plan.measured == []


def test_shard_overhead_and_tensor_parallel():
    plan = plan_capacity(rows=1e6, throughput=Throughput(1000.0, "given"), engines=10, n_shards=100,
                         engine_startup_s=0, per_shard_overhead_s=2.0, gpus_per_engine=2, price_per_gpu_hour=1.0)
    # work = 1e6/1000 + 100*2 = 1,200 engine-s; wall = 120 s; 20 GPUs -> 20*120/3600 GPU-h
    assert plan.work_engine_s == pytest.approx(1200)
    assert plan.wall_s == pytest.approx(120)
    assert plan.gpus == 20
    assert plan.gpu_hours == pytest.approx(20 * 120 / 3600)
    assert plan.cost == pytest.approx(plan.gpu_hours)


def test_solve_for_target_wall_time():
    # 1e9 rows at 2,000 rows/s = 500,000 engine-s; 2 h target minus 200 s start-up = 7,000 s each
    plan = plan_capacity(rows=1e9, throughput=GIVEN, target_wall_s=7200, engine_startup_s=200,
                         per_shard_overhead_s=0, price_per_gpu_hour=2.0)
    assert plan.engines == math.ceil(500_000 / 7000) == 72
    assert plan.wall_s <= 7200
    assert plan.wall_s == pytest.approx(200 + 500_000 / 72)
    with pytest.raises(ConfigError, match="max_engines"):
        plan_capacity(rows=1e9, throughput=GIVEN, target_wall_s=7200, engine_startup_s=200, max_engines=50)
    with pytest.raises(ConfigError, match="no time after"):
        plan_capacity(rows=1e9, throughput=GIVEN, target_wall_s=100, engine_startup_s=200)


def test_token_rescaling_and_defaults():
    tp = Throughput(2000.0, "measured", mean_tokens_per_row=25.0, engine_startup_s=30.0, note="bench.json")
    plan = plan_capacity(rows=1e8, throughput=tp, engines=10, mean_tokens_per_row=50.0)
    assert plan.rate_rows_per_s_per_engine == pytest.approx(1000.0)  # twice the tokens, half the rows
    assert plan.inputs["engine_startup_s"].source == "measured"  # the benchmark's start-up wins over default
    assert plan.inputs["engine_startup_s"].value == 30.0
    assert plan.inputs["per_shard_overhead_s"].source == "assumed"
    assert plan.inputs["price_per_gpu_hour"].source == "assumed"
    assert plan.inputs["rows_per_s_per_engine"].source == "measured"
    assert "rows_per_s_per_engine" in plan.measured and "price_per_gpu_hour" in plan.assumed
    assert any("scaled by 0.5" in n for n in plan.notes)
    d = plan.to_dict()
    json.dumps(d)
    assert d["assumed"] == plan.assumed


@pytest.mark.parametrize("kwargs,fragment", [
    ({"rows": 0, "engines": 1}, "rows must be > 0"),
    ({"rows": -5, "engines": 1}, "rows must be > 0"),
    ({"rows": float("nan"), "engines": 1}, "rows must be a finite number"),
    ({"rows": 10, "engines": 0}, "engines must be > 0"),
    ({"rows": 10, "engines": 1.5}, "engines must be a whole number"),
    ({"rows": 10, "engines": 1, "price_per_gpu_hour": -1}, "price_per_gpu_hour must be > 0"),
    ({"rows": 10, "engines": 1, "engine_startup_s": -1}, "engine_startup_s must be >= 0"),
    ({"rows": 10}, "exactly one of engines"),
    ({"rows": 10, "engines": 2, "target_wall_s": 10}, "exactly one of engines"),
    ({"rows": 10, "engines": 2, "n_shards": 2, "rows_per_shard": 5}, "n_shards or rows_per_shard"),
])
def test_validation(kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment):
        plan_capacity(throughput=GIVEN, **kwargs)
    with pytest.raises(ConfigError, match="throughput"):
        plan_capacity(rows=10, engines=1, throughput=Throughput(0.0, "given"))


def test_benchmark_json(tmp_path):
    p = tmp_path / "b.json"
    p.write_text(json.dumps({"scoring": {"rows_per_s_per_engine": 1500, "mean_tokens_per_row": 40},
                             "startup_s": 20}))
    tp = throughput_from_benchmark(str(p))
    assert (tp.rows_per_s_per_engine, tp.mean_tokens_per_row, tp.engine_startup_s, tp.source) == (1500, 40, 20, "measured")
    p.write_text(json.dumps({"rows_per_s": 3000, "workers": 2}))
    assert throughput_from_benchmark(str(p)).rows_per_s_per_engine == 1500
    p.write_text(json.dumps({"a": {"rows_per_s": 3000}, "b": {"rows_per_s": 100}}))
    with pytest.raises(InputError, match="several different"):
        throughput_from_benchmark(str(p))
    assert throughput_from_benchmark(str(p), key="b.rows_per_s").rows_per_s_per_engine == 100
    with pytest.raises(InputError, match="no key"):
        throughput_from_benchmark(str(p), key="c.rows_per_s")
    # list elements, named as the "several different" message names them, or by a dotted index
    p.write_text(json.dumps({"variants": [{"texts_per_s": 10}, {"texts_per_s": 20}]}))
    assert throughput_from_benchmark(str(p), key="variants[1].texts_per_s").rows_per_s_per_engine == 20
    assert throughput_from_benchmark(str(p), key="variants.0.texts_per_s").rows_per_s_per_engine == 10
    with pytest.raises(InputError, match="no key"):
        throughput_from_benchmark(str(p), key="variants[2].texts_per_s")
    p.write_text(json.dumps({"nothing": 1}))
    with pytest.raises(InputError, match="no throughput figure"):
        throughput_from_benchmark(str(p))
    p.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        throughput_from_benchmark(str(p))
    with pytest.raises(InputError, match="not found"):
        throughput_from_benchmark(str(tmp_path / "missing.json"))


def test_cli_plan(tmp_path, capsys):
    out = tmp_path / "plan.json"
    rc = main(["plan", "--rows", "1e9", "--throughput", "2000", "--engines", "64", "--startup-s", "60",
               "--shard-overhead-s", "0", "--price", "3", "--json", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "7,872.5 s" in printed and "assumed" in printed
    plan = json.loads(out.read_text())
    assert plan["wall_s"] == pytest.approx(7872.5) and plan["engines"] == 64
    # beside the engine costs, the driver's measured ones at the plan's 100,000 shards, with their sources
    assert "driver: measured costs at 100,000 shards" in printed
    # the source line carries the registry's own date, so re-recording a figure does not break this test
    resume = next(m for m in MEASUREMENTS if m.key == "resume")
    assert f"benchmarks/results/scoring_driver.json ({resume.date}; {resume.machine.split(',')[0]}, 2 CPUs" in printed
    assert "extrapolated (outside the measured shard counts): pool_merge" in printed
    driver = {c["key"]: c for c in plan["driver"]}
    assert driver["resume"]["seconds"] == resume.points[-1].seconds and driver["resume"]["scaling"] == "measured"
    assert driver["pool_merge"]["scaling"] == "extrapolated" and driver["pool_merge"]["shards"] == 100_000
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"rows_per_s_per_engine": 2000}))
    assert main(["plan", "--rows", "1e9", "--benchmark", str(bench), "--target-hours", "2"]) == 0
    assert "measured" in capsys.readouterr().out
    assert main(["plan", "--rows", "0", "--throughput", "2000", "--engines", "1"]) == 2
    assert "rows must be > 0" in capsys.readouterr().err
    assert main(["plan", "--rows", "10", "--engines", "1"]) == 2  # neither --throughput nor --benchmark


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(rows=st.floats(1e3, 1e12), rate=st.floats(1.0, 1e5), engines=st.integers(1, 4096),
       startup=st.floats(0, 3600), overhead=st.floats(0, 10), price=st.floats(0.01, 100))
def test_plan_invariants(rows, rate, engines, startup, overhead, price):
    kw = dict(rows=rows, throughput=Throughput(rate, "given"), engine_startup_s=startup,
              per_shard_overhead_s=overhead, price_per_gpu_hour=price)
    plan = plan_capacity(engines=engines, **kw)
    assert plan.cost == pytest.approx(plan.gpu_hours * price)
    assert plan.wall_s == pytest.approx(startup + plan.work_engine_s / engines)
    assert plan.wall_s_upper >= plan.wall_s
    more = plan_capacity(engines=engines * 2, **kw)
    assert more.wall_s <= plan.wall_s + 1e-9
    # solving for the wall time just achieved never needs more engines than were used
    solved = plan_capacity(target_wall_s=plan.wall_s * (1 + 1e-9) + 1e-6, **kw)
    assert solved.engines <= engines and solved.wall_s <= plan.wall_s * (1 + 1e-9) + 1e-6
