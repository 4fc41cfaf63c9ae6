"""The gate's two error rates on a few seeded simulated batches, and the benchmark's bookkeeping.

Figures at scale (600 batches per design) are benchmarks/bench_gate.py's; this runs the same
simulation on 36 loop batches (6 per minority share, 2 and 3 annotators per item) in seconds.
The bounds leave room for chance: at the benchmark's rates (0.8% false flags, 1.3% random
annotators missed) 3 or more false flags in 36, or 4 or more misses, have probabilities below 0.5%.
"""

from __future__ import annotations

import pytest

from benchmarks import bench_gate as bg


@pytest.fixture(scope="module")
def loop_batches():
    return {"loop": bg.run_design("loop", seed=777, n_batches=36)}


def test_new_gate_meets_both_goals_and_the_old_one_cries_wolf(loop_batches):
    rows = loop_batches["loop"]
    good = bg.rate(rows["good"], "ac1_lower")
    bad = bg.rate(rows["one_random"], "ac1_lower")
    assert good["measured"] == bad["measured"] == 36
    assert good["flagged"] <= 2  # goal: at most 1 in 20
    assert bad["flagged"] >= 33  # goal: at least 19 in 20
    old_good = bg.rate(rows["good"], "kappa_estimate_0.8")
    assert old_good["flagged"] >= 18  # the kappa gate fails most good batches (issue 15: 14 of 20)
    assert bg.rate(rows["one_random"], "kappa_estimate_0.8")["flagged"] >= 33
    # the skewed batches are where kappa fails good annotators
    skewed = [r for r in rows["good"] if r["share"] <= 0.05]
    assert bg.flagged(skewed, "kappa_estimate_0.8")[0] >= len(skewed) - 2
    assert bg.flagged(skewed, "ac1_lower")[0] == 0


def test_batches_are_what_the_loop_dispatches():
    b = bg.make_batch(5, 7, "loop")
    assert 30 <= b["n"] <= 100 and b["share"] == bg.SHARES[7 % 6] and b["per_item"] == 3
    per_item: dict[str, int] = {}
    for a in b["assignments"]:
        per_item[a["id"]] = per_item.get(a["id"], 0) + 1
    assert set(per_item.values()) == {3} and len(per_item) == b["n"]  # overlap 1.0: every item
    d = bg.make_batch(5, 0, "min10")
    n_over = sum(1 for v in _counts(d).values() if v >= 2)
    assert n_over == max(-(-d["n"] // 5), 10)  # ceil(20%), at least 10
    assert bg.make_batch(5, 7, "loop")["gold"] == b["gold"]  # seeded
    # the random annotator answers about half wrong, the good ones about 5%
    rows = bg.annotate(b, "one_random", 5)
    wrong = {a: [0, 0] for a in bg.ANNOTATORS}
    for r in rows:
        wrong[r["annotator_id"]][0] += r["label"] != b["gold"][r["id"]]
        wrong[r["annotator_id"]][1] += 1
    assert wrong[b["random_annotator"]][0] / wrong[b["random_annotator"]][1] > 0.25
    assert all(w / n < 0.2 for a, (w, n) in wrong.items() if a != b["random_annotator"])


def _counts(batch) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in batch["assignments"]:
        out[a["id"]] = out.get(a["id"], 0) + 1
    return out


def test_summary_sweep_and_table(loop_batches):
    summary = bg.summarise(loop_batches)
    g = summary["loop"]["ac1_lower"]["good"]
    assert sum(v["measured"] for v in g["by_share"].values()) == g["measured"] == 36
    assert sum(v["flagged"] for v in g["by_annotators_per_item"].values()) == g["flagged"]
    sw = bg.sweep(loop_batches)["loop"]["ac1_lower"]
    rates = [r["good"] for r in sw["rows"]]
    assert rates == sorted(rates)  # a higher threshold never flags fewer batches
    assert sw["rows"][0]["threshold"] == 0.0 and sw["band"] is not None
    assert sw["band"][0] <= 0.45 <= sw["band"][1]
    data = {"summary": summary, "settings": {"ac1_threshold": 0.45}}
    table = bg.markdown_table(data)
    n_over = summary["loop"]["n_overlap_items"]
    assert f"| loop | {n_over['min']}-{n_over['max']} | AC1 lower 95% bound >= 0.45 (new default) | " in table
    assert f"| {g['flagged']}/36 = " in table
    assert bg.wilson(0, 10)[0] == 0.0 and bg.wilson(10, 10)[1] == 1.0
    lo, hi = bg.wilson(5, 100)
    assert lo < 0.05 < hi
