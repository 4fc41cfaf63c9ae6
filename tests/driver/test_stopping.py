"""Stopping rules: converged, plateau, budget, max rounds — each triggers, and only when it should."""

import pytest

from al_ray.driver.stopping import StoppingConfig, decide


def _decide(kappas, sizes=None, expert=None, used=0, budget=500, r=None, max_rounds=10, **cfg):
    sizes = sizes if sizes is not None else [100] * len(kappas)
    return decide(kappas=kappas, eval_sizes=sizes, expert_kappa=expert, labels_used=used, label_budget=budget,
                  round_index=len(kappas) - 1 if r is None else r, max_rounds=max_rounds,
                  config=StoppingConfig(**cfg))


def test_converged_when_model_matches_experts():
    d = _decide([0.3, 0.6, 0.81], expert=0.8)
    assert d.stop and d.reason == "converged"


def test_not_converged_below_expert_kappa():
    d = _decide([0.3, 0.6, 0.79], expert=0.8)
    assert not d.stop


def test_convergence_needs_a_big_enough_eval_set():
    d = _decide([0.3, 0.9], sizes=[0, 5], expert=0.8, min_eval_items=20)
    assert not d.stop


def test_configured_target_overrides_expert_kappa():
    d = _decide([0.5], expert=0.9, target_kappa=0.5)
    assert d.stop and d.reason == "converged"


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


@pytest.mark.parametrize("bad", [{"epsilon": -1}, {"patience": 0}, {"target_kappa": 2}])
def test_config_validates(bad):
    with pytest.raises(ValueError):
        StoppingConfig(**bad)
