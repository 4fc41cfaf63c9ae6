"""Uncertainty measures: hand-computed values and properties."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from al_ray.scoring.uncertainty import calibrate, compute, entropy, renormalise


def test_hand_computed_two_labels():
    u = compute(np.array([[0.6, 0.2]]))  # mass 0.8 -> p = (0.75, 0.25)
    np.testing.assert_allclose(u["probs"], [[0.75, 0.25]])
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert u["entropy"][0] == pytest.approx(h)
    assert u["entropy_norm"][0] == pytest.approx(h / math.log(2))
    assert u["margin"][0] == pytest.approx(0.5)
    assert u["least_confidence"][0] == pytest.approx(0.25)
    assert u["label_mass"][0] == pytest.approx(0.8)
    assert u["predicted"][0] == 0


def test_hand_computed_three_labels():
    u = compute(np.array([[0.1, 0.3, 0.6], [1 / 3, 1 / 3, 1 / 3]]))
    assert u["margin"][0] == pytest.approx(0.3)
    assert u["least_confidence"][0] == pytest.approx(0.4)
    assert u["predicted"][0] == 2
    assert u["entropy"][1] == pytest.approx(math.log(3))
    assert u["entropy_norm"][1] == pytest.approx(1.0)
    assert u["margin"][1] == pytest.approx(0.0)


def test_zero_mass_row_is_uniform_and_flagged_by_mass():
    u = compute(np.array([[0.0, 0.0]]))
    np.testing.assert_allclose(u["probs"], [[0.5, 0.5]])
    assert u["label_mass"][0] == 0.0


def test_one_hot_has_zero_entropy():
    u = compute(np.array([[1.0, 0.0, 0.0]]))
    assert u["entropy"][0] == 0.0 and u["margin"][0] == 1.0 and u["least_confidence"][0] == 0.0


def test_batch_calibration_divides_out_the_prior():
    # every row leans to label 0 by the same factor: after calibration the batch is balanced
    p = np.array([[0.9, 0.1], [0.6, 0.4], [0.95, 0.05]])
    q = calibrate(renormalise(p)[0])
    prior = p.mean(axis=0)
    expect = (p / prior) / (p / prior).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(q, expect)
    u = compute(p, calibration="batch")
    np.testing.assert_allclose(u["probs"], expect)
    assert u["predicted"].tolist() == [0, 1, 0]  # the decision boundary moved for row 1
    # explicit prior
    np.testing.assert_allclose(compute(np.array([[0.5, 0.5]]), calibration=np.array([0.8, 0.2]))["probs"],
                               [[0.2, 0.8]])


def test_empty_input():
    u = compute(np.zeros((0, 3)))
    assert all(len(v) == 0 for v in u.values())


prob_rows = arrays(np.float64, st.tuples(st.integers(1, 20), st.integers(2, 6)),
                   elements=st.floats(0, 1, allow_nan=False, width=64))


@settings(max_examples=200, deadline=None)
@given(prob_rows)
def test_properties(p):
    u = compute(p)
    k = p.shape[1]
    assert np.all((u["margin"] >= 0) & (u["margin"] <= 1))
    assert np.all((u["least_confidence"] >= 0) & (u["least_confidence"] <= 1 - 1 / k + 1e-12))
    assert np.all((u["entropy_norm"] >= 0) & (u["entropy_norm"] <= 1))
    assert np.all(u["entropy"] <= math.log(k) + 1e-9)  # maximal at uniform
    np.testing.assert_allclose(u["probs"].sum(axis=1), 1.0)
    np.testing.assert_allclose(u["label_mass"], p.sum(axis=1))


@settings(max_examples=100, deadline=None)
@given(st.integers(2, 8), arrays(np.float64, 8, elements=st.floats(0.01, 1)))
def test_entropy_maximal_at_uniform(k, raw):
    q = raw[:k] / raw[:k].sum()
    assert entropy(q[None, :])[0] <= entropy(np.full((1, k), 1 / k))[0] + 1e-12
