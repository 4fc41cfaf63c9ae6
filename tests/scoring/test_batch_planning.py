"""How the transformers backend groups rows into forward passes (pure function, no model)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from al_ray.scoring.engines.transformers_engine import MAX_PAD_SHARE, MIN_FILL_SHARE, plan_batches


def padded(lengths, batches):
    return sum(int(lengths[b].max()) * len(b) for b in batches)


@settings(max_examples=200, deadline=None)
@given(lengths=st.lists(st.integers(1, 600), min_size=1, max_size=300),
       budget=st.integers(64, 20000), batch_size=st.integers(1, 64))
def test_token_budget_batches_cover_every_row_once_within_budget_and_cap(lengths, budget, batch_size):
    lengths = np.array(lengths)
    batches = plan_batches(lengths, "token_budget", budget, batch_size)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    for b in batches:
        assert 1 <= len(b) <= 8 * batch_size
        longest = int(lengths[b].max())
        assert len(b) == 1 or longest * len(b) <= budget
        pad_share = 1 - lengths[b].sum() / (longest * len(b))
        # padding stays under the cap unless the batch is only as long as the minimum fill asks
        assert pad_share <= MAX_PAD_SHARE + 1e-9 or longest * (len(b) - 1) < MIN_FILL_SHARE * budget


def test_long_tail_pads_far_less_than_one_batch_per_budget():
    """Log-normal lengths (a few very long rows): the first batches used to pad about half their tokens."""
    lengths = np.clip(np.rint(np.random.default_rng(0).lognormal(np.log(110), 0.75, 1024)), 16, 511).astype(int)
    batches = plan_batches(lengths, "token_budget", 131072, 1024)
    share = 1 - lengths.sum() / padded(lengths, batches)
    assert share < 0.35  # the planner before the cap: 0.47
    assert len(batches) < 12  # still few, large passes


@pytest.mark.parametrize("n,batch_size", [(10, 4), (8, 4), (1, 3)])
def test_fixed_batches_keep_input_order(n, batch_size):
    batches = plan_batches(np.arange(n) + 1, "fixed", 1000, batch_size)
    assert np.concatenate(batches).tolist() == list(range(n))
    assert all(len(b) == batch_size for b in batches[:-1])
