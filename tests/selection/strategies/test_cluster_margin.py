"""Cluster-Margin: lowest-margin k_m, round-robin over clusters from the smallest."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from al_ray.selection.strategies import ClusterMargin
from tests.selection.synth import make_candidates


def _pool_with_clusters(sizes, seed=0):
    clusters = np.random.default_rng(seed).permutation(np.repeat(np.arange(len(sizes)), sizes))
    return make_candidates(n=len(clusters), seed=seed, cluster_ids=clusters)  # clusters given: no k-means


@settings(max_examples=30, deadline=None)
@given(sizes=st.lists(st.integers(1, 40), min_size=1, max_size=8), n=st.integers(1, 60),
       factor=st.floats(1.0, 4.0), seed=st.integers(0, 1000))
def test_round_robin_share(sizes, n, factor, seed):
    pool = _pool_with_clusters(sizes, seed)
    if n > len(pool):
        return
    cm = ClusterMargin(k_m_factor=factor)
    sel = cm.select(pool, n, np.random.default_rng(seed))
    k_m = min(len(pool), max(n, int(np.ceil(factor * n))))
    low = set(np.lexsort((np.arange(len(pool)), pool.margin))[:k_m].tolist())
    assert set(sel.indices.tolist()) <= low, "only the k_m lowest-margin candidates are eligible"
    avail = Counter(pool.cluster_ids[list(low)].tolist())
    got = Counter(pool.cluster_ids[sel.indices].tolist())
    top = max(got.values())
    for c, a in avail.items():
        # a cluster may fall behind the busiest one by more than one only when it has run out
        assert got.get(c, 0) >= min(a, top - 1), (c, got, avail)


def test_smallest_clusters_first():
    pool = _pool_with_clusters([30, 5, 30, 30])
    sel = ClusterMargin(k_m_factor=100).select(pool, 1, np.random.default_rng(0))
    assert pool.cluster_ids[sel.indices[0]] == 1


def test_clusters_itself_when_not_given():
    pool = make_candidates(n=200, seed=2)
    sel = ClusterMargin(n_clusters=5).select(pool, 20, np.random.default_rng(0))
    counts = Counter(sel.cluster_ids.tolist())
    assert len(counts) == 5 and max(counts.values()) - min(counts.values()) <= 1
