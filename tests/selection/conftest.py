"""Fixtures of the selection tests: synthetic pools with planted structure (no model)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.selection.synth import make_candidates, unit


@pytest.fixture
def pool():
    return make_candidates(n=300, d=16, seed=0)


@pytest.fixture
def overlap_pool():
    """Two label populations that overlap in exactly one region of embedding space.

    positives: a pure blob around A plus a blob around R; negatives: a pure blob around B plus a
    blob around R. A, B, R are mutually orthogonal, so only R mixes labels.
    """
    rng = np.random.default_rng(7)
    d = 32
    A, B, R = np.eye(d)[0], np.eye(d)[1], np.eye(d)[2]

    def blob(center, n, s=0.15):
        return center + s * rng.normal(size=(n, d)) / np.sqrt(d)

    emb = np.vstack([blob(A, 150), blob(R, 60), blob(B, 150), blob(R, 60)])
    region = np.r_[np.zeros(150), np.ones(60), np.zeros(150), np.ones(60)].astype(bool)
    is_pos = np.r_[np.ones(210), np.zeros(210)].astype(bool)
    p_pos = np.where(is_pos, rng.uniform(0.55, 0.95, len(is_pos)), rng.uniform(0.05, 0.45, len(is_pos)))
    probs = np.column_stack([1 - p_pos, p_pos])
    cands = make_candidates(n=len(emb), embeddings=unit(emb), probs=probs, labels=("neg", "pos"))
    cands.extra["region"] = region
    return cands
