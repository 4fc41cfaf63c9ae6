"""Classifier mode on the MiniLM round-0 classifier: it learns, and the merged checkpoint is the PEFT model."""

from pathlib import Path

import pytest
import torch

from al_ray import storage
from al_ray.errors import ConfigError
from al_ray.finetune import FinetuneConfig, train_round
from al_ray.finetune import peft_adapter as pa
from al_ray.task import TaskConfig
from tests.finetune.conftest import BAD, GOOD, read_version


def test_loss_decreases_and_outputs_are_published(classifier_run):
    r = classifier_run
    m = r.metrics
    assert m["train_loss_after"] < m["train_loss_before"]
    assert m["train_loss_per_epoch"][-1] < m["train_loss_per_epoch"][0]
    assert m["train_accuracy_after"] >= 0.9
    assert m["n_train"] == 64 and m["class_counts"] == {"neither": 48, "violating": 16}
    assert m["class_weights"] == pytest.approx({"neither": 64 / 96, "violating": 2.0})
    assert m["target_modules"] == ["query", "value"] and m["modules_to_save"] == ["classifier"]
    assert m["version"] == "r001-clf" and m["base_version"] == "r000-zero-shot"
    assert m["seconds"] > 0
    assert m["head_init"] == {"head_init": "keep"}  # the default: no warm start
    for url in (r.adapter_url, r.merged_url, r.metrics_url):
        assert storage.exists(url) and storage.is_done(url)
    assert storage.read_json(r.metrics_url) == m
    assert read_version(Path(r.adapter_url)) == read_version(Path(r.merged_url)) == "r001-clf"


def test_merged_checkpoint_equals_peft_model(classifier_run, minilm_classifier_dir):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    texts = [f"{t} {i}" for i, t in enumerate(GOOD + BAD)] + ["", "a much longer message " * 20]
    peft_model, tok = pa.load_peft_model(minilm_classifier_dir, classifier_run.adapter_url, "classifier")
    from al_ray.models import apply_checkpoint_pooling

    # the merged checkpoint keeps the base's mean pooling (al_ray.models.POOLING_ATTR in config.json)
    merged = apply_checkpoint_pooling(AutoModelForSequenceClassification.from_pretrained(classifier_run.merged_url)).eval()
    merged_tok = AutoTokenizer.from_pretrained(classifier_run.merged_url)
    assert merged.config.id2label == {0: "neither", 1: "violating"}
    p_peft = pa.label_probabilities(peft_model, tok, texts, mode="classifier", max_length=64)
    p_merged = pa.label_probabilities(merged, merged_tok, texts, mode="classifier", max_length=64)
    assert torch.allclose(p_peft, p_merged, atol=1e-4, rtol=0)
    base = apply_checkpoint_pooling(AutoModelForSequenceClassification.from_pretrained(minilm_classifier_dir)).eval()
    p_base = pa.label_probabilities(base, tok, texts, mode="classifier", max_length=64)
    assert (p_base - p_merged).abs().max() > 0.01  # the fine-tune changed the model
    # and it moved towards the labels: violating texts score higher than benign ones
    n_good = len(GOOD)
    assert p_merged[n_good:n_good + len(BAD), 1].mean() > p_merged[:n_good, 1].mean() + 0.3


def test_rerun_of_a_completed_version_is_resumed(classifier_run, minilm_classifier_dir, labels_file, task):
    out = classifier_run.metrics_url.rsplit("/", 1)[0]
    again = train_round(FinetuneConfig(torch_threads=1, epochs=3, min_steps=0, max_length=32), task, mode="classifier",
                        base_model=str(minilm_classifier_dir), labels=[labels_file], out_url=out, version="r001-clf")
    assert again.resumed and again.metrics == classifier_run.metrics


def test_checkpoint_with_other_labels_is_refused(minilm_classifier_dir, labels_file, tmp_path):
    other = TaskConfig(labels=["violating", "neither"])  # same names, other order
    with pytest.raises(ConfigError):
        train_round(FinetuneConfig(torch_threads=1, epochs=1, min_steps=0), other, mode="classifier",
                    base_model=str(minilm_classifier_dir), labels=[labels_file], out_url=str(tmp_path / "m"),
                    version="v")
    assert not storage.exists(str(tmp_path / "m" / "metrics.json"))


def test_bad_arguments(minilm_classifier_dir, labels_file, task, tmp_path):
    with pytest.raises(ConfigError):
        train_round(FinetuneConfig(), task, mode="regression", base_model=str(minilm_classifier_dir),
                    labels=[labels_file], out_url=str(tmp_path), version="v")
    with pytest.raises(ConfigError):
        train_round(FinetuneConfig(), task, mode="classifier", base_model=str(minilm_classifier_dir),
                    labels=[labels_file], out_url=str(tmp_path), version=" ")
    with pytest.raises(ConfigError):
        train_round(FinetuneConfig(), task, mode="classifier", base_model=str(tmp_path / "nowhere"),
                    labels=[labels_file], out_url=str(tmp_path), version="v")
