"""Label -> token ids with MiniLM's WordPiece tokenizer; exact prompt truncation."""

import pytest

from al_ray.errors import ConfigError, LabelTokenCollisionError
from al_ray.models import minilm_path
from al_ray.scoring.engines.base import load_tokenizer
from al_ray.verbalize import ClassifierEncoder, GenerativePromptEncoder, label_token_ids


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer(minilm_path())


def test_wordpiece_space_variants_share_one_token(tok):
    lt = label_token_ids(tok, ["safe", "unsafe"], "Answer:", "both")
    assert len(lt.token_ids) == 2  # WordPiece drops whitespace: " safe" and "safe" are one id
    assert lt.token_ids[0] == tok.convert_tokens_to_ids("safe")
    assert lt.matrix.tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_lowercasing_collision_is_refused(tok):
    with pytest.raises(LabelTokenCollisionError, match="'Safe' and 'safe'"):
        label_token_ids(tok, ["Safe", "safe"], "Answer:")


def test_shared_first_subword_is_refused(tok):
    # "spamming" and "spammer" split into the same first WordPiece ("spa" / "spam")
    first = {w: tok.tokenize(w)[0] for w in ("spammer", "spamming")}
    assert first["spammer"] == first["spamming"]
    with pytest.raises(LabelTokenCollisionError, match="both start with token"):
        label_token_ids(tok, ["spammer", "spamming"], "Answer:")


def test_generative_truncation_keeps_the_answer_cue(tok):
    enc = GenerativePromptEncoder(tok, "Classify as {labels}.\nText: {text}\nAnswer:", ["safe", "unsafe"], 32)
    ids, truncated = enc.encode(["short text", "word " * 200, ""])
    assert truncated.tolist() == [False, True, False]
    assert len(ids[1]) == 32
    tail = tok("\nAnswer:", add_special_tokens=False)["input_ids"]
    for x in ids:
        assert x[-len(tail):] == tail
        assert x[0] == tok.cls_token_id and tok.sep_token_id not in x
    assert ids[0] == [tok.cls_token_id] + tok("Classify as safe, unsafe.\nText: short text\nAnswer:",
                                              add_special_tokens=False)["input_ids"]


def test_generative_budget_too_small(tok):
    with pytest.raises(ConfigError, match="no room"):
        GenerativePromptEncoder(tok, "a very long template with many words {text} Answer:", ["a", "b"], 8)


def test_classifier_truncation_matches_hf(tok):
    enc = ClassifierEncoder(tok, 16)
    texts = ["hello there", "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"]
    ids, truncated = enc.encode(texts)
    assert truncated.tolist() == [False, True]
    assert ids == tok(texts, truncation=True, max_length=16)["input_ids"]
