"""When to stop asking experts for labels.

The seed's rule: stop when the model agrees with the experts as well as the experts agree with
each other (model–expert agreement >= expert–expert agreement). Both sides are measured in one
coefficient, the labelling gate's (``labeling.gate_metric``, Gwet's AC1 by default): comparing a
model's kappa with the experts' AC1, or the other way round, would compare two scales (on skewed
labels AC1 is far above kappa), and the ceiling must be the same number the gate trusts batches by.
Two practical guards: stop when agreement has improved by less than ``epsilon`` for ``patience``
rounds (more labels are not helping), and when the label budget is spent. Pure functions over the
per-round history so they are easy to test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from pydantic import AliasChoices, BaseModel, ConfigDict, Field


class StoppingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    epsilon: float = Field(0.01, ge=0, description="Smallest agreement gain that counts as improvement.")
    patience: int = Field(2, ge=1, description="Rounds without improvement before stopping (plateau).")
    target_agreement: float | None = Field(
        None, ge=-1, le=1, validation_alias=AliasChoices("target_agreement", "target_kappa"),
        description="Fixed model–expert agreement target, in the gate's coefficient "
        "(`labeling.gate_metric`); null uses the experts' own agreement with each other measured so "
        "far. Also accepted as `target_kappa` (its name when the coefficient was always kappa).",
    )
    min_eval_items: int = Field(
        20, ge=1, description="Convergence/plateau are only judged on an eval set at least this large.",
    )


@dataclass(frozen=True)
class StopDecision:
    stop: bool
    reason: str | None  # converged | plateau | budget_spent | max_rounds
    detail: str


def decide(
    *,
    agreements: Sequence[float | None],
    eval_sizes: Sequence[int],
    expert_agreement: float | None,
    labels_used: int,
    label_budget: int,
    round_index: int,
    max_rounds: int,
    config: StoppingConfig,
    metric: str = "agreement",
) -> StopDecision:
    """Decide after evaluating the model of round ``round_index`` (``agreements[-1]``).

    ``agreements``: model–expert agreement per round and ``expert_agreement`` the experts' with each
    other, both in ``metric`` (its name is only used in the messages).
    """
    current = agreements[-1] if agreements else None
    size = eval_sizes[-1] if eval_sizes else 0
    target = config.target_agreement if config.target_agreement is not None else expert_agreement
    if current is not None and size >= config.min_eval_items and target is not None and current >= target:
        return StopDecision(True, "converged",
                            f"model–expert {metric} {current:.3f} >= target {target:.3f} "
                            f"({'configured' if config.target_agreement is not None else 'expert–expert'})")
    judged = [k for k, n in zip(agreements, eval_sizes) if k is not None and n >= config.min_eval_items]
    if len(judged) > config.patience:
        best_before = max(judged[: -config.patience])
        recent_best = max(judged[-config.patience:])
        if recent_best - best_before < config.epsilon:
            return StopDecision(True, "plateau",
                                f"{metric} improved by {recent_best - best_before:+.3f} (< {config.epsilon}) "
                                f"over the last {config.patience} rounds")
    if labels_used >= label_budget:
        return StopDecision(True, "budget_spent", f"{labels_used} labels used of a budget of {label_budget}")
    if round_index >= max_rounds:
        return StopDecision(True, "max_rounds", f"reached the configured {max_rounds} labelling rounds")
    return StopDecision(False, None, "continue")
