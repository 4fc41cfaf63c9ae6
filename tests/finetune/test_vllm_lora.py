"""Proof that next round's vLLM scorer really applies the generative adapter.

vLLM on CPU scores label-token logprobs with and without ``LoRARequest`` on the same engine (the base
model is loaded once). The adapter must move the probabilities (> 0.01) and agree with
transformers + PEFT on the same adapter within 1e-3; the base must agree with plain transformers.

Uses vLLM directly, not ``al_ray.scoring.engines.make_engine``: that engine is built with one adapter
fixed at construction, and this test needs base and adapter from one engine (the adapter applied per
request, the base never reloaded). It feeds vLLM the exact prompt token ids and label tokens that
both the fine-tune and the scorer use (``al_ray.verbalize``), so what is proven here is what the
scorer sees.
"""

import math

import psutil
import pytest
import torch

from al_ray.finetune import peft_adapter as pa
from al_ray.verbalize import GenerativePromptEncoder, label_token_ids
from tests.finetune.conftest import BAD, GOOD
from tests.servers import engine_core_children


@pytest.mark.slow
def test_vllm_applies_the_adapter(generative_run, tiny_llama_dir, task):
    from transformers import AutoModelForCausalLM
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    adapter_dir = generative_run.adapter_url
    assert generative_run.metrics["max_lora_rank"] == 8
    texts = [f"{t} {i}" for i, t in enumerate(GOOD + BAD)]
    max_len = 128

    # reference: transformers (+ PEFT), renormalised over the label tokens, the finetune's encoding
    peft_model, tok = pa.load_peft_model(tiny_llama_dir, adapter_dir, "generative")
    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir).eval()
    kw = dict(mode="generative", max_length=max_len, labels=task.labels, prompt_template=task.prompt_template)
    ref_base = pa.label_probabilities(base, tok, texts, **kw)
    ref_lora = pa.label_probabilities(peft_model, tok, texts, **kw)
    encoder = GenerativePromptEncoder(tok, task.prompt_template, list(task.labels), max_len)
    lt = label_token_ids(tok, list(task.labels), encoder.tail)
    prompt_ids, _ = encoder.encode(texts)
    tok_ids = list(lt.token_ids)
    assert len(tok_ids) == len(task.labels)  # one token per label with this WordPiece vocabulary

    llm = LLM(model=str(tiny_llama_dir), enable_lora=True, max_lora_rank=generative_run.metrics["max_lora_rank"],
              enforce_eager=True, kv_cache_memory_bytes=256 * 2**20, dtype="float32", seed=0)
    try:
        params = SamplingParams(max_tokens=1, logprob_token_ids=tok_ids)

        def label_probs(lora_request=None) -> torch.Tensor:
            prompts = [{"prompt_token_ids": ids} for ids in prompt_ids]
            outs = llm.generate(prompts, params, lora_request=lora_request, use_tqdm=False)
            rows = []
            for o in outs:
                lp = o.outputs[0].logprobs[0]
                raw = torch.tensor([lp[t].logprob for t in tok_ids], dtype=torch.float64)
                rows.append(torch.softmax(raw, dim=-1))
            return torch.stack(rows)

        v_base = label_probs()
        v_lora = label_probs(LoRARequest("r001-gen", 1, str(adapter_dir)))
        v_base_again = label_probs()  # the base is still the base after serving the adapter
    finally:
        llm.llm_engine.engine_core.shutdown()
        del llm

    print(f"vLLM vs transformers: base {float((v_base - ref_base).abs().max()):.2e}, "
          f"lora {float((v_lora - ref_lora).abs().max()):.2e}; adapter moved probs by "
          f"{float((v_lora - v_base).abs().max()):.3f}")
    assert torch.allclose(v_base, ref_base, atol=1e-3, rtol=0), (v_base - ref_base).abs().max()
    assert torch.allclose(v_lora, ref_lora, atol=1e-3, rtol=0), (v_lora - ref_lora).abs().max()
    assert (v_lora - v_base).abs().max() > 0.01
    assert torch.allclose(v_base_again, v_base, atol=1e-6)
    assert not math.isnan(float(v_lora.sum()))
    gone, alive = psutil.wait_procs(engine_core_children(), timeout=30)
    assert not alive, f"EngineCore processes survived shutdown: {[p.pid for p in alive]}"
