"""The pooling probe builds both checkpoints with the product's builder and records what RESULTS.md shows."""

import json

import pytest

from benchmarks import bench_pooling_probe, results_tables
from tests.benchmarks.test_label_efficiency import write_fake_davidson


@pytest.mark.slow
def test_probe_records_both_poolings_and_renders(tmp_path):
    csv_path = write_fake_davidson(tmp_path / "d.csv", n=200)
    out, work = tmp_path / "probe.json", tmp_path / "work"
    assert bench_pooling_probe.main(["--csv", str(csv_path), "--rows", "200", "--seeds", "0", "--threads", "1",
                                     "--out", str(out), "--work", str(work)]) == 0
    rec = json.loads(out.read_text())
    assert [c["pooling"] for c in rec["cells"]] == ["cls", "mean"] and rec["machine"]["vector_extensions"]
    for pooling in ("cls", "mean"):
        cfg = json.loads((work / "violating-s0" / f"zero-shot-{pooling}" / "config.json").read_text())
        assert cfg["al_ray_pooling"] == pooling
    mean = next(c for c in rec["cells"] if c["pooling"] == "mean")
    # the fake task is planted (disjoint insult / friendly vocabularies): a linear probe must find it
    assert mean["points"][-1]["kappa"] > 0.5
    table = results_tables.pooling_probe_table(rec)
    assert "| [CLS] + BERT pooler |" in table and "| mean of tokens |" in table and "(n=1)" in table


def test_the_builder_refuses_an_unknown_pooling(tmp_path):
    from al_ray.models import build_zero_shot_classifier

    with pytest.raises(ValueError, match="pooling"):
        build_zero_shot_classifier(tmp_path / "m", ["a", "b"], pooling="max")
