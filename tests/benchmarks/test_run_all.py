"""``make bench``'s runner: the flags it passes and the record RESULTS.md's table is made from."""

import json

from benchmarks import results_tables, run_all


def test_a_flag_the_script_does_not_offer_is_dropped_with_its_value():
    bench = run_all.Bench("x", "benchmarks.x", ("--quick", "--json", "{results}/x.json", "--rows", "5"), ())
    args, dropped = run_all.plan_args(bench, "quick", "usage: x [--quick] [--rows N]")
    assert args == ["--quick", "--rows", "5"] and dropped == ["--json"]


def test_the_record_holds_every_script_and_renders_as_the_results_table(tmp_path):
    rows = [("scoring", "ok", 293.4, "wrote scoring_quick.json"), ("gpu_transformers", "skipped", 0.0,
                                                                   "no CUDA device visible"),
            ("actors", "FAILED (exit 1)", 58.0, "")]
    out = run_all.record_run("quick", rows, ["--quick"], results=tmp_path)
    rec = json.loads(out.read_text())
    assert out.name == "run_all-quick.json" and rec["command"].endswith("--quick")
    assert [s["name"] for s in rec["scripts"]] == ["scoring", "gpu_transformers", "actors"]
    assert rec["total_seconds"] == 351.4 and "vector_extensions" in rec["machine"]
    table = results_tables.run_all_table(rec)
    assert "| actors | FAILED (exit 1) | 58 s |" in table and "**351 s**" in table
