"""Learning from few labels: the default recipe fits a planted, separable task from 30 labels.

The default is a step budget (``min_steps``): 30 labels x 12 epochs are only 24 optimiser steps.

The planted task: two topics (cooking, astronomy) whose words never overlap, with label names that
tell the zero-shot head nothing ("x_class", "y_class"). Any sentence encoder separates the topics;
what is tested is whether the fine-tune recipe gets there from 30 labels. The old recipe (5 epochs =
10 optimiser steps from the zero-shot head) does not; the test of it documents why the defaults
changed and fails if the planted task ever becomes trivial.
"""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from al_ray import storage
from al_ray.finetune import FinetuneConfig, train_round
from al_ray.finetune import peft_adapter as pa_
from al_ray.schemas import LABELS_SCHEMA
from al_ray.task import TaskConfig

PLANTED = TaskConfig(labels=["x_class", "y_class"])
TOPIC_X = ["the soup needs more salt", "bake the bread for an hour", "chop the onions finely",
           "stir the sauce slowly", "roast the vegetables", "whisk the eggs and sugar", "simmer the stew",
           "fry the garlic in butter", "knead the dough", "season the chicken with pepper"]
TOPIC_Y = ["the telescope shows saturn's rings", "a comet crossed the night sky", "the galaxy is far away",
           "astronauts orbit the planet", "a star collapsed into a black hole", "the moon eclipsed the sun",
           "the rocket reached orbit", "jupiter has many moons", "a meteor shower tonight",
           "the nebula glows red"]
FILLERS = ["today", "again", "i think", "they said", "apparently", "right now", "as usual", "this week"]


def planted_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        y = i % 2
        text = f"{rng.choice(FILLERS)} {rng.choice(TOPIC_Y if y else TOPIC_X)} {rng.choice(FILLERS)}"
        rows.append(dict(id=f"p{seed}-{i}", text=text, label=PLANTED.labels[y], round=1, source="single",
                         n_annotations=1, propagated_from=None))
    return rows


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    from al_ray.models import build_zero_shot_classifier

    d = tmp_path_factory.mktemp("planted")
    base = build_zero_shot_classifier(d / "base", PLANTED.labels)
    url = str(d / "labels.parquet")
    storage.write_parquet_atomic(pa.Table.from_pylist(planted_rows(30, seed=0), schema=LABELS_SCHEMA), url)
    held_out = planted_rows(80, seed=1)
    return base, url, held_out, d


def _held_out_accuracy(result, base, held_out) -> float:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from al_ray.models import apply_checkpoint_pooling

    model = apply_checkpoint_pooling(AutoModelForSequenceClassification.from_pretrained(result.merged_url)).eval()
    tok = AutoTokenizer.from_pretrained(result.merged_url)
    probs = pa_.label_probabilities(model, tok, [r["text"] for r in held_out], mode="classifier", max_length=32)
    pred = [PLANTED.labels[k] for k in probs.argmax(-1).tolist()]
    return float(np.mean([p == r["label"] for p, r in zip(pred, held_out)]))


@pytest.mark.slow
def test_default_recipe_learns_the_planted_task_from_30_labels(planted):
    base, url, held_out, d = planted
    cfg = FinetuneConfig(torch_threads=1, max_length=32, seed=0)  # the defaults: a step budget
    res = train_round(cfg, PLANTED, mode="classifier", base_model=str(base), labels=[url],
                      out_url=str(d / "new"), version="r001-new")
    m = res.metrics
    assert m["head_init"]["head_init"] == "keep"
    assert m["steps"] == cfg.min_steps  # 30 labels x 12 epochs = 24 steps, raised to the step budget
    assert m["train_accuracy_after"] >= 0.95
    assert _held_out_accuracy(res, base, held_out) >= 0.85  # chance is 0.5


@pytest.mark.slow
def test_old_recipe_underfits_the_planted_task(planted):
    """5 epochs from the zero-shot head, the recipe before the few-labels change: it must not pass
    the test above (if it did, the planted task would prove nothing)."""
    base, url, held_out, d = planted
    cfg = FinetuneConfig(torch_threads=1, max_length=32, seed=0, epochs=5, min_steps=0, head_init="keep")
    res = train_round(cfg, PLANTED, mode="classifier", base_model=str(base), labels=[url],
                      out_url=str(d / "old"), version="r001-old")
    assert res.metrics["steps"] == 10
    passed = res.metrics["train_accuracy_after"] >= 0.95 and _held_out_accuracy(res, base, held_out) >= 0.85
    assert not passed


