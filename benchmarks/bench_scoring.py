"""Scoring-stage benchmark: is the job lean compared to bare vLLM and to Ray Data's LLM processor?

Figures (printed, and written to benchmarks/results/scoring_<mode>.json):
1. rows/s of the whole scoring job (Ray actor + vLLM, Parquet in, score files out, end to end incl.
   engine start-up) vs bare ``LLM.generate`` (tiny Llama) and bare ``LLM.classify`` (MiniLM) on the
   same rows and model, end to end incl. start-up; bare vLLM both with its default process layout
   (engine core in child processes) and inline (``engine_process``). Goal: ratio >= 0.9 against
   the faster bare figure.
2. the same rows through Ray Data's LLM processor (``ray.data.llm``; on CPU with the tokenise/
   detokenise/chat-template stages off and a 1-CPU placement group).
3. transformers backend: length-sorted token-budget batching vs fixed-size batches in input order
   (MiniLM classifier, texts of very different lengths).
4. peak RSS of a scoring actor for a shard and for a shard 10x larger: streaming keeps it flat.

    python -m benchmarks.bench_scoring --quick   # minutes
    python -m benchmarks.bench_scoring --full
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from al_ray.ray_connect import connect
from benchmarks.common import provenance

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

RESULTS = Path(__file__).parent / "results"
WORDS = ("good great nice kind lovely fine happy calm bad awful idiot hate stupid ugly angry rude the a of to "
         "and in is you we they this that movie food day weather friend").split()
PROMPT = "Is this text safe or unsafe?\nText: {text}\nAnswer:"
KV = 256 << 20


def texts(n: int, seed: int, lo: int = 3, hi: int = 25) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi))) for _ in range(n)]


def write_corpus(root: Path, rows: int, shards: int, seed: int = 0, lo: int = 3, hi: int = 25) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    root.mkdir(parents=True, exist_ok=True)
    per = rows // shards
    all_texts = []
    for k in range(shards):
        t = texts(per, seed + k, lo, hi)
        all_texts += t
        pq.write_table(pa.table({"id": [f"{k}-{i}" for i in range(per)], "text": t}), root / f"part-{k:03d}.parquet",
                       row_group_size=1024)
    return all_texts


def gen_config(model_dir, **kw):
    from al_ray.scoring.config import ScoringConfig
    from al_ray.task import TaskConfig

    base = dict(task=TaskConfig(labels=["safe", "unsafe"], prompt_template=PROMPT), model=str(model_dir),
                mode="generative", dtype="float32", max_input_tokens=128, kv_cache_memory_bytes=KV)
    base.update(kw)
    return ScoringConfig(**base)


def bare_vllm(model_dir, rows: list[str], mode: str = "generative", engine_process: str = "separate") -> dict:
    """The floor a user would write by hand: one LLM, one call over all rows (texts in, vLLM
    tokenises), label probabilities out. ``engine_process`` as in ScoringConfig: vLLM's default is
    "separate" (EngineCore + worker processes); "inline" runs both in this process."""
    t0 = time.perf_counter()
    from vllm import LLM, SamplingParams

    from al_ray.scoring.engines.vllm_engine import _inline_engine

    kwargs = dict(enforce_eager=True, kv_cache_memory_bytes=KV, dtype="float32", seed=0)
    if _inline_engine(engine_process):
        kwargs["distributed_executor_backend"] = "uni"
    if mode == "generative":
        from al_ray.scoring.engines.base import load_tokenizer
        from al_ray.verbalize import label_token_ids

        tok = load_tokenizer(model_dir)
        lt = label_token_ids(tok, ["safe", "unsafe"], "\nAnswer:")
        llm = LLM(model=str(model_dir), max_model_len=129, **kwargs)
        t_ready = time.perf_counter()
        prompts = [PROMPT.replace("{text}", t) for t in rows]
        outs = llm.generate(prompts, SamplingParams(max_tokens=1, temperature=0.0, detokenize=False,
                                                    logprob_token_ids=list(lt.token_ids)), use_tqdm=False)
        _ = [[o.outputs[0].logprobs[0][t].logprob for t in lt.token_ids] for o in outs]
    else:
        from vllm.config import PoolerConfig

        llm = LLM(model=str(model_dir), runner="pooling", max_model_len=128,
                  pooler_config=PoolerConfig(pooling_type="MEAN"), **kwargs)
        t_ready = time.perf_counter()
        outs = llm.classify(rows, use_tqdm=False)
        _ = [o.outputs.probs for o in outs]
    t_end = time.perf_counter()
    llm.llm_engine.engine_core.shutdown()
    total = t_end - t0
    return {"rows": len(rows), "engine_process": engine_process, "seconds": round(total, 2),
            "startup_s": round(t_ready - t0, 2), "rows_per_s": round(len(rows) / total, 1),
            "steady_rows_per_s": round(len(rows) / (t_end - t_ready), 1)}


def bare_vllm_fresh(model_dir, rows: list[str], mode: str, engine_process: str, work: Path) -> dict:
    """``bare_vllm`` in a fresh Python process, so its time includes ``import vllm`` (~5 s here) as a
    user's own script's does. In one long-lived process a second bare run would skip that import
    and look faster than any fresh job can be."""
    import subprocess

    rows_file = work / f"bare_rows_{mode}.json"
    rows_file.write_text(json.dumps(rows))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_scoring", "--bare-worker", mode, engine_process,
                           str(model_dir), str(rows_file)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"bare vLLM ({mode}, {engine_process}) failed: {proc.stderr[-2000:]}")
    inner = json.loads(proc.stdout.strip().splitlines()[-1])
    # rows_per_s stays the in-process figure (from before `import vllm` to the engine's shutdown): the
    # strict one for the job's ratio. The launch-to-exit wall time also holds interpreter start and
    # vLLM's teardown at exit, which a user's script pays too.
    return {**inner, "wall_seconds_launch_to_exit": round(wall, 2),
            "wall_rows_per_s": round(len(rows) / wall, 1)}


def clf_config(model_dir, **kw):
    from al_ray.scoring.config import ScoringConfig
    from al_ray.task import TaskConfig

    base = dict(task=TaskConfig(labels=["neither", "violating"]), model=str(model_dir), mode="classifier",
                dtype="float32", max_input_tokens=128, kv_cache_memory_bytes=KV)
    base.update(kw)
    return ScoringConfig(**base)


def job_against_bare(name: str, model_dir, rows: list[str], corpus: Path, work: Path, make_config) -> dict:
    """Bare vLLM (both process layouts, each a fresh process) then the scoring job (1 actor given the
    machine's CPUs, as bare vLLM has them; timed from ``run_scoring`` on a running Ray cluster, so the
    actor's process start, imports and engine start-up count); the ratio is against the faster bare."""
    mode = "generative" if name == "generative" else "classifier"
    out: dict = {}
    for layout in ("separate", "inline"):
        print(f"      bare vLLM ({mode}, engine {layout}) ...", flush=True)
        out[f"bare_{layout}"] = bare_vllm_fresh(model_dir, rows, mode, layout, work)
        print("      ", out[f"bare_{layout}"], flush=True)
    cpus = float(os.cpu_count() or 1)
    print(f"      scoring job ({mode}, 1 Ray actor, engine_process=auto) ...", flush=True)
    out["scoring_job"] = scoring_job(make_config(model_dir, workers=1, batch_rows=2048, num_cpus_per_worker=cpus),
                                     str(corpus), str(work / f"out_{name}"))
    best = max(out["bare_separate"]["rows_per_s"], out["bare_inline"]["rows_per_s"])
    out["ratio_job_over_best_bare"] = round(out["scoring_job"]["rows_per_s"] / best, 3)
    out["ratio_job_over_bare_default"] = round(out["scoring_job"]["rows_per_s"] / out["bare_separate"]["rows_per_s"], 3)
    print("      ", out["scoring_job"], "ratio vs best bare", out["ratio_job_over_best_bare"], flush=True)
    return out


def scoring_job(cfg, corpus: str, out: str) -> dict:
    from al_ray.scoring.job import run_scoring

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    s = run_scoring(cfg, corpus, out, progress=False)
    total = time.perf_counter() - t0
    assert s.ok, s.failed_shards
    return {"rows": s.rows_scored, "seconds": round(total, 2), "rows_per_s": round(s.rows_scored / total, 1),
            "workers": s.workers, "startup_s": s.workers_ready_s,
            "steady_rows_per_s": round(s.rows_scored / max(total - s.workers_ready_s, 1e-9), 1),
            "peak_rss_mb_per_worker": s.peak_rss_mb_per_worker}


def ray_data_llm(model_dir, corpus: str, n_rows: int) -> dict:
    import ray
    from ray.data.llm import build_processor, vLLMEngineProcessorConfig

    from al_ray.scoring.engines.base import load_tokenizer
    from al_ray.verbalize import label_token_ids

    tok = load_tokenizer(model_dir)
    label_ids = list(label_token_ids(tok, ["safe", "unsafe"], "\nAnswer:").token_ids)
    t0 = time.perf_counter()
    config = vLLMEngineProcessorConfig(
        model_source=str(model_dir),
        engine_kwargs=dict(enforce_eager=True, kv_cache_memory_bytes=KV, dtype="float32", max_model_len=129),
        batch_size=256, concurrency=1, log_engine_metrics=False, chat_template_stage=False, tokenize_stage=False, detokenize_stage=False,
        placement_group_config={"bundles": [{"CPU": 1}]},
    )
    processor = build_processor(
        config,
        preprocess=lambda row: dict(prompt=PROMPT.replace("{text}", row["text"]),
                                    sampling_params=dict(max_tokens=1, temperature=0.0, detokenize=False,
                                                         logprob_token_ids=label_ids)),
        postprocess=lambda row: dict(id=row["id"]),
    )
    ds = processor(ray.data.read_parquet(corpus))
    n = ds.count()
    total = time.perf_counter() - t0
    return {"rows": n, "seconds": round(total, 2), "rows_per_s": round(n / total, 1)}


def transformers_batching(clf_dir, n: int) -> dict:
    from al_ray.scoring.config import ScoringConfig
    from al_ray.scoring.engines import make_engine
    from al_ray.task import TaskConfig

    rows = texts(n, 7, lo=2, hi=120)  # very different lengths: where sorting pays
    out = {}
    for mode in ("fixed", "token_budget"):
        cfg = ScoringConfig(task=TaskConfig(labels=["neither", "violating"]), model=str(clf_dir), mode="classifier",
                            backend="transformers", dtype="float32", max_input_tokens=256,
                            transformers_batching=mode, transformers_batch_size=32, transformers_token_budget=8192)
        with make_engine(cfg) as e:
            e.score_texts(rows[:64])  # warm-up
            t0 = time.perf_counter()
            e.score_texts(rows)
            dt = time.perf_counter() - t0
        out[mode] = {"rows": n, "seconds": round(dt, 2), "rows_per_s": round(n / dt, 1)}
    out["speedup"] = round(out["token_budget"]["rows_per_s"] / out["fixed"]["rows_per_s"], 2)
    return out


def memory_flat(model_dir, work: Path, rows: int) -> dict:
    out = {}
    for label, n in (("1x", rows), ("10x", rows * 10)):
        corpus = work / f"mem_{label}"
        write_corpus(corpus, n, 1, seed=100)
        r = scoring_job(gen_config(model_dir, workers=1, batch_rows=1024, num_cpus_per_worker=float(os.cpu_count() or 1)),
                        str(corpus), str(work / f"mem_out_{label}"))
        out[label] = {"rows": n, "peak_rss_mb": r["peak_rss_mb_per_worker"][0], "rows_per_s": r["rows_per_s"]}
    out["ratio_10x_over_1x"] = round(out["10x"]["peak_rss_mb"] / out["1x"]["peak_rss_mb"], 3)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="small corpus (default)")
    g.add_argument("--full", action="store_true", help="20,000-row corpus, as in DESIGN.md's peer figures")
    ap.add_argument("--skip-ray-data", action="store_true")
    ap.add_argument("--ray-address", default=None)
    ap.add_argument("--bare-worker", nargs=4, metavar=("MODE", "ENGINE_PROCESS", "MODEL", "ROWS_JSON"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.bare_worker:
        mode_, layout, model, rows_json = args.bare_worker
        print(json.dumps(bare_vllm(model, json.loads(Path(rows_json).read_text()), mode_, layout)))
        return 0
    mode = "full" if args.full else "quick"
    n = 20000 if args.full else 6000
    n_tf = 4000 if args.full else 1000
    n_mem = 4000 if args.full else 1500

    import ray

    from al_ray.models import build_tiny_llama, build_zero_shot_classifier

    work = Path(tempfile.mkdtemp(prefix="al_ray_bench_"))
    results: dict = {"benchmark": "scoring", "mode": mode, **provenance(),
                     "model": "tiny random Llama (hidden 128, 2 layers, MiniLM tokenizer), float32"}
    try:
        llama = build_tiny_llama(work / "llama")
        clf = build_zero_shot_classifier(work / "clf", ["neither", "violating"])
        corpus = work / "corpus"
        rows = write_corpus(corpus, n, 4)

        connect(args.ray_address, num_cpus=max(2, os.cpu_count() or 2))  # the project's rule: al_ray/ray_connect.py
        print(f"[1/5] generative: scoring job vs bare LLM.generate on {n} rows (tiny Llama) ...", flush=True)
        results["generative"] = job_against_bare("generative", llama, rows, corpus, work, gen_config)
        results["scoring_job"] = results["generative"]["scoring_job"]
        print(f"[2/5] classifier: scoring job vs bare LLM.classify on {n} rows (MiniLM) ...", flush=True)
        results["classifier"] = job_against_bare("classifier", clf, rows, corpus, work, clf_config)

        if not args.skip_ray_data:
            print(f"[3/5] Ray Data LLM processor on {n} rows (generative, its own engine defaults) ...", flush=True)
            try:
                results["ray_data_llm"] = ray_data_llm(llama, str(corpus), n)
                results["ratio_job_over_ray_data"] = round(results["scoring_job"]["rows_per_s"]
                                                           / results["ray_data_llm"]["rows_per_s"], 3)
            except Exception as exc:  # report, don't hide, a peer that would not run
                results["ray_data_llm"] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            print("      ", results["ray_data_llm"], flush=True)

        print(f"[4/5] transformers backend: token-budget vs fixed batches ({n_tf} rows, MiniLM) ...", flush=True)
        results["transformers_batching"] = transformers_batching(clf, n_tf)
        print("      ", results["transformers_batching"], flush=True)

        print(f"[5/5] peak actor memory: shard of {n_mem} vs {10 * n_mem} rows ...", flush=True)
        results["memory"] = memory_flat(llama, work, n_mem)
        print("      ", results["memory"], flush=True)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"scoring_{mode}.json"
    path.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
