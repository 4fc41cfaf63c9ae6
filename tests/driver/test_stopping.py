"""Stopping rules: converged, plateau, budget, max rounds — each triggers, and only when it should."""

import pytest

from al_ray.driver.stopping import StoppingConfig, decide
from al_ray.labeling.agreement import compute_agreement, paired_agreement


def _decide(agreements, sizes=None, expert=None, used=0, budget=500, r=None, max_rounds=10, **cfg):
    sizes = sizes if sizes is not None else [100] * len(agreements)
    return decide(agreements=agreements, eval_sizes=sizes, expert_agreement=expert, labels_used=used,
                  label_budget=budget, round_index=len(agreements) - 1 if r is None else r,
                  max_rounds=max_rounds, config=StoppingConfig(**cfg), metric="gwet_ac1")


def test_converged_when_model_matches_experts():
    d = _decide([0.3, 0.6, 0.81], expert=0.8)
    assert d.stop and d.reason == "converged" and "gwet_ac1 0.810 >= target 0.800" in d.detail


def test_not_converged_below_expert_agreement():
    d = _decide([0.3, 0.6, 0.79], expert=0.8)
    assert not d.stop


def test_convergence_needs_a_big_enough_eval_set():
    d = _decide([0.3, 0.9], sizes=[0, 5], expert=0.8, min_eval_items=20)
    assert not d.stop


@pytest.mark.parametrize("name", ["target_agreement", "target_kappa"])  # the former name still reads
def test_configured_target_overrides_expert_agreement(name):
    d = _decide([0.5], expert=0.9, **{name: 0.5})
    assert d.stop and d.reason == "converged" and "configured" in d.detail


def test_plateau_after_patience_rounds_without_gain():
    d = _decide([0.3, 0.5, 0.505, 0.507], expert=0.9, epsilon=0.01, patience=2)
    assert d.stop and d.reason == "plateau"


def test_no_plateau_while_improving():
    d = _decide([0.3, 0.5, 0.52, 0.56], expert=0.9, epsilon=0.01, patience=2)
    assert not d.stop


def test_rounds_without_eval_set_do_not_count_toward_plateau():
    d = _decide([None, 0.5, 0.5], sizes=[0, 100, 100], expert=0.9, patience=2)
    assert not d.stop


def test_budget_spent():
    d = _decide([0.2, 0.3], expert=0.9, used=500, budget=500)
    assert d.stop and d.reason == "budget_spent"


def test_max_rounds():
    d = _decide([0.2, 0.3, 0.4], expert=0.9, max_rounds=2)
    assert d.stop and d.reason == "max_rounds"


@pytest.mark.parametrize("bad", [{"epsilon": -1}, {"patience": 0}, {"target_agreement": 2},
                                 {"target_kappa": 2}])
def test_config_validates(bad):
    with pytest.raises(ValueError):
        StoppingConfig(**bad)


def test_ceiling_and_model_in_the_same_coefficient_on_skewed_labels():
    """Why both sides of the comparison must be one coefficient: 100 items, 5 positives.

    Two experts (E1 = the reference) disagree on 10 items: the paradox table, p_o 0.9, both 5%
    positive, kappa -0.053, AC1 0.8895. A model that matches the reference on 95 items (its 5 errors
    on negatives): p_o 0.95, model 10% positive, kappa = (0.95 - 0.86) / 0.14 = 0.643;
    AC1: pi_pos = 0.075, p_e = 2 * 0.075 * 0.925 = 0.13875, AC1 = (0.95 - 0.13875) / 0.86125 = 0.942.
    Against the experts' AC1 the model has converged; its kappa against their AC1 would say it has
    not (0.643 < 0.8895), and its AC1 against their kappa would stop on anything.
    """
    labels = ["n", "y"]
    ref = ["y"] * 5 + ["n"] * 95
    e2 = ["n"] * 5 + ["y"] * 5 + ["n"] * 90
    model = ["y"] * 5 + ["y"] * 5 + ["n"] * 90
    expert_ac1 = paired_agreement(ref, e2, labels, "gwet_ac1")
    assert expert_ac1 == pytest.approx(0.805 / 0.905)  # p_e = 2 * 0.05 * 0.95 = 0.095
    assert paired_agreement(ref, e2, labels, "mean_cohen_kappa") == pytest.approx(-0.005 / 0.095)
    model_ac1 = paired_agreement(ref, model, labels, "gwet_ac1")
    model_kappa = paired_agreement(ref, model, labels, "mean_cohen_kappa")
    assert model_ac1 == pytest.approx(0.81125 / 0.86125) and model_kappa == pytest.approx(0.09 / 0.14)
    same = decide(agreements=[model_ac1], eval_sizes=[100], expert_agreement=expert_ac1, labels_used=100,
                  label_budget=500, round_index=0, max_rounds=10, config=StoppingConfig(), metric="gwet_ac1")
    assert same.stop and same.reason == "converged"
    mixed = decide(agreements=[model_kappa], eval_sizes=[100], expert_agreement=expert_ac1, labels_used=100,
                   label_budget=500, round_index=0, max_rounds=10, config=StoppingConfig())
    assert not mixed.stop
    # paired_agreement is compute_agreement on two "annotators"
    rows = [r for i, (a, b) in enumerate(zip(ref, model))
            for r in ({"id": i, "annotator_id": "x", "label": a}, {"id": i, "annotator_id": "y", "label": b})]
    assert compute_agreement(rows, labels).gwet_ac1 == pytest.approx(model_ac1)


def test_ceiling_pools_the_gate_coefficient_over_batches():
    """The experts' ceiling: their per-batch agreement in the gate's coefficient, weighted by overlap
    items; batches recorded in another coefficient (older manifests: kappa) are not mixed in."""
    from types import SimpleNamespace

    from al_ray.driver.steps import expert_agreement_so_far

    infos = {
        0: {"agreement_metric": "gwet_ac1", "expert_agreement": 0.9, "n_overlap": 30, "expert_kappa": 0.4},
        1: {"agreement_metric": "gwet_ac1", "expert_agreement": 0.8, "n_overlap": 10, "expert_kappa": 0.7},
        2: {"expert_kappa": 0.6, "n_overlap": 20},  # before the coefficient was recorded: kappa
        3: {"agreement_metric": "gwet_ac1", "expert_agreement": None, "n_overlap": 0},  # no overlap
    }
    ctx = SimpleNamespace(manifest=SimpleNamespace(step_info=lambda i, step: infos[i]))
    assert expert_agreement_so_far(ctx, 4, "gwet_ac1") == pytest.approx((0.9 * 30 + 0.8 * 10) / 40)
    assert expert_agreement_so_far(ctx, 1, "gwet_ac1") == pytest.approx(0.9)  # rounds < r only
    assert expert_agreement_so_far(ctx, 4, "mean_cohen_kappa") == pytest.approx(0.6)
    assert expert_agreement_so_far(ctx, 4, "brennan_prediger") is None
