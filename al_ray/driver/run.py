"""Drive rounds until the model agrees with the experts: score -> evaluate -> select -> label -> fine-tune.

Each round:
1. score the corpus with the round's model (round 0: the base / zero-shot model);
2. evaluate that model against the expert labels held out so far (and a holdout set if given) —
   from the score files just written, so the figure is the served model's;
3. decide whether to stop (``al_ray.driver.stopping``);
4. select a batch, dispatch it to annotators (or simulated ones), ingest and resolve labels;
5. split the new labels into train/eval (seeded, per id), fine-tune on every training label so far.

Every step records completion (and its wall time, ``seconds``) in the manifest after writing its
outputs, and every random draw
comes from a generator seeded by (run seed, round, step), so a run killed at any point and resumed
ends in the same state as one that was never interrupted.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

from al_ray.driver import steps
from al_ray.driver.config import RunConfig, validate_stages
from al_ray.driver.manifest import Manifest
from al_ray.driver.evaluate import eval_kappa
from al_ray.driver.stopping import decide
from al_ray.layout import RunLayout
from al_ray.security import redact

STEP_IDS = {"select": 1, "export": 2, "simulate": 3, "split": 4, "finetune": 5}
TERMINAL = ("converged", "plateau", "budget_spent", "max_rounds")


def rng_for(seed: int, r: int, step: str) -> np.random.Generator:
    """A generator that depends only on (seed, round, step): resuming never shifts a random stream."""
    return np.random.default_rng([seed, r, STEP_IDS[step]])


@dataclass
class RunOutcome:
    status: str  # converged | plateau | budget_spent | max_rounds | waiting_for_labels | round_done
    detail: str
    rounds: int
    labels_used: int
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _default_log(msg: str) -> None:
    print(msg, flush=True)


def preflight_corpus(config: RunConfig) -> None:
    """A given corpus listed and a sample of its footers read before Ray starts (``al-ray run`` and
    the run job call this), so a wrong path or text column answers in about a second, not after a
    cluster start and a model build. A corpus the run prepares itself (``corpus.source``) is
    written by the run's first step, so there is nothing to check yet."""
    if not config.corpus.url:
        return
    from al_ray.scoring.config import ScoringConfig
    from al_ray.scoring.job import preflight

    preflight(ScoringConfig(**{**config.scoring, "task": config.task, "model": config.model.base or ".",
                               "storage_options": config.storage_options}), config.corpus.url)


