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


def test_a_resume_with_a_changed_config_is_refused_naming_the_fields(tmp_path):
    import pytest

    from al_ray.errors import ConfigError

    layout = RunLayout(str(tmp_path / "run"))
    start = {"run": {"batch_size": 100, "seed": 0}, "finetune": {"min_steps": 150}, "task": {"labels": ["a", "b"]}}
    Manifest.open(layout, start).mark(0, "score")
    assert Manifest.open(layout, start).is_done(0, "score")  # the same config resumes
    changed = {"run": {"batch_size": 50, "seed": 0}, "finetune": {"min_steps": 150}, "task": {"labels": ["a", "b"]}}
    with pytest.raises(ConfigError) as err:
        Manifest.open(layout, changed)
    msg = str(err.value)
    assert "run.batch_size: 100 -> 50" in msg and "--allow-config-change" in msg and "manifest.json" in msg
    assert "seed" not in msg.split("(")[1]  # only the fields that differ are named
    # an al_ray upgrade that adds a setting is not a user's change
    upgraded = {**start, "finetune": {"min_steps": 150, "new_knob": True}}
    assert Manifest.open(layout, upgraded).data["config"] == start
    m = Manifest.open(layout, changed, allow_config_change=True)
    assert m.data["config"]["run"]["batch_size"] == 50 and m.is_done(0, "score")
    assert Manifest.load(layout).data["config_changes"][0]["fields"] == {"run.batch_size": {"old": 100, "new": 50}}
