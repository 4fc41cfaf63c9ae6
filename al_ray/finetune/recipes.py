"""The classifier recipes, and the choice between them on a holdout of the labels so far.

Recipes (``finetune.recipe``), each run on a freshly built LoRA model of the round-0 base:

- ``lora``: weighted cross-entropy steps on LoRA + the head (``training_loop.train``);
- ``contrastive``: SetFit's two stages (``al_ray.finetune.contrastive``), then the logistic head;
- ``floor``: no gradient step. The head becomes a class-balanced logistic regression on the frozen
  features it reads (``head_init.warm_start_head``), the LoRA matrices stay at their zero init, so
  the merged checkpoint is the base encoder with that head: the frozen-embedding floor, served by
  the same engines as any other round's model.

Why a choice per round (``finetune.recipe_candidates``): which recipe wins depends on the labels,
not on a constant. Measured on the shared data (benchmarks/RESULTS.md sections 1 and 1b), LoRA
beats the frozen-embedding floor by 0.1-0.3 kappa once a class has a few dozen labels, and falls
below it when the minority class has a handful (hate at 100 labels, both seeds). A stratified
holdout of the labels already bought measures each candidate on *this* task at *this* size; the
winner is then retrained on every label. Measured (RESULTS.md 1b, finding 8): at 30-150 labels the
holdout is too small to tell the two apart and chose wrongly every time it left LoRA, so the choice
is off by default; it stays for larger label sets and for other candidates. scikit-learn splits (``train_test_split``) and scores
(``cohen_kappa_score``), the product's own metric.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

from al_ray.finetune.config import FinetuneConfig
from al_ray.finetune.data import class_weights

Log = Callable[[str], None] | None


def fit_recipe(pa: Any, lm: Any, recipe: str, texts: Sequence[str], label_ids: Sequence[int],
               weights: Sequence[float], config: FinetuneConfig, device: str,
               log: Log) -> tuple[Any, dict[str, Any], dict[str, Any] | None]:
    """Train ``lm`` in place with one classifier recipe: (TrainReport, head_init record, contrastive record)."""
    if recipe == "contrastive":
        return _contrastive(pa, lm, texts, label_ids, weights, config, device, log)
    if recipe == "floor":
        return _floor(pa, lm, texts, label_ids, weights, config, device)
    head_init: dict[str, Any] = {"head_init": "keep"}
    if config.head_init == "logistic":
        head_init = pa.warm_start_head(lm, texts, label_ids, weights, c=config.head_init_c, seed=config.seed,
                                       max_length=config.max_length, device=device)
    return pa.train(lm, texts, label_ids, weights, config, device=device, log=log), head_init, None


def _floor(pa: Any, lm: Any, texts: Sequence[str], label_ids: Sequence[int], weights: Sequence[float],
           config: FinetuneConfig, device: str) -> tuple[Any, dict[str, Any], None]:
    return *_logistic_head(pa, lm, texts, label_ids, weights, config, device, time.perf_counter(), None, 0), None


def _contrastive(pa: Any, lm: Any, texts: Sequence[str], label_ids: Sequence[int], weights: Sequence[float],
                 config: FinetuneConfig, device: str, log: Log) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """SetFit's two stages. With one class labelled there are no negative pairs and no head to fit:
    the cross-entropy recipe runs instead, and metrics.json says so."""
    from al_ray.finetune.contrastive import train_contrastive

    if len(set(label_ids)) < 2:
        report = pa.train(lm, texts, label_ids, weights, config, device=device, log=log)
        return report, {"head_init": "keep"}, {"skipped": "one class labelled: cross-entropy recipe used"}
    t0 = time.perf_counter()
    before = (pa.evaluate_training_set(lm, texts, label_ids, weights, config, device)[0]
              if config.eval_train_loss else None)
    stage1 = train_contrastive(lm, texts, label_ids, config, device=device, log=log)
    report, head_init = _logistic_head(pa, lm, texts, label_ids, weights, config, device, t0, before, stage1["steps"])
    return report, head_init, stage1


def _logistic_head(pa: Any, lm: Any, texts: Sequence[str], label_ids: Sequence[int], weights: Sequence[float],
                   config: FinetuneConfig, device: str, t0: float, before: float | None,
                   steps: int) -> tuple[Any, dict[str, Any]]:
    """The last stage the floor and the contrastive recipe share: fit the logistic head on the
    features as they are now, then measure the training set (TrainReport, head_init record)."""
    head_init = pa.warm_start_head(lm, texts, label_ids, weights, c=config.head_init_c, seed=config.seed,
                                   max_length=config.max_length, device=device)
    after = acc = None
    if config.eval_train_loss:
        after, acc = pa.evaluate_training_set(lm, texts, label_ids, weights, config, device)
    report = pa.TrainReport(train_loss_per_epoch=[], train_loss_before=before, train_loss_after=after,
                            train_accuracy_after=acc, steps=steps, seconds=time.perf_counter() - t0)
    return report, head_init


def holdout_indices(label_ids: Sequence[int], fraction: float, seed: int) -> tuple[list[int], list[int]] | None:
    """(fit, holdout) positions, stratified by label, or None when a class has too few labels to
    appear on both sides (fewer than 2), or the holdout would be empty."""
    from collections import Counter

    from sklearn.model_selection import train_test_split

    counts = Counter(label_ids)
    if len(counts) < 2 or min(counts.values()) < 2:
        return None
    n_hold = max(len(counts), round(fraction * len(label_ids)))
    if n_hold >= len(label_ids) - len(counts):
        return None
    fit, hold = train_test_split(list(range(len(label_ids))), test_size=n_hold, stratify=list(label_ids),
                                 random_state=seed)
    return sorted(fit), sorted(hold)


def choose_recipe(pa: Any, build: Callable[[], Any], texts: Sequence[str], label_ids: Sequence[int],
                  n_labels: int, config: FinetuneConfig, device: str, log: Log) -> dict[str, Any]:
    """Train every candidate on the fit part of a stratified holdout, score each on the rest.

    ``build()`` returns a fresh LoRA model of the base (each candidate starts from the same weights).
    Returns the record metrics.json keeps: the chosen recipe and every candidate's holdout kappa;
    ties go to the candidate listed first. Without a usable holdout the first candidate is chosen
    and the record says why.
    """
    from sklearn.metrics import cohen_kappa_score

    candidates = list(config.recipe_candidates or [config.recipe])
    split = holdout_indices(label_ids, config.recipe_holdout, config.seed)
    if split is None:
        return {"chosen": candidates[0], "candidates": candidates,
                "skipped": "a class has fewer than 2 labels: no stratified holdout"}
    fit, hold = split
    fit_texts, fit_y = [texts[i] for i in fit], [label_ids[i] for i in fit]
    hold_texts, hold_y = [texts[i] for i in hold], [label_ids[i] for i in hold]
    counts = [fit_y.count(k) for k in range(n_labels)]
    weights = class_weights(counts, config.class_weighting)
    scores: dict[str, float] = {}
    seconds: dict[str, float] = {}
    for recipe in candidates:
        t0 = time.perf_counter()
        lm = build()
        fit_recipe(pa, lm, recipe, fit_texts, fit_y, weights, config, device, None)
        probs = pa.label_probabilities(lm.model, lm.tokenizer, hold_texts, mode="classifier",
                                       max_length=config.max_length, device=device)
        predicted = probs.argmax(-1).tolist()
        kappa = float(cohen_kappa_score(hold_y, predicted, labels=list(range(n_labels))))
        scores[recipe] = round(kappa, 4) if kappa == kappa else 0.0  # NaN (no variance anywhere) scores as chance
        seconds[recipe] = round(time.perf_counter() - t0, 3)
        if log:
            log(f"recipe choice: {recipe} holdout kappa {scores[recipe]:.3f} ({len(fit)} fit, {len(hold)} held out)")
        del lm
    best = max(scores.values())
    chosen = next(r for r in candidates if scores[r] == best)
    return {"chosen": chosen, "candidates": candidates, "holdout_kappa": scores, "seconds": seconds,
            "n_fit": len(fit), "n_holdout": len(hold), "holdout_fraction": config.recipe_holdout}
