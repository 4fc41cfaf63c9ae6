"""Generative mode on the tiny Llama: the adapter moves the next-token label distribution to the labels."""

import pytest
import torch

from al_ray import storage
from al_ray.finetune import FinetuneConfig, read_labels, train_round
from al_ray.finetune import peft_adapter as pa
from al_ray.verbalize import GenerativePromptEncoder
from tests.finetune.conftest import LABELS


def test_loss_decreases_adapter_only(generative_run):
    r = generative_run
    m = r.metrics
    assert m["train_loss_after"] < m["train_loss_before"]
    assert m["train_loss_per_epoch"][-1] < m["train_loss_per_epoch"][0]
    assert r.merged_url is None and not storage.exists(storage.join(r.adapter_url, "..", "merged"))
    assert storage.is_done(r.adapter_url) and storage.is_done(r.metrics_url)
    assert m["max_lora_rank"] == 8 and m["lora_r"] == 8
    assert m["target_modules"] == ["q_proj", "v_proj", "o_proj", "gate_proj"]
    assert set(m["label_token_ids"]) == set(LABELS)
    assert m["label_token_ids"] == {"neither": [4445], "violating": [20084]}  # WordPiece: one token each


def test_label_probabilities_move_toward_targets(generative_run, tiny_llama_dir, labels_file, task):
    from transformers import AutoModelForCausalLM

    data = read_labels(labels_file, task.labels)
    y = torch.tensor(data.label_ids)
    peft_model, tok = pa.load_peft_model(tiny_llama_dir, generative_run.adapter_url, "generative")
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    kw = dict(mode="generative", max_length=48, labels=task.labels, prompt_template=task.prompt_template)
    p_base = pa.label_probabilities(base, tok, data.texts, **kw)
    p_tuned = pa.label_probabilities(peft_model, tok, data.texts, **kw)
    true_base = p_base[torch.arange(len(y)), y]
    true_tuned = p_tuned[torch.arange(len(y)), y]
    assert true_tuned.mean() > true_base.mean() + 0.2
    # both classes improve (balanced weights keep the minority class from being ignored)
    for k in (0, 1):
        assert true_tuned[y == k].mean() > true_base[y == k].mean()
    assert (p_tuned.argmax(-1) == y).float().mean() >= 0.9


def test_left_padding_does_not_change_probabilities(generative_run, tiny_llama_dir, task):
    peft_model, tok = pa.load_peft_model(tiny_llama_dir, generative_run.adapter_url, "generative")
    kw = dict(mode="generative", max_length=64, labels=task.labels, prompt_template=task.prompt_template)
    texts = ["hi", "a considerably longer message about nothing " * 3]
    batched = pa.label_probabilities(peft_model, tok, texts, **kw)
    single = torch.cat([pa.label_probabilities(peft_model, tok, [t], **kw) for t in texts])
    assert torch.allclose(batched, single, atol=1e-5)


def test_prompt_encoding_keeps_the_answer_cue(tiny_llama_dir, task):
    tok = pa.load_tokenizer(tiny_llama_dir, "generative")
    enc = GenerativePromptEncoder(tok, task.prompt_template, list(task.labels), max_tokens=32)
    (short, long_), truncated = enc.encode(["hi", "word " * 100])
    assert truncated.tolist() == [False, True]
    assert short[0] == tok.cls_token_id and tok.sep_token_id not in short  # no closing [SEP]
    assert len(long_) == 32 and long_[-len(enc.tail_ids):] == enc.tail_ids  # text cut, "Answer:" kept
    assert tok.decode(short, skip_special_tokens=True).endswith("answer :")


def test_full_vocab_loss_also_learns(tiny_llama_dir, labels_file, task, tmp_path):
    cfg = FinetuneConfig(torch_threads=1, epochs=2, min_steps=0, max_length=48, learning_rate=3e-3, generative_loss="full_vocab")
    r = train_round(cfg, task, mode="generative", base_model=str(tiny_llama_dir), labels=[labels_file],
                    out_url=str(tmp_path / "m"), version="fv")
    assert r.metrics["train_loss_after"] < r.metrics["train_loss_before"]


def test_bfloat16_base_trains_float32_adapter(tiny_llama_dir, labels_file, task, tmp_path):
    cfg = FinetuneConfig(epochs=1, min_steps=0, max_length=48, learning_rate=3e-3, dtype="bfloat16", torch_threads=1)
    r = train_round(cfg, task, mode="generative", base_model=str(tiny_llama_dir), labels=[labels_file],
                    out_url=str(tmp_path / "m"), version="bf16")
    assert r.metrics["torch_threads"] == 1
    state = pa.adapter_state(r.adapter_url)
    assert state and all(t.dtype == torch.float32 for t in state.values())
    assert all(torch.isfinite(t).all() for t in state.values())
