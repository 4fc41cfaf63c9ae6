"""Fixtures for the scoring tests: small corpora, configs, and the engines shared across tests.

Engines are expensive (each vLLM start is ~20-60 s on 2 cores), so each kind is built once per
module and closed explicitly at teardown.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from al_ray.scoring.config import ScoringConfig
from al_ray.testing.faults import make_texts  # noqa: F401 (the scoring tests import it from here)
from al_ray.task import TaskConfig

# Ray 2.60 turns token auth on for any new head node once ~/.ray/auth_token exists (a local
# ray.init() anywhere on the machine writes it); the shared ray_head fixture then sees HTTP 401 from
# the dashboard and times out. Test clusters are loopback-only: keep auth off unless asked for.
# (The proper home for this is tests/servers.py / tests/conftest.py: reported to the lead.)
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

GEN_PROMPT = "Is this text safe or unsafe?\nText: {text}\nAnswer:"


def write_shard(path, ids, texts, row_group_size: int = 256, id_type=pa.string(), text_type=pa.string()) -> str:
    path = str(path)
    table = pa.table({"id": pa.array(ids, id_type), "text": pa.array(texts, text_type)})
    if path.startswith("s3://"):
        raise ValueError("use write_shard_fs for S3")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def write_shard_fs(fs, path: str, ids, texts, row_group_size: int = 256) -> str:
    table = pa.table({"id": pa.array(ids, pa.string()), "text": pa.array(texts, pa.string())})
    with fs.open(path, "wb") as f:
        pq.write_table(table, f, row_group_size=row_group_size)
    return path


def gen_config(model_dir, **kw) -> ScoringConfig:
    task = TaskConfig(labels=["safe", "unsafe"], prompt_template=GEN_PROMPT)
    base = dict(task=task, model=str(model_dir), mode="generative", dtype="float32", max_input_tokens=64)
    base.update(kw)
    return ScoringConfig(**base)


def clf_config(model_dir, **kw) -> ScoringConfig:
    base = dict(task=TaskConfig(labels=["neither", "violating"]), model=str(model_dir), mode="classifier",
                dtype="float32", max_input_tokens=64)
    base.update(kw)
    return ScoringConfig(**base)


@pytest.fixture(scope="session")
def lora_adapter_dir(tiny_llama_dir, tmp_path_factory):
    """A PEFT LoRA adapter on the tiny Llama with random *nonzero* lora_B, so it changes outputs."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_llama_dir), dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                                  target_modules=["q_proj", "v_proj", "o_proj", "gate_proj"]))
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name or "lora_A" in name:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    out = tmp_path_factory.mktemp("lora")
    peft_model.save_pretrained(out)
    return out
