"""The GPU throughput benchmark's CPU-side parts: its text lengths and its FLOP count."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import bench_gpu_transformers as g


def test_texts_are_calibrated_to_the_target_prompt_length():
    from al_ray.models import minilm_path
    from al_ray.scoring.engines.base import load_tokenizer
    from al_ray.verbalize import GenerativePromptEncoder

    texts, steps = g.make_texts(minilm_path(), 1500, 100.0, seed=0)
    assert len(texts) == 1500 and len(steps) == 4
    enc = GenerativePromptEncoder(load_tokenizer(minilm_path()), g.PROMPT, g.LABELS, g.MAX_INPUT_TOKENS - 1)
    lengths = [len(x) for x in enc.encode(texts)[0]]
    assert np.mean(lengths) == pytest.approx(100.0, rel=0.1)
    assert np.std(lengths) > 20  # a spread of lengths, not one size: padding behaviour depends on it
    assert g.make_texts(minilm_path(), 50, 100.0, seed=0)[0][:3] != g.make_texts(minilm_path(), 50, 100.0, seed=1)[0][:3]


def test_flops_per_text_matches_the_design_ceiling():
    arch = {"params_non_embedding": 357_898_112, "num_hidden_layers": 24, "hidden_size": 896, "vocab_size": 151936}
    per_text = g.flops_per_text([144], arch)[0]
    assert 2 * 357_898_112 * 144 < per_text < 1.1 * 2 * 357_898_112 * 144
    # DESIGN.md: "The FLOP ceiling at that length is ~7,700 texts/s" at 788 TFLOP/s
    assert 788e12 / per_text == pytest.approx(7700, rel=0.03)


def test_refuses_to_run_without_a_gpu(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    assert g.main(["--texts", "8"]) == 2
    assert "no CUDA device" in capsys.readouterr().err