@pytest.mark.slow
def test_warm_started_head_is_saved_and_merged(planted):
    """head_init='logistic' through train_round: the adapter carries the fitted head, and the merged
    checkpoint (what vLLM serves) computes what the PEFT model computes."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from al_ray.models import apply_checkpoint_pooling

    base, url, held_out, d = planted
    cfg = FinetuneConfig(torch_threads=1, max_length=32, seed=0, head_init="logistic", min_steps=0, epochs=1)
    res = train_round(cfg, PLANTED, mode="classifier", base_model=str(base), labels=[url],
                      out_url=str(d / "warm"), version="r001-warm")
    assert res.metrics["head_init"]["head_init"] == "logistic"
    assert res.metrics["head_init"]["train_accuracy"] == 1.0  # the topics are separable
    texts = [r["text"] for r in held_out[:16]]
    peft_model, tok = pa_.load_peft_model(base, res.adapter_url, "classifier")
    merged = apply_checkpoint_pooling(AutoModelForSequenceClassification.from_pretrained(res.merged_url)).eval()
    p_peft = pa_.label_probabilities(peft_model, tok, texts, mode="classifier", max_length=32)
    p_merged = pa_.label_probabilities(merged, tok, texts, mode="classifier", max_length=32)
    assert torch.allclose(p_peft, p_merged, atol=1e-4, rtol=0)
    assert _held_out_accuracy(res, base, held_out) >= 0.85  # one epoch after the warm start: the floor's level


def test_warm_start_head_is_the_fitted_logistic_regression(minilm_classifier_dir):
    """The head after the warm start predicts exactly what scikit-learn's fitted model predicts."""
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rows = planted_rows(24, seed=3)
    texts = [r["text"] for r in rows]
    y = [i % 2 for i in range(len(rows))]
    weights = [1.0, 1.0]
    lm = pa_.build_lora_model(minilm_classifier_dir, "classifier", ["neither", "violating"], FinetuneConfig())
    info = pa_.warm_start_head(lm, texts, y, weights, c=0.5, seed=0, max_length=32, device="cpu")
    assert info["head_init"] == "logistic" and info["n_features"] == 384
    x = pa_.head_features(lm, texts, max_length=32, device="cpu")
    scaler = StandardScaler().fit(x)
    ref = LogisticRegression(C=0.5, class_weight={0: 1.0, 1: 1.0}, max_iter=5000).fit(scaler.transform(x), y)
    ref_margin = ref.decision_function(scaler.transform(x))
    lm.model.eval()
    with torch.no_grad():
        logits = pa_.classifier_logits(lm.model, lm.tokenizer, texts, 32, "cpu").double().numpy()
    np.testing.assert_allclose(logits[:, 1] - logits[:, 0], ref_margin, atol=1e-4)


def test_warm_start_is_skipped_with_one_class(minilm_classifier_dir):
    lm = pa_.build_lora_model(minilm_classifier_dir, "classifier", ["neither", "violating"], FinetuneConfig())
    before = pa_._head_linear(lm.model)[1].weight.detach().clone()
    info = pa_.warm_start_head(lm, ["a", "b", "c"], [0, 0, 0], [1.0, 1.0], c=1.0, seed=0, max_length=16,
                               device="cpu")
    assert info["head_init"] == "skipped" and "only classes [0]" in info["reason"]
    assert (pa_._head_linear(lm.model)[1].weight == before).all()


