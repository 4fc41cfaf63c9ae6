"""The configurable gate: its configuration, and the lower-bound rule against the former kappa gate."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from al_ray.labeling.agreement import compute_agreement
from al_ray.labeling.api import batch_agreement
from al_ray.labeling.config import LabelingConfig
from al_ray.labeling.resolve import gate

KAPPA_GATE = {"gate_metric": "mean_cohen_kappa", "gate_bound": "estimate", "gate_threshold": 0.8}


def _pairs(table: dict[tuple[str, str], int]) -> list[dict]:
    rows, k = [], 0
    for (la, lb), n in table.items():
        for _ in range(n):
            rows += [{"id": k, "annotator_id": "A", "label": la}, {"id": k, "annotator_id": "B", "label": lb}]
            k += 1
    return rows


def test_defaults_are_ac1_lower_bound():
    cfg = LabelingConfig()
    assert (cfg.gate_metric, cfg.gate_bound, cfg.gate_threshold) == ("gwet_ac1", "lower", 0.45)
    assert (cfg.gate_confidence, cfg.bootstrap_samples, cfg.bootstrap_seed) == (0.95, 2000, 0)


@pytest.mark.parametrize("bad", [
    {"gate_metric": "cohen"}, {"gate_metric": "minority_specific_agreement"},  # reported, not a gate
    {"gate_bound": "upper"}, {"gate_confidence": 1.0}, {"gate_confidence": 0.0},
    {"bootstrap_samples": 10}, {"bootstrap_seed": -1}, {"gate_threshold": 1.5},
])
def test_gate_fields_validate(bad):
    with pytest.raises(ValidationError):
        LabelingConfig(**bad)


def test_the_paradox_batch_passes_the_new_gate_and_fails_the_old():
    # 200 items, each annotator says "yes" on 3%, they agree on 95% (on 1 "yes"):
    # kappa: p_e = 0.03^2 + 0.97^2 = 0.9418, kappa = 0.0082 / 0.0582 = 0.141 (flagged at 0.8)
    # AC1: p_e = 2 * 0.03 * 0.97 = 0.0582, AC1 = 0.8918 / 0.9418 = 0.947, its lower bound above 0.45
    rows = _pairs({("yes", "yes"): 1, ("yes", "no"): 5, ("no", "yes"): 5, ("no", "no"): 189})
    cfg = LabelingConfig(annotators=["A", "B"])
    report = batch_agreement(rows, ["no", "yes"], cfg)
    old = gate(report, LabelingConfig(annotators=["A", "B"], **KAPPA_GATE), 200)
    new = gate(report, cfg, 200)
    assert old.status == "flagged" and old.value == pytest.approx(0.0082 / 0.0582)
    assert report.gwet_ac1 == pytest.approx(0.8918 / 0.9418)
    assert new.status == "passed" and new.bound == "lower"
    assert new.value == report.intervals["gwet_ac1"]["low"]
    assert 0.45 < new.value < new.estimate == pytest.approx(report.gwet_ac1)
    assert "lower 95% bound" in new.reason


def test_a_few_lucky_items_do_not_pass_on_the_lower_bound():
    # 10 items, 3 disagreements: p_o 0.7, pi_yes = 9/20, p_e = 2 * 0.45 * 0.55 = 0.495,
    # AC1 = 0.205 / 0.505 = 0.406. A point-estimate gate at 0.35 passes it; ten items say little,
    # and the 95% interval reaches far below 0.35
    rows = _pairs({("yes", "yes"): 3, ("yes", "no"): 2, ("no", "yes"): 1, ("no", "no"): 4})
    cfg = LabelingConfig(annotators=["A", "B"], min_overlap_items=5)
    report = batch_agreement(rows, ["no", "yes"], cfg)
    assert report.gwet_ac1 == pytest.approx(0.205 / 0.505)
    point = gate(report, cfg.model_copy(update={"gate_bound": "estimate", "gate_threshold": 0.35}), 10)
    lower = gate(report, cfg.model_copy(update={"gate_threshold": 0.35}), 10)
    assert point.status == "passed" and lower.status == "flagged"
    assert lower.value < 0.35 <= point.value


def test_resolving_again_gives_the_same_decision():
    rng = np.random.default_rng(1)
    rows = [{"id": i, "annotator_id": who, "label": "y" if rng.random() < 0.3 else "n"}
            for i in range(40) for who in "AB"]
    cfg = LabelingConfig(annotators=["A", "B"])
    a, b = batch_agreement(rows, ["n", "y"], cfg), batch_agreement(rows, ["n", "y"], cfg)
    assert a.intervals == b.intervals and gate(a, cfg, 40) == gate(b, cfg, 40)
    other = batch_agreement(rows, ["n", "y"], cfg.model_copy(update={"bootstrap_seed": 7}))
    assert other.intervals["gwet_ac1"]["low"] != a.intervals["gwet_ac1"]["low"]


def test_lower_bound_gate_needs_intervals():
    rows = _pairs({("yes", "yes"): 5, ("no", "no"): 5})
    with pytest.raises(ValueError, match="bootstrap"):
        gate(compute_agreement(rows, ["no", "yes"]), LabelingConfig(annotators=["A", "B"]), 10)
    # the former gate needs none
    g = gate(compute_agreement(rows, ["no", "yes"]), LabelingConfig(annotators=["A", "B"], **KAPPA_GATE), 10)
    assert g.passed and g.value == 1.0
