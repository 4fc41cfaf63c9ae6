"""One shared suite that every registered strategy must pass (small-text's mixin, as parametrisation)."""

from __future__ import annotations

import numpy as np
import pytest

from al_ray.errors import EmptyPoolError, PoolExhaustedError
from al_ray.selection import STRATEGIES, SelectionConfig, build_strategy
from tests.selection.synth import make_candidates


@pytest.fixture(params=sorted(STRATEGIES))
def strategy(request):
    return build_strategy(SelectionConfig(strategy=request.param))


@pytest.mark.parametrize("n", [1, 7, 50, 300])
def test_batch_size_honoured_and_ids_unique(strategy, pool, n):
    sel = strategy.select(pool, n, np.random.default_rng(0))
    assert len(sel.indices) == n
    assert len(set(pool.ids[sel.indices])) == n
    assert sel.indices.min() >= 0 and sel.indices.max() < len(pool)


def test_seeded_determinism(strategy, pool):
    a = strategy.select(pool, 40, np.random.default_rng(123))
    b = strategy.select(pool, 40, np.random.default_rng(123))
    assert a.indices.tolist() == b.indices.tolist()
    assert a.reasons == b.reasons


def test_reasons_filled(strategy, pool):
    sel = strategy.select(pool, 25, np.random.default_rng(1))
    assert len(sel.reasons) == 25
    assert all(isinstance(r, str) and len(r) > 5 for r in sel.reasons)


def test_pool_exhausted(strategy, pool):
    with pytest.raises(PoolExhaustedError):
        strategy.select(pool, len(pool) + 1, np.random.default_rng(0))


def test_empty_pool(strategy, pool):
    with pytest.raises(EmptyPoolError):
        strategy.select(pool.subset(np.array([], dtype=np.int64)), 1, np.random.default_rng(0))


def test_bad_batch_size(strategy, pool):
    with pytest.raises(ValueError):
        strategy.select(pool, 0, np.random.default_rng(0))


def test_multiclass_pool(strategy):
    pool = make_candidates(n=200, labels=("a", "b", "c"), seed=3)
    sel = strategy.select(pool, 30, np.random.default_rng(0))
    assert len(set(sel.indices.tolist())) == 30


def test_single_predicted_label(strategy):
    probs = np.column_stack([np.full(100, 0.8), np.full(100, 0.2)]) + np.linspace(0, 0.1, 100)[:, None] * [[-1, 1]]
    pool = make_candidates(n=100, probs=probs)
    sel = strategy.select(pool, 10, np.random.default_rng(0))
    assert len(set(sel.indices.tolist())) == 10


def test_top_uncertainty_orders_by_measure():
    pool = make_candidates(n=100, seed=5)
    for name, key in (("entropy", -pool.entropy), ("margin", pool.margin), ("least_confidence", -pool.least_confidence)):
        sel = STRATEGIES[name]().select(pool, 10, np.random.default_rng(0))
        assert sel.indices.tolist() == np.argsort(key, kind="stable")[:10].tolist()


def test_random_differs_by_seed(pool):
    s = STRATEGIES["random"]()
    assert s.select(pool, 20, np.random.default_rng(1)).indices.tolist() != \
        s.select(pool, 20, np.random.default_rng(2)).indices.tolist()


def test_embedding_strategies_need_embeddings(pool):
    from al_ray.errors import InputError

    pool.embeddings = None
    for name in ("boundary_pairs", "cluster_margin", "typical"):
        with pytest.raises(InputError):
            STRATEGIES[name]().select(pool, 5, np.random.default_rng(0))