@pytest.mark.slow
def test_contrastive_recipe_learns_the_planted_task_and_serves_merged(planted):
    """recipe='contrastive' (SetFit's two stages on the LoRA model) through train_round: it learns the
    planted task from 30 labels, its cosine loss falls, and the merged checkpoint vLLM would serve
    computes what the PEFT model computes."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from al_ray.models import apply_checkpoint_pooling

    base, url, held_out, d = planted
    cfg = FinetuneConfig(torch_threads=1, max_length=32, seed=0, recipe="contrastive", min_steps=40,
                         contrastive_max_steps=40)
    res = train_round(cfg, PLANTED, mode="classifier", base_model=str(base), labels=[url],
                      out_url=str(d / "contrastive"), version="r001-contrastive")
    m = res.metrics
    assert m["recipe"] == "contrastive" and m["head_init"]["head_init"] == "logistic"
    assert m["contrastive"]["steps"] == 40 and m["contrastive"]["pairs"] == 2 * 20 * 30
    assert m["contrastive"]["loss_last"] < m["contrastive"]["loss_first"]
    assert m["train_accuracy_after"] >= 0.95
    assert _held_out_accuracy(res, base, held_out) >= 0.85
    texts = [r["text"] for r in held_out[:16]]
    peft_model, tok = pa_.load_peft_model(base, res.adapter_url, "classifier")
    merged = apply_checkpoint_pooling(AutoModelForSequenceClassification.from_pretrained(res.merged_url)).eval()
    assert torch.allclose(pa_.label_probabilities(peft_model, tok, texts, mode="classifier", max_length=32),
                          pa_.label_probabilities(merged, tok, texts, mode="classifier", max_length=32),
                          atol=1e-4, rtol=0)


def test_contrastive_pairs_are_seeded_and_balanced():
    from al_ray.finetune.contrastive import sample_pairs

    y = [0, 0, 0, 1, 1, 2]
    pairs = sample_pairs(y, per_example=4, seed=3)
    assert pairs == sample_pairs(y, per_example=4, seed=3) and pairs != sample_pairs(y, per_example=4, seed=4)
    assert all((y[i] == y[j]) == (t == 1.0) and i != j for i, j, t in pairs)
    # every example gets one negative per draw; the singleton class (index 5) gets no positive
    assert sum(t == 0.0 for _, _, t in pairs) == 4 * len(y)
    assert sum(t == 1.0 for _, _, t in pairs) == 4 * (len(y) - 1)


@pytest.mark.slow
def test_floor_recipe_serves_the_frozen_embedding_floor(planted):
    """recipe='floor': no gradient step; the merged checkpoint is the base encoder with the fitted
    logistic head, so the engines serve the floor like any other round's model."""
    base, url, held_out, d = planted
    cfg = FinetuneConfig(torch_threads=1, max_length=32, seed=0, recipe="floor")
    res = train_round(cfg, PLANTED, mode="classifier", base_model=str(base), labels=[url],
                      out_url=str(d / "floor"), version="r001-floor")
    m = res.metrics
    assert m["recipe"] == "floor" and m["steps"] == 0 and m["recipe_choice"] is None
    assert m["head_init"]["head_init"] == "logistic" and m["head_init"]["train_accuracy"] == 1.0
    assert _held_out_accuracy(res, base, held_out) >= 0.85


@pytest.mark.slow
def test_recipe_choice_takes_the_candidate_that_wins_on_the_holdout(planted):
    """recipe_candidates: each candidate trains on 75% of the labels and is scored on the rest; the
    winner retrains on all of them. A LoRA run with a learning rate too small to move the zero-shot
    head (x_class/y_class tell it nothing) loses to the floor; with the default recipe both are
    perfect on the planted task and the tie goes to the candidate listed first."""
    base, url, held_out, d = planted
    weak_lora = FinetuneConfig(torch_threads=1, max_length=32, seed=0, recipe_candidates=["lora", "floor"],
                               learning_rate=1e-9, min_steps=10)
    res = train_round(weak_lora, PLANTED, mode="classifier", base_model=str(base), labels=[url],
                      out_url=str(d / "choice-floor"), version="r001-choice-floor")
    choice = res.metrics["recipe_choice"]
    assert choice["chosen"] == "floor" and res.metrics["recipe"] == "floor" and res.metrics["steps"] == 0
    assert (choice["n_fit"], choice["n_holdout"]) == (22, 8)
    assert choice["holdout_kappa"]["floor"] > choice["holdout_kappa"]["lora"]
    assert _held_out_accuracy(res, base, held_out) >= 0.85

    both_good = FinetuneConfig(torch_threads=1, max_length=32, seed=0, recipe_candidates=["lora", "floor"])
    res = train_round(both_good, PLANTED, mode="classifier", base_model=str(base), labels=[url],
                      out_url=str(d / "choice-tie"), version="r001-choice-tie")
    choice = res.metrics["recipe_choice"]
    assert choice["holdout_kappa"] == {"lora": 1.0, "floor": 1.0}  # a tie goes to the first listed
    assert choice["chosen"] == "lora" and res.metrics["steps"] == both_good.min_steps


def test_holdout_is_stratified_and_refused_for_a_singleton_class():
    from al_ray.finetune.recipes import holdout_indices

    y = [0] * 30 + [1] * 10
    fit, hold = holdout_indices(y, 0.25, seed=0)
    assert sorted(fit + hold) == list(range(40)) and len(hold) == 10
    assert sum(y[i] for i in hold) in (2, 3) and holdout_indices(y, 0.25, seed=0) == (fit, hold)
    assert holdout_indices([0] * 9 + [1], 0.25, seed=0) is None  # one positive: no holdout with both classes
    assert holdout_indices([0, 0, 1, 1], 0.25, seed=0) is None  # nothing left to fit on


def test_recipe_candidates_must_differ():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="at least two different recipes"):
        FinetuneConfig(recipe_candidates=["lora", "lora"])
    with pytest.raises(ValidationError):
        FinetuneConfig(recipe_candidates=["lora", "bagging"])
    assert FinetuneConfig(recipe_candidates=["lora", "floor"]).recipe_candidates == ["lora", "floor"]