def run_loop(
    config: RunConfig,
    run_url: str,
    *,
    max_rounds: int | None = None,
    one_round: bool = False,
    log: Callable[[str], None] = _default_log,
    allow_config_change: bool = False,
) -> RunOutcome:
    """Run (or resume) the loop under ``run_url``. Requires Ray to be initialised by the caller."""
    validate_stages(config)
    config = config.model_copy(deep=True)  # ensure_corpus fills in prepared URLs
    so = config.storage_options
    layout = RunLayout(run_url)
    manifest = Manifest.open(layout, redact(config.model_dump(mode="json")), so,
                             allow_config_change=allow_config_change)
    limit = max_rounds if max_rounds is not None else config.run.max_rounds
    ctx = steps.RunContext(config=config, layout=layout, manifest=manifest, log=log)

    if manifest.data.get("status") in TERMINAL:
        log(f"run already finished: {manifest.data['status']} ({manifest.data.get('status_info', {}).get('detail', '')})")
        return _outcome(ctx, manifest.data["status"], manifest.data.get("status_info", {}).get("detail", ""))

    steps.ensure_corpus(ctx)
    steps.ensure_base_model(ctx)
    r = 0
    while True:
        model = steps.model_for_round(ctx, r)
        if not manifest.is_done(r, "score"):
            log(f"[round {r}] scoring the corpus with model {model.version}")
            t0 = time.perf_counter()
            info = steps.score(ctx, r, model)
            manifest.mark(r, "score", seconds=_since(t0), **info)
        if not manifest.is_done(r, "evaluate"):
            t0 = time.perf_counter()
            info = steps.evaluate(ctx, r)
            manifest.mark(r, "evaluate", seconds=_since(t0), **info)
        ev = manifest.step_info(r, "evaluate")
        log(f"[round {r}] " + steps.describe_eval(ev))

        history = [manifest.step_info(i, "evaluate") for i in range(r + 1)]
        labels_used = steps.labels_used(ctx, r)
        decision = decide(  # in the gate's coefficient (rounds evaluated before it was recorded: kappa)
            agreements=[h.get("agreement") if "agreement" in h else eval_kappa(h) for h in history],
            eval_sizes=[h.get("n_eval", 0) for h in history],
            expert_agreement=ev.get("expert_agreement") if "agreement" in ev else ev.get("expert_kappa"),
            metric=ev.get("agreement_metric", "kappa"),
            labels_used=labels_used,
            label_budget=config.run.label_budget,
            round_index=r,
            max_rounds=limit,
            config=config.stopping,
        )
        if decision.stop:
            manifest.set_status(decision.reason, detail=decision.detail, final_round=r)
            log(f"stopped: {decision.reason} — {decision.detail}")
            return _outcome(ctx, decision.reason, decision.detail)
        n = min(config.run.batch_size, config.run.label_budget - labels_used)
        if not manifest.is_done(r, "select"):
            t0 = time.perf_counter()
            info = steps.select(ctx, r, n, rng_for(config.run.seed, r, "select"))
            manifest.mark(r, "select", seconds=_since(t0), **info)
            log(f"[round {r}] selected {info['n_selected']} items from a pool of {info['pool_size']}")
        if not manifest.is_done(r, "export"):
            t0 = time.perf_counter()
            info = steps.export(ctx, r, rng_for(config.run.seed, r, "export"))
            manifest.mark(r, "export", seconds=_since(t0), **info)
        if not manifest.is_done(r, "labels"):
            t0 = time.perf_counter()  # labels: simulated answers (if any) + import + resolve
            if config.simulation is not None:
                steps.simulate(ctx, r, rng_for(config.run.seed, r, "simulate"))
            info = steps.labels(ctx, r)
            if info["status"] != "done":
                manifest.mark(r, "labels", seconds=_since(t0), **info)
                manifest.set_status("waiting_for_labels", detail=info["detail"], round=r)
                log(f"[round {r}] waiting for labels: {info['detail']}")
                return _outcome(ctx, "waiting_for_labels", info["detail"])
            manifest.mark(r, "labels", seconds=_since(t0), **info)
            log(f"[round {r}] labels: {info['n_labels']} resolved, expert–expert kappa "
                f"{_fmt(info.get('expert_kappa'))}, gate {'passed' if info.get('gate_passed') else 'FLAGGED'}")
        if not manifest.is_done(r, "split"):
            t0 = time.perf_counter()
            info = steps.split(ctx, r)
            manifest.mark(r, "split", seconds=_since(t0), **info)
        if not manifest.is_done(r, "finetune"):
            log(f"[round {r}] fine-tuning on {steps.n_train(ctx, r)} training labels")
            t0 = time.perf_counter()
            info = steps.finetune(ctx, r)
            manifest.mark(r, "finetune", seconds=_since(t0), **info)
        if one_round:
            manifest.set_status("round_done", detail=f"round {r} complete", next_round=r + 1)
            return _outcome(ctx, "round_done", f"round {r} complete")
        r += 1


def _since(t0: float) -> float:
    """Wall seconds since a ``time.perf_counter()`` reading (what the manifest records per step)."""
    return time.perf_counter() - t0


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _outcome(ctx: "steps.RunContext", status: str, detail: str) -> RunOutcome:
    rounds = ctx.manifest.rounds()
    history = [{"round": rd["round"], **rd["steps"].get("evaluate", {})} for rd in rounds]
    last = rounds[-1]["round"] if rounds else 0
    return RunOutcome(status=status, detail=detail, rounds=len(rounds),
                      labels_used=steps.labels_used(ctx, last + 1), history=history)
