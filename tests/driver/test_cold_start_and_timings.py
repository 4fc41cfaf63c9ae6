"""The driver's cold start (round 0 selects with `typical` from a random pool, later rounds with the
configured strategy) and the wall time per step in the manifest and in `al-ray status`.

The loop runs with its stages replaced by fakes (no Ray, no model): what is tested is the driver.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from al_ray import config_io
from al_ray.driver import steps
from al_ray.driver.config import ColdStartConfig, RunConfig, cold_start, selection_fields, validate_stages
from al_ray.driver.manifest import Manifest
from al_ray.driver.run import run_loop
from al_ray.errors import ConfigError
from al_ray.layout import RunLayout

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"


def _config(**selection) -> RunConfig:
    return config_io.build(RunConfig, {
        "run": {"seed": 2, "max_rounds": 2, "batch_size": 10, "label_budget": 100},
        "task": {"labels": ["neither", "violating"], "positive_label": "violating"},
        "corpus": {"url": "/nowhere/corpus", "gold_url": "/nowhere/gold"},
        "selection": {"strategy": "cluster_margin", "threads": 1, **selection},
        "simulation": {"kind": "vote_counts"},
    })


def test_cold_start_defaults_on_for_round_zero():
    sel = {"strategy": "boundary_pairs"}
    assert cold_start(sel) == ColdStartConfig(strategy="typical", rounds=1)
    assert selection_fields(sel, 0) == ({"strategy": "typical"}, True)
    assert selection_fields(sel, 1) == ({"strategy": "boundary_pairs"}, False)
    two = {"strategy": "entropy", "cold_start": {"strategy": "random", "rounds": 2}}
    assert [selection_fields(two, r)[0]["strategy"] for r in range(3)] == ["random", "random", "entropy"]
    for off in ({"cold_start": None}, {"cold_start": {"rounds": 0}}):
        assert cold_start(off) is None
        assert selection_fields({"strategy": "entropy", **off}, 0) == ({"strategy": "entropy"}, False)


def test_cold_start_is_validated_with_the_selection_section():
    validate_stages(_config(cold_start={"strategy": "typical", "rounds": 2}))
    validate_stages(_config(cold_start=None))
    with pytest.raises(ConfigError) as err:
        validate_stages(_config(cold_start={"strategy": "nope", "roundz": 1}))
    assert "selection.cold_start.roundz" in str(err.value) and "selection.cold_start" in str(err.value)
    assert "unknown strategy 'nope'" in str(err.value)
    with pytest.raises(ConfigError, match="selection.cold_start.rounds"):
        validate_stages(_config(cold_start={"rounds": -1}))
    with pytest.raises(ConfigError, match="selection.strategy"):  # the later rounds' strategy still checked
        validate_stages(_config(strategy="nope"))
    demo = config_io.load(RunConfig, str(DEMO))
    assert "cold_start" not in demo.selection and cold_start(demo.selection) is not None  # the demo: on


def _fake_stages(monkeypatch, picked: list):
    """Every stage a fake that takes a little time; select goes through steps.select for real."""

    def nap(info):
        def step(*a, **k):
            time.sleep(0.01)
            return dict(info)
        return step

    monkeypatch.setattr(steps, "ensure_corpus", lambda ctx: None)

    def base(ctx):
        ctx.manifest.data["base_model"] = {"url": "/nowhere/base", "version": "r000-zero-shot"}

    monkeypatch.setattr(steps, "ensure_base_model", base)
    monkeypatch.setattr(steps, "score", nap({"rows_scored": 10}))
    monkeypatch.setattr(steps, "evaluate", nap({"kappa": None, "n_eval": 0, "expert_kappa": None}))
    monkeypatch.setattr(steps, "excluded_ids", lambda ctx, r: set())
    monkeypatch.setattr(steps, "export", nap({"n_assignments": 10}))
    monkeypatch.setattr(steps, "simulate", nap({}))
    monkeypatch.setattr(steps, "labels", nap({"status": "done", "n_labels": 10, "expert_kappa": 1.0,
                                              "gate_passed": True}))
    monkeypatch.setattr(steps, "split", nap({"n_train": 8, "n_eval": 2}))
    monkeypatch.setattr(steps, "finetune", nap({"version": "r", "adapter_url": "/a", "merged_url": "/m"}))

    def fake_select_batch(cfg, task, scores, corpus, out_dir, **kw):
        picked.append((kw["round"], cfg.strategy, cfg.effective_pool_order(), cfg.effective_stratify()))
        time.sleep(0.01)
        return SimpleNamespace(n_selected=cfg.n, pool_size=1000, dropped_duplicates=0, warnings=[])

    monkeypatch.setattr("al_ray.selection.api.select_batch", fake_select_batch)


def test_loop_uses_the_cold_start_strategy_in_round_zero_only(tmp_path, monkeypatch):
    picked: list = []
    _fake_stages(monkeypatch, picked)
    run = str(tmp_path / "run")
    out = run_loop(_config(), run, log=lambda m: None)
    assert out.status == "max_rounds"
    assert picked == [(0, "typical", "random", True), (1, "cluster_margin", "uncertainty", False)]
    m = json.loads((tmp_path / "run" / "manifest.json").read_text())
    sel0, sel1 = m["rounds"]["000"]["steps"]["select"], m["rounds"]["001"]["steps"]["select"]
    assert (sel0["strategy"], sel0["cold_start"], sel0["pool_order"]) == ("typical", True, "random")
    assert (sel1["strategy"], sel1["cold_start"], sel1["pool_order"]) == ("cluster_margin", False, "uncertainty")

    picked.clear()
    run_loop(_config(cold_start=None), str(tmp_path / "off"), log=lambda m: None)
    assert [p[1] for p in picked] == ["cluster_margin", "cluster_margin"]


def test_manifest_records_seconds_per_step_and_round(tmp_path, monkeypatch, capsys):
    _fake_stages(monkeypatch, [])
    run = str(tmp_path / "run")
    run_loop(_config(), run, log=lambda m: None)
    m = Manifest.load(RunLayout(run))
    for rd in m.rounds()[:2]:
        secs = {s: v["seconds"] for s, v in rd["steps"].items()}
        assert set(secs) == {"score", "evaluate", "select", "export", "labels", "split", "finetune"}
        assert all(0.009 <= s < 5 for s in secs.values()), secs
        assert rd["seconds"] == pytest.approx(sum(secs.values()), abs=1e-6)
    final = m.rounds()[2]  # the last model's scoring + evaluation only
    assert set(final["steps"]) == {"score", "evaluate"} and final["seconds"] > 0

    from al_ray.cli import main

    capsys.readouterr()
    assert main(["status", run]) == 0
    out = capsys.readouterr().out
    assert "wall time per step (s)" in out and "total" in out
    r0 = m.rounds()[0]
    assert f"{r0['seconds']:.2f}" in out and f"{r0['steps']['select']['seconds']:.2f}" in out


def test_redone_step_replaces_its_time(tmp_path):
    m = Manifest.open(RunLayout(str(tmp_path / "run")), {})
    m.mark(0, "score", seconds=2.0)
    m.mark(0, "labels", status="waiting", seconds=1.0)
    assert m.round(0)["seconds"] == 3.0
    m.mark(0, "labels", seconds=0.5)  # resumed: the wait's attempt is replaced, not added
    assert m.round(0)["seconds"] == 2.5
    m.mark(0, "split")  # untimed entries (older manifests) leave the total alone
    assert m.round(0)["seconds"] == 2.5 and "seconds" not in m.step_info(0, "split")
