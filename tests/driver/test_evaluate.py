"""Model–expert agreement computed from score files, against hand-computed kappa."""

import pyarrow as pa
import pytest

from al_ray import storage
from al_ray.driver.evaluate import agreement, evaluate_against


def test_kappa_hand_computed():
    # 10 items; table (true x pred): pos/pos 4, pos/neg 1, neg/pos 1, neg/neg 4
    # p_o = 0.8; p_e = 0.5*0.5 + 0.5*0.5 = 0.5; kappa = (0.8 - 0.5) / 0.5 = 0.6
    y_true = ["p"] * 5 + ["n"] * 5
    y_pred = ["p", "p", "p", "p", "n", "p", "n", "n", "n", "n"]
    res = agreement(y_true, y_pred, ["n", "p"])
    assert res["kappa"] == pytest.approx(0.6)
    assert res["per_class"]["p"]["precision"] == pytest.approx(0.8)
    assert res["accuracy"] == pytest.approx(0.8)


def test_empty_eval_set_has_no_kappa():
    assert agreement([], [], ["a", "b"])["kappa"] is None


def test_evaluate_reads_score_files_and_counts_missing(tmp_path):
    for k, (ids, preds) in enumerate([(["a", "b"], ["x", "y"]), (["c"], ["y"])]):
        storage.write_parquet_atomic(pa.table({"id": ids, "predicted_label": preds, "entropy": [0.1] * len(ids)}),
                                     str(tmp_path / f"s{k}.parquet"))
    res = evaluate_against(str(tmp_path), {"a": "x", "b": "x", "c": "y", "zz": "x"}, ["x", "y"])
    assert res["n"] == 3 and res["missing"] == 1
    assert res["accuracy"] == pytest.approx(2 / 3)


def test_the_holdout_is_read_once_per_run(tmp_path):
    """Three steps of every round need the holdout's gold labels; the file is fixed, so it is read once."""
    import pyarrow.parquet as pq

    from al_ray import config_io
    from al_ray.driver import steps
    from al_ray.driver.config import RunConfig
    from al_ray.driver.manifest import Manifest
    from al_ray.layout import RunLayout

    gold = tmp_path / "gold"
    gold.mkdir()
    pq.write_table(pa.table({"id": [1, 2, 3], "label": ["a", "b", "a"], "split": ["test", "train", "test"]}),
                   gold / "gold.parquet")
    cfg = config_io.build(RunConfig, {"task": {"labels": ["a", "b"]},
                                      "corpus": {"url": str(tmp_path / "c"), "holdout_url": str(gold)}})
    layout = RunLayout(str(tmp_path / "run"))
    ctx = steps.RunContext(config=cfg, layout=layout, manifest=Manifest.open(layout, cfg.model_dump(mode="json")),
                           log=lambda m: None)
    assert steps._holdout(ctx) == {"1": "a", "3": "a"}
    (gold / "gold.parquet").unlink()  # a second read would now fail
    assert steps._holdout(ctx) == {"1": "a", "3": "a"}
