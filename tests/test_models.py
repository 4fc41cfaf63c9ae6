"""Checkpoints built without a model hub, and the pooling every engine must agree on."""

from __future__ import annotations

import json

import numpy as np
import pytest


def _encode(tok, texts):
    return tok(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")


def test_zero_shot_classifier_pools_by_mean_and_matches_a_hand_computed_mean(minilm_classifier_dir):
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    from al_ray.models import POOLING_ATTR, apply_checkpoint_pooling, minilm_path

    assert json.loads((minilm_classifier_dir / "config.json").read_text())[POOLING_ATTR] == "mean"
    tok = AutoTokenizer.from_pretrained(minilm_classifier_dir)
    clf = apply_checkpoint_pooling(AutoModelForSequenceClassification.from_pretrained(minilm_classifier_dir)).eval()
    enc = _encode(tok, ["a short one", "a much longer text with many more words than the first one"])
    with torch.no_grad():
        got = clf(**enc).logits
        h = AutoModel.from_pretrained(minilm_path()).eval()(**enc).last_hidden_state  # same encoder weights
        m = enc["attention_mask"].unsqueeze(-1).float()
        pooled = torch.tanh((h * m).sum(1) / m.sum(1))  # identity pooler dense, then tanh
        want = pooled @ clf.classifier.weight.T + clf.classifier.bias
    assert torch.allclose(got, want, atol=1e-5)
    # padding must not leak into the mean: the short text alone gives the same logits
    with torch.no_grad():
        alone = clf(**_encode(tok, ["a short one"])).logits
    assert torch.allclose(alone[0], got[0], atol=1e-5)


def test_zero_shot_head_ranks_by_the_label_descriptions(minilm_classifier_dir):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from al_ray.models import apply_checkpoint_pooling

    tok = AutoTokenizer.from_pretrained(minilm_classifier_dir)
    clf = apply_checkpoint_pooling(AutoModelForSequenceClassification.from_pretrained(minilm_classifier_dir)).eval()
    texts = ["you are a worthless idiot and everyone hates you", "shut up you pathetic loser",
             "had a lovely walk in the park with my dog", "thanks for the recipe, dinner was great"]
    with torch.no_grad():
        p = torch.softmax(clf(**_encode(tok, texts)).logits, -1)[:, 1].numpy()
    assert p[:2].min() > p[2:].max(), p
    assert 0.001 < p.min() and p.max() < 0.999, "logits ~ scale x cosine: not saturated"


def test_cls_checkpoints_are_left_as_they_are(tmp_path):
    from transformers import BertConfig, BertForSequenceClassification

    from al_ray.models import apply_checkpoint_pooling

    model = BertForSequenceClassification(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                                     intermediate_size=64, vocab_size=100))
    pooler = model.bert.pooler
    assert apply_checkpoint_pooling(model).bert.pooler is pooler


@pytest.mark.parametrize("value", ["max", "CLS", 3])
def test_unknown_pooling_is_refused_naming_the_attribute(value):
    from al_ray.models import POOLING_ATTR, checkpoint_pooling

    with pytest.raises(ValueError, match=POOLING_ATTR):
        checkpoint_pooling({POOLING_ATTR: value})


def test_mean_pooling_survives_save_and_reload(minilm_classifier_dir, tmp_path):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from al_ray.models import apply_checkpoint_pooling

    tok = AutoTokenizer.from_pretrained(minilm_classifier_dir)
    a = apply_checkpoint_pooling(AutoModelForSequenceClassification.from_pretrained(minilm_classifier_dir)).eval()
    a.save_pretrained(tmp_path)  # keys keep BertPooler's names: a plain reload finds every weight
    b = apply_checkpoint_pooling(AutoModelForSequenceClassification.from_pretrained(tmp_path)).eval()
    enc = _encode(tok, ["check the weights", "and the config attribute"])
    with torch.no_grad():
        assert torch.equal(a(**enc).logits, b(**enc).logits)
    assert set(a.state_dict()) == set(b.state_dict())
    assert np.isfinite(b.bert.pooler.dense.weight.detach().numpy()).all()
