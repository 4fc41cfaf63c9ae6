"""Boundary pairs come from where the two predicted-label populations overlap."""

from __future__ import annotations

import numpy as np

from al_ray.selection.strategies import BoundaryPairs
from tests.selection.synth import make_candidates, unit


def test_pairs_come_from_the_overlap_region(overlap_pool):
    sel = BoundaryPairs().select(overlap_pool, 40, np.random.default_rng(0))
    region = overlap_pool.extra["region"]
    paired = sel.indices[sel.pair_ids >= 0]
    assert len(paired) >= 20, sel.warnings
    assert region[paired].all(), "every paired item lies in the planted overlap region"
    # each pair joins one predicted positive and one predicted negative
    for pid in np.unique(sel.pair_ids[sel.pair_ids >= 0]):
        members = sel.indices[sel.pair_ids == pid]
        assert len(members) == 2
        assert set(overlap_pool.predicted[members]) == {"neg", "pos"}


def test_pairs_are_nearest_opposite_neighbours(overlap_pool):
    sel = BoundaryPairs().select(overlap_pool, 10, np.random.default_rng(0))
    emb = overlap_pool.embeddings
    pid0 = sel.indices[sel.pair_ids == 0]
    sim = float(emb[pid0[0]] @ emb[pid0[1]])
    assert sim > 0.8  # both in region R, far above cross-blob similarity (~0)


def test_no_overlap_falls_back_with_warning():
    rng = np.random.default_rng(0)
    d = 16
    emb = np.vstack([np.eye(d)[0] + 0.05 * rng.normal(size=(50, d)), np.eye(d)[1] + 0.05 * rng.normal(size=(50, d))])
    p = np.r_[np.full(50, 0.9), np.full(50, 0.1)]
    pool = make_candidates(n=100, embeddings=unit(emb), probs=np.column_stack([1 - p, p]))
    sel = BoundaryPairs(radius_quantile=0.5).select(pool, 10, rng)
    assert len(sel.indices) == 10
    assert (sel.pair_ids < 0).all()
    assert any("no overlapping" in w for w in sel.warnings)
    assert all(r.startswith("fill:") for r in sel.reasons)


def test_odd_batch_leaves_a_half_pair(overlap_pool):
    sel = BoundaryPairs().select(overlap_pool, 7, np.random.default_rng(0))
    assert (sel.pair_ids >= 0).sum() == 6
    assert "half of a boundary pair" in sel.reasons[-1]


def test_coverage_spreads_over_overlaps():
    """Two separate overlap regions: the batch draws pairs from both (round-robin over overlaps)."""
    rng = np.random.default_rng(3)
    d = 32
    blobs, is_pos, region = [], [], []
    for r, c in enumerate((np.eye(d)[2], np.eye(d)[3])):
        for pos in (True, False):
            blobs.append(c + 0.1 * rng.normal(size=(60, d)) / np.sqrt(d))
            is_pos += [pos] * 60
            region += [r] * 60
    emb = unit(np.vstack(blobs))
    is_pos = np.array(is_pos)
    p = np.where(is_pos, 0.7, 0.3)
    pool = make_candidates(n=len(emb), embeddings=emb, probs=np.column_stack([1 - p, p]))
    sel = BoundaryPairs().select(pool, 8, rng)
    regions = np.array(region)[sel.indices]
    assert set(regions.tolist()) == {0, 1}


def test_multiclass_pairwise_and_ovr():
    pool = make_candidates(n=240, labels=("a", "b", "c"), seed=9)
    for mode in ("ovr", "pairwise"):
        sel = BoundaryPairs(multiclass=mode).select(pool, 20, np.random.default_rng(0))
        for pid in np.unique(sel.pair_ids[sel.pair_ids >= 0]):
            members = sel.indices[sel.pair_ids == pid]
            assert pool.predicted[members[0]] != pool.predicted[members[1]]
