"""The fine-tune's learning-rate schedule (``peft_adapter.Stepper``), step by step.

The schedule is the recorded recipe's: a linear warm-up from (step + 1) / (warmup + 1), then a linear
decay to 0. These tests pin the learning rate each optimiser step uses to that formula, computed
here on its own, and show where it agrees with ``transformers.get_linear_schedule_with_warmup``
(everywhere but the warm-up), which is why the helper is not used in its place.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from al_ray.finetune import FinetuneConfig
from al_ray.finetune.peft_adapter import Stepper

LR = 5e-4


def recorded_factor(step: int, total_steps: int, warmup_ratio: float) -> float:
    """The schedule's multiplier at ``step`` as the recipe was measured with it."""
    warmup = int(total_steps * warmup_ratio)
    if step < warmup:
        return (step + 1) / (warmup + 1)
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup))


def stepper_lrs(total_steps: int, warmup_ratio: float) -> list[float]:
    """The learning rate of each of ``total_steps`` optimiser steps of a ``Stepper``."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    stepper = Stepper(SimpleNamespace(model=model), FinetuneConfig(warmup_ratio=warmup_ratio),
                      total_steps, lr=LR)
    x = torch.randn(4, 3)
    lrs = []
    for _ in range(total_steps):
        lrs.append(stepper.opt.param_groups[0]["lr"])
        stepper.step(model(x).square().mean())
    return lrs


@pytest.mark.parametrize("total_steps,warmup_ratio", [(50, 0.06), (50, 0.0), (10, 0.5), (7, 0.3), (1, 0.0),
                                                      (200, 0.1)])
def test_learning_rates_follow_the_recorded_formula(total_steps, warmup_ratio):
    expected = [LR * recorded_factor(s, total_steps, warmup_ratio) for s in range(total_steps)]
    assert stepper_lrs(total_steps, warmup_ratio) == pytest.approx(expected, rel=1e-12, abs=0)


def test_warm_up_starts_above_zero_and_peaks_at_the_full_rate():
    lrs = stepper_lrs(50, 0.06)  # warm-up of 3 steps
    assert lrs[:4] == pytest.approx([LR / 4, LR / 2, 3 * LR / 4, LR])
    assert lrs[0] > 0 and max(lrs) == pytest.approx(LR)
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:]))  # then decays monotonically
    assert lrs[-1] == pytest.approx(LR / 47)  # one step short of 0


def _transformers_lrs(total_steps: int, warmup: int) -> list[float]:
    from transformers import get_linear_schedule_with_warmup

    opt = torch.optim.AdamW(torch.nn.Linear(3, 2).parameters(), lr=LR)
    sched = get_linear_schedule_with_warmup(opt, warmup, total_steps)
    lrs = []
    for _ in range(total_steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_equals_transformers_linear_schedule_except_during_warm_up():
    total, ratio = 50, 0.1
    warmup = int(total * ratio)
    ours, theirs = stepper_lrs(total, ratio), _transformers_lrs(total, warmup)
    assert ours[warmup:] == pytest.approx(theirs[warmup:], rel=1e-12, abs=0)
    assert theirs[0] == 0.0 and ours[0] > 0  # the one difference: transformers warms up from 0
    assert stepper_lrs(total, 0.0) == pytest.approx(_transformers_lrs(total, 0), rel=1e-12, abs=0)
