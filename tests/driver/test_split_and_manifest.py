"""The train/eval split is seeded per id (stable under resume); the manifest survives reloads."""

from al_ray.driver.manifest import Manifest
from al_ray.driver.steps import _is_eval
from al_ray.layout import RunLayout


def test_split_is_deterministic_and_near_fraction():
    ids = [f"id-{i}" for i in range(5000)]
    a = [_is_eval(7, i, 0.2) for i in ids]
    b = [_is_eval(7, i, 0.2) for i in ids]
    assert a == b
    assert 0.17 < sum(a) / len(a) < 0.23
    assert a != [_is_eval(8, i, 0.2) for i in ids]


def test_manifest_marks_persist(tmp_path):
    layout = RunLayout(str(tmp_path / "run"))
    m = Manifest.open(layout, {"x": 1})
    m.mark(0, "score", rows_scored=10)
    again = Manifest.load(layout)
    assert again.is_done(0, "score") and not again.is_done(0, "select")
    assert again.step_info(0, "score")["rows_scored"] == 10
    assert again.data["config"] == {"x": 1}
