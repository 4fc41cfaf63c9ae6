"""Same seed -> bit-identical adapter tensors; another seed -> other tensors."""

import torch

from al_ray.finetune import FinetuneConfig, train_round
from al_ray.finetune import peft_adapter as pa


def _train(base, labels_file, task, out, mode, seed, max_length):
    cfg = FinetuneConfig(torch_threads=1, epochs=2, min_steps=0, batch_size=8, max_length=max_length, learning_rate=1e-3,
                         seed=seed)
    r = train_round(cfg, task, mode=mode, base_model=str(base), labels=[labels_file], out_url=str(out),
                    version=f"seed{seed}")
    return pa.adapter_state(r.adapter_url), r.metrics


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_generative_same_seed_identical(tiny_llama_dir, labels_file, task, tmp_path):
    a, ma = _train(tiny_llama_dir, labels_file, task, tmp_path / "a", "generative", 1, 48)
    b, mb = _train(tiny_llama_dir, labels_file, task, tmp_path / "b", "generative", 1, 48)
    c, _ = _train(tiny_llama_dir, labels_file, task, tmp_path / "c", "generative", 2, 48)
    assert _same(a, b)
    assert ma["train_loss_per_epoch"] == mb["train_loss_per_epoch"]
    assert not _same(a, c)


def test_classifier_same_seed_identical(minilm_classifier_dir, labels_file, task, tmp_path):
    a, _ = _train(minilm_classifier_dir, labels_file, task, tmp_path / "a", "classifier", 1, 24)
    b, _ = _train(minilm_classifier_dir, labels_file, task, tmp_path / "b", "classifier", 1, 24)
    c, _ = _train(minilm_classifier_dir, labels_file, task, tmp_path / "c", "classifier", 2, 24)
    assert any("classifier" in k for k in a)  # the head is part of the adapter
    assert _same(a, b)
    assert not _same(a, c)
