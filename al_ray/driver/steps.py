"""One function per step of a round: the only place that calls into the stages.

Each step reads its inputs from the run location, writes its outputs there, and returns a small
JSON-able dict for the manifest. Stage imports are local to each step so that, e.g., ``al-ray
status`` never imports vLLM.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from al_ray import storage
from al_ray.driver.config import RunConfig, selection_fields
from al_ray.driver.evaluate import agreement, predictions_for
from al_ray.driver.manifest import Manifest
from al_ray.errors import AlRayError
from al_ray.layout import (
    ANNOTATION_FILE_SUFFIXES, ARGILLA_RECORDS_FILE, ASSIGNMENTS_FILE, LS_TASKS_FILE, RunLayout,
)
from al_ray.schemas import ID, LABELS_SCHEMA, PREDICTED, SPLIT_TEST


@dataclass
class RunContext:
    config: RunConfig
    layout: RunLayout
    manifest: Manifest
    log: Callable[[str], None]
    # The holdout's gold labels, read once per process: the file is fixed for the run, and three
    # steps of every round (scoring's candidate count, evaluate, the excluded ids) need it.
    holdout_cache: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    @property
    def so(self) -> dict[str, Any]:
        return self.config.storage_options


@dataclass(frozen=True)
class ModelRef:
    path: str  # checkpoint dir/URL the scorers load
    version: str
    adapter: str | None = None  # generative mode: LoRA adapter applied with LoRARequest


# ----------------------------------------------------------------------------- corpus

def ensure_corpus(ctx: RunContext) -> None:
    """Prepare the configured corpus under RUN/data/ once, and point the config at it."""
    c = ctx.config.corpus
    if c.url:
        return
    corpus_url, gold_url = ctx.layout.corpus, ctx.layout.gold
    if not storage.is_done(corpus_url, ctx.so):
        if c.source == "demo":
            from al_ray.data.demo_corpus import write_demo_corpus

            ds = write_demo_corpus(corpus_url, n_rows=c.n_rows, n_shards=c.n_shards, positive_rate=c.positive_rate,
                                   test_fraction=c.test_fraction, seed=ctx.config.run.seed, gold_url=gold_url,
                                   storage_options=ctx.so)
        else:
            from al_ray.data.davidson import prepare_davidson

            ds = prepare_davidson(c.csv, corpus_url, task=c.davidson_task, n_shards=c.n_shards,
                                  test_fraction=c.test_fraction, seed=ctx.config.run.seed, gold_url=gold_url,
                                  storage_options=ctx.so)
        storage.mark_done(corpus_url, {"rows": ds.n_rows, "shards": ds.n_shards, "source": c.source}, ctx.so)
        ctx.log(f"prepared the {c.source} corpus: {ds.n_rows} rows in {ds.n_shards} shards, "
                f"{ds.positive_rate:.1%} {ds.positive_label}, {ds.n_test} held out for evaluation")
    c.url = corpus_url
    c.gold_url = c.gold_url or gold_url
    c.holdout_url = c.holdout_url or gold_url


# ----------------------------------------------------------------------------- models

def base_model_url(ctx: RunContext) -> str:
    return ctx.layout.base_model


def ensure_base_model(ctx: RunContext) -> None:
    """Round 0's model: the configured base, or a zero-shot MiniLM classifier built once per run."""
    info = ctx.manifest.data.get("base_model")
    if info:
        return
    cfg = ctx.config
    if cfg.model.base:
        from al_ray.models import read_model_version

        ctx.manifest.data["base_model"] = {"url": cfg.model.base,
                                           "version": read_model_version(cfg.model.base) or "base"}
    else:
        from al_ray.models import build_zero_shot_classifier

        url = base_model_url(ctx)
        with tempfile.TemporaryDirectory() as tmp:
            build_zero_shot_classifier(tmp, cfg.task.labels, cfg.task.label_descriptions, version="r000-zero-shot")
            storage.put_dir(tmp, url, ctx.so)
        storage.mark_done(url, {"version": "r000-zero-shot"}, ctx.so)
        ctx.manifest.data["base_model"] = {"url": url, "version": "r000-zero-shot"}
        ctx.log(f"built the zero-shot classifier for round 0 at {url}")
    ctx.manifest.save()


def model_for_round(ctx: RunContext, r: int) -> ModelRef:
    base = ctx.manifest.data["base_model"]
    if r == 0:
        return ModelRef(path=base["url"], version=base["version"])
    ft = ctx.manifest.step_info(r - 1, "finetune")
    if ctx.config.mode == "generative":
        return ModelRef(path=base["url"], version=ft["version"], adapter=ft["adapter_url"])
    return ModelRef(path=ft["merged_url"], version=ft["version"])


# ----------------------------------------------------------------------------- score

def score(ctx: RunContext, r: int, model: ModelRef) -> dict[str, Any]:
    from al_ray.scoring.config import ScoringConfig
    from al_ray.scoring.job import run_scoring

    fields = dict(ctx.config.scoring)
    fields.update(task=ctx.config.task, model=model.path, model_version=model.version,
                  lora_adapter=model.adapter, storage_options=ctx.so)
    if "candidates_per_shard" not in ctx.config.scoring:
        # K of the candidate sidecars from this run's own pool, plus every id selection will exclude
        # (all the labels the run can buy, the holdout), so selection never needs to read a shard in full
        from al_ray.selection.config import SelectionConfig

        sel, _ = selection_fields(ctx.config.selection, max(r, 1))
        pool = SelectionConfig(**{**sel, "n": ctx.config.run.batch_size}).effective_pool_size()
        default_k = ScoringConfig.model_fields["candidates_per_shard"].default
        fields["candidates_per_shard"] = max(default_k, pool + ctx.config.run.label_budget + len(_holdout(ctx)))
    cfg = ScoringConfig(**fields)
    summary = run_scoring(cfg, ctx.config.corpus.url, ctx.layout.scores(r), progress=False)
    s = _as_dict(summary)
    failed = s.get("failed_shards") or []
    if failed:
        ctx.log(f"[round {r}] WARNING: {len(failed)} shard(s) failed and are not candidates this round: "
                + "; ".join(f"{f.get('shard')}: {f.get('reason')}" for f in failed[:3]))
    return {"model_version": model.version, "model": model.path, "adapter": model.adapter,
            "rows_scored": s.get("rows_scored"), "rows_per_s": s.get("rows_per_s"),
            "failed_shards": len(failed), "rows_quarantined": s.get("rows_quarantined"),
            "rows_skipped": s.get("rows_skipped")}


# ----------------------------------------------------------------------------- evaluate

def _read_labels(urls: list[str], so) -> pa.Table:
    tables = [storage.read_parquet(u, so) for u in urls if storage.exists(u, so)]
    if not tables:
        return LABELS_SCHEMA.empty_table()
    return pa.concat_tables([t.select(LABELS_SCHEMA.names).cast(LABELS_SCHEMA) for t in tables])


def split_url(ctx: RunContext, r: int, part: str) -> str:
    return ctx.layout.split(r, part)


def _gold_map(table: pa.Table) -> dict[str, str]:
    return dict(zip(table[ID].to_pylist(), table["label"].to_pylist()))


def _holdout(ctx: RunContext) -> dict[str, str]:
    from al_ray.data.layout import read_gold

    url = ctx.config.corpus.holdout_url
    if not url:
        return {}
    if url not in ctx.holdout_cache:
        t = read_gold(url, ctx.so, required=(ID, "label"))
        if "split" in t.schema.names:
            t = t.filter(pc.equal(t["split"], SPLIT_TEST))
        ctx.holdout_cache[url] = dict(zip([str(i) for i in t[ID].to_pylist()], t["label"].to_pylist()))
    return ctx.holdout_cache[url]


def expert_kappa_so_far(ctx: RunContext, r: int) -> float | None:
    """Experts' pairwise kappa pooled over the batches of rounds < r, weighted by overlap items."""
    num = den = 0.0
    for i in range(r):
        info = ctx.manifest.step_info(i, "labels")
        k, n = info.get("expert_kappa"), info.get("n_overlap", 0) or 0
        if k is not None and n:
            num += k * n
            den += n
    return num / den if den else None


def expert_agreement_so_far(ctx: RunContext, r: int, metric: str) -> float | None:
    """The experts' agreement in ``metric`` (the gate's coefficient) pooled over the batches of
    rounds < r, weighted by overlap items; batches measured in another coefficient are left out
    (their number is on another scale). Manifests from before the coefficient was recorded
    measured kappa."""
    num = den = 0.0
    for i in range(r):
        info = ctx.manifest.step_info(i, "labels")
        if info.get("agreement_metric", "mean_cohen_kappa") != metric:
            continue
        k = info.get("expert_agreement", info.get("expert_kappa"))
        n = info.get("n_overlap", 0) or 0
        if k is not None and n:
            num += k * n
            den += n
    return num / den if den else None


def evaluate(ctx: RunContext, r: int) -> dict[str, Any]:
    """Model of round r against (a) expert labels held out in rounds < r, (b) the holdout set.

    ``agreement`` / ``expert_agreement`` are the model–expert and expert–expert agreement in the
    gate's coefficient, which the stopping rule compares; ``kappa`` / ``expert_kappa`` stay for
    the report's kappa plot.
    """
    from al_ray.labeling.agreement import paired_agreement

    metric = _labeling_config(ctx).gate_metric
    labels = ctx.config.task.labels
    scores = ctx.layout.scores(r)
    eval_gold = _gold_map(_read_labels([split_url(ctx, i, "eval") for i in range(r)], ctx.so))
    holdout = _holdout(ctx)
    preds = predictions_for(scores, list(eval_gold) + list(holdout), ctx.so)
    ev_ids = [i for i in eval_gold if i in preds]
    ev = agreement([eval_gold[i] for i in ev_ids], [preds[i] for i in ev_ids], labels)
    ho_ids = [i for i in holdout if i in preds]
    ho = agreement([holdout[i] for i in ho_ids], [preds[i] for i in ho_ids], labels)
    dist = score_distribution(ctx, scores)
    return {
        "eval_kappa": ev["kappa"], "n_eval": ev["n"], "per_class": ev["per_class"],
        "holdout_kappa": ho["kappa"], "n_holdout": ho["n"], "holdout_per_class": ho["per_class"],
        "holdout_confusion": ho["confusion"],  # rows: gold label, columns: predicted (task label order)
        "expert_kappa": expert_kappa_so_far(ctx, r), "labels_used": labels_used(ctx, r),
        "agreement_metric": metric,
        "agreement": paired_agreement([eval_gold[i] for i in ev_ids], [preds[i] for i in ev_ids], labels,
                                      metric) if ev_ids else None,
        "expert_agreement": expert_agreement_so_far(ctx, r, metric),
        **dist,
    }


def score_distribution(ctx: RunContext, scores_url: str, bins: int = 20) -> dict[str, Any]:
    """Normalised-entropy histogram and predicted class counts over the whole corpus (for the report)."""
    hist = np.zeros(bins, dtype=np.int64)
    counts: dict[str, int] = {}
    for fi in storage.list_files(scores_url, ".parquet", ctx.so):
        t = storage.read_parquet(fi.url, ctx.so, columns=["entropy_norm", PREDICTED])
        e = t["entropy_norm"].to_numpy(zero_copy_only=False)
        hist += np.histogram(np.nan_to_num(e), bins=bins, range=(0.0, 1.0))[0]
        vc = pc.value_counts(t[PREDICTED]).to_pylist()
        for item in vc:
            counts[item["values"]] = counts.get(item["values"], 0) + int(item["counts"])
    return {"entropy_hist": hist.tolist(), "predicted_counts": counts}


def describe_eval(ev: dict[str, Any]) -> str:
    def f(x):
        return "n/a" if x is None else f"{x:.3f}"

    parts = [f"eval kappa {f(ev.get('eval_kappa', ev.get('kappa')))} on {ev.get('n_eval', 0)} expert labels kept out of training"]
    if ev.get("n_holdout"):
        parts.append(f"holdout kappa {f(ev.get('holdout_kappa'))} on {ev['n_holdout']} gold test items")
    parts.append(f"expert–expert kappa {f(ev.get('expert_kappa'))}")
    if "agreement" in ev:  # what the stopping rule compares
        m = ev.get("agreement_metric")
        parts.append(f"model–expert {m} {f(ev.get('agreement'))} vs "
                     f"expert–expert {m} {f(ev.get('expert_agreement'))}")
    parts.append(f"labels used {ev.get('labels_used', 0)}")
    return "; ".join(parts)


def labels_used(ctx: RunContext, r: int) -> int:
    """Items sent to experts in rounds < r (what the budget pays for)."""
    return sum(int(ctx.manifest.step_info(i, "select").get("n_selected", 0)) for i in range(r))


# ----------------------------------------------------------------------------- select

def excluded_ids(ctx: RunContext, r: int) -> set[str]:
    """Ids that must never be selected again: earlier batches, their duplicates, the holdout."""
    from al_ray.selection.pool import read_exclude_ids

    out: set[str] = set(_holdout(ctx))
    files = [url for i in range(r) for url in (ctx.layout.batch(i), ctx.layout.dedup_groups(i))]
    out.update(read_exclude_ids([u for u in files if storage.exists(u, ctx.so)], ctx.so))
    return out


def select(ctx: RunContext, r: int, n: int, rng: np.random.Generator) -> dict[str, Any]:
    from al_ray.selection.api import select_batch
    from al_ray.selection.config import SelectionConfig

    fields, cold = selection_fields(ctx.config.selection, r)
    fields.update(n=n, seed=int(rng.integers(2**31 - 1)))
    cfg = SelectionConfig(**fields)
    if cold:
        later = ctx.config.selection.get("strategy", SelectionConfig.model_fields["strategy"].default)
        ctx.log(f"[round {r}] cold start: selecting with {cfg.strategy} from a {cfg.effective_pool_order()} pool "
                f"(selection.cold_start; later rounds use {later})")
    res = select_batch(cfg, ctx.config.task, ctx.layout.scores(r), ctx.config.corpus.url,
                       ctx.layout.batch_dir(r), round=r, exclude_ids=excluded_ids(ctx, r), storage_options=ctx.so,
                       candidates_url=ctx.layout.candidates(r))
    for w in getattr(res, "warnings", []) or []:
        ctx.log(f"[round {r}] selection warning: {w}")
    return {"n_selected": int(res.n_selected), "pool_size": int(res.pool_size),
            "dropped_duplicates": int(getattr(res, "dropped_duplicates", 0)), "strategy": cfg.strategy,
            "cold_start": cold, "pool_order": cfg.effective_pool_order(), "pool_stratified": cfg.effective_stratify()}


# ----------------------------------------------------------------------------- labels

def _labeling_config(ctx: RunContext):
    from al_ray.labeling.config import LabelingConfig

    fields = dict(ctx.config.labeling)
    sim = ctx.config.simulation
    if sim is not None and "annotators" not in fields:
        fields["annotators"] = [f"sim-expert-{k + 1}" for k in range(sim.n_annotators)]
    return LabelingConfig(**fields)


def export(ctx: RunContext, r: int, rng: np.random.Generator) -> dict[str, Any]:
    from al_ray.labeling.api import export_batch

    res = export_batch(ctx.layout.batch_dir(r), _labeling_config(ctx), ctx.config.task, rng=rng, storage_options=ctx.so)
    return {k: v for k, v in _as_dict(res).items() if isinstance(v, (int, float, str, bool, type(None)))}


def incoming_dir(ctx: RunContext, r: int) -> str:
    return ctx.layout.incoming(r)


def simulate(ctx: RunContext, r: int, rng: np.random.Generator) -> None:
    """Simulated experts answer the round's assignments from the gold file (demo/benchmarks only)."""
    from al_ray.labeling import simulated

    out = ctx.layout.simulated_annotations(r)
    if storage.exists(out, ctx.so):
        return
    sim = ctx.config.simulation
    assert sim is not None
    simulated.annotate_batch(
        batch_dir=ctx.layout.batch_dir(r), gold_url=ctx.config.corpus.gold_url, out_url=out,
        task=ctx.config.task, kind=sim.kind, flip_prob=sim.flip_prob, rng=rng, storage_options=ctx.so,
    )


def labelstudio_round(ctx: RunContext, r: int, cfg) -> Any:
    """``labeling.tool: labelstudio``: push the round's batch (idempotent) and pull what is annotated.

    Called on every run of the labels step, so the same ``al-ray run`` both sends the batch and,
    later, finds it complete; the pull goes through the file-import validation.
    """
    from al_ray.labeling.tools import labelstudio as lst

    if ctx.config.simulation is not None:
        from al_ray.errors import ConfigError

        raise ConfigError("labeling.tool labelstudio sends batches to people; it cannot be combined with "
                          "simulation (remove one of them)")
    batch, lab = ctx.layout.batch_dir(r), ctx.layout.labels_dir(r)
    with lst.connect(cfg.labelstudio) as client:
        pushed = lst.push(batch, cfg, ctx.config.task, client, storage_options=ctx.so)
        if pushed.n_created or pushed.created_project:
            ctx.log(f"[round {r}] pushed {pushed.n_created} tasks to Label Studio project {pushed.project_id}: "
                    f"{pushed.project_url}")
        pulled = lst.pull(batch, lab, cfg, ctx.config.task, client, storage_options=ctx.so)
    imp = pulled.imported
    ctx.log(f"[round {r}] pulled {imp.n_read} annotations from Label Studio ({imp.n_new} new); "
            f"{pulled.n_open} of {pulled.n_items} items still open")
    return pulled


def labels(ctx: RunContext, r: int) -> dict[str, Any]:
    """Import whatever annotations have arrived, resolve them, and say whether the round can go on.

    Annotations arrive either as files dropped into ``labels/incoming/`` (imported here), through
    ``al-ray labels import`` into the round's labels directory, or (``labeling.tool: labelstudio``)
    from the Label Studio project this step pushes the batch to; all end up in annotations.parquet.
    With Label Studio the round also waits until every item has as many annotations as it was
    assigned: an overlap item with one answer of two is not done, or agreement is never measured.
    """
    from al_ray.labeling.api import import_annotations, resolve_labels

    live = None
    live_cfg = _labeling_config(ctx)
    if live_cfg.tool == "labelstudio":
        live = labelstudio_round(ctx, r, live_cfg)
    inbox = incoming_dir(ctx, r)
    files = [fi.url for fi in storage.list_files(inbox, "", ctx.so)] if storage.exists(inbox, ctx.so) else []
    files = [f for f in files if f.endswith(ANNOTATION_FILE_SUFFIXES)]
    if files:
        import_annotations(files, ctx.layout.batch_dir(r), ctx.layout.labels_dir(r), ctx.config.task,
                           round=r, storage_options=ctx.so)
    cfg = _labeling_config(ctx)

    def resolve() -> dict[str, Any]:
        return _as_dict(resolve_labels(ctx.layout.batch_dir(r), ctx.layout.labels_dir(r), ctx.config.task, cfg,
                                       storage_options=ctx.so))

    res = resolve()
    if int(res.get("n_pending_adjudication", 0) or 0) and ctx.config.simulation is not None:
        from al_ray.labeling import simulated

        simulated.adjudicate_from_gold(ctx.layout.labels_dir(r), ctx.config.corpus.gold_url, ctx.config.task,
                                       batch_dir=ctx.layout.batch_dir(r), storage_options=ctx.so)
        res = resolve()
    pending = int(res.get("n_pending_adjudication", 0) or 0)
    unlabelled = int(res.get("n_unlabelled", 0) or 0)
    info = {
        "n_labels": int(res.get("n_resolved", 0) or 0), "n_propagated": int(res.get("n_propagated", 0) or 0),
        "expert_kappa": res.get("expert_kappa"), "n_overlap": int(res.get("n_overlap", 0) or 0),
        "gate_passed": bool(res.get("gate_passed", False)), "n_pending_adjudication": pending,
        "n_unlabelled": unlabelled,
        **{k: res.get(k) for k in ("agreement_metric", "expert_agreement", "gate_value", "gate_bound",
                                    "gate_threshold", "coefficients")},
    }
    if live is not None and not live.complete:
        lab = ctx.layout.labels_dir(r)
        detail = (f"round {r}: {live.n_open} of {live.n_items} items still open in Label Studio "
                  f"({live.n_annotations_missing} annotations to make, e.g. {', '.join(live.open_ids[:3])}): "
                  f"{live.project_url}. Label them there; the labels pulled so far are in {lab}. Then run the "
                  "same `al-ray run` again.")
        return {"status": "waiting", "detail": detail, **info, "n_open": live.n_open,
                "labelstudio_project": live.project_url}
    if live is not None and pending:
        batch, lab = ctx.layout.batch_dir(r), ctx.layout.labels_dir(r)
        queue = ctx.layout.adjudication_queue(r)
        detail = (f"round {r}: every item is annotated in Label Studio ({live.project_url}), but {pending} "
                  f"item(s) await adjudication (the annotators disagree). Fill 'label' in {queue}, then "
                  f"`al-ray labels adjudicate {queue} --batch-dir {batch} --labels-dir {lab} --task <this run's config>`; "
                  "then run the same `al-ray run` again.")
        return {"status": "waiting", "detail": detail, **info, "n_open": 0,
                "labelstudio_project": live.project_url}
    if pending or unlabelled:
        batch, lab = ctx.layout.batch_dir(r), ctx.layout.labels_dir(r)
        detail = (f"round {r}: {unlabelled} items unlabelled, {pending} awaiting adjudication. Batch for annotators: "
                  f"{batch} ({ASSIGNMENTS_FILE}, {LS_TASKS_FILE}, {ARGILLA_RECORDS_FILE}). Bring labels back with "
                  f"`al-ray labels import FILE --batch-dir {batch} --labels-dir {lab}` (or drop files into {inbox}); "
                  f"adjudicate with `al-ray labels adjudicate`; then run the same `al-ray run` again.")
        return {"status": "waiting", "detail": detail, **info}
    return {"status": "done", **info}


def _as_dict(res: Any) -> dict[str, Any]:
    if isinstance(res, dict):
        return res
    if hasattr(res, "to_dict"):
        return res.to_dict()
    if hasattr(res, "model_dump"):
        return res.model_dump(mode="json")
    import dataclasses

    return dataclasses.asdict(res)


# ----------------------------------------------------------------------------- split + finetune

def _is_eval(seed: int, item_id: str, fraction: float) -> bool:
    """Seeded per-id split: stable under resume and independent of batch order."""
    h = hashlib.blake2b(f"{seed}:{item_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64 < fraction


def split(ctx: RunContext, r: int) -> dict[str, Any]:
    t = storage.read_parquet(ctx.layout.labels(r), ctx.so)
    t = t.select(LABELS_SCHEMA.names).cast(LABELS_SCHEMA)
    groups = [p if p else i for i, p in zip(t[ID].to_pylist(), t["propagated_from"].to_pylist())]
    mask = pa.array([_is_eval(ctx.config.run.seed, g, ctx.config.run.eval_fraction) for g in groups])
    ev, tr = t.filter(mask), t.filter(pc.invert(mask))
    storage.write_parquet_atomic(tr, split_url(ctx, r, "train"), ctx.so)
    storage.write_parquet_atomic(ev, split_url(ctx, r, "eval"), ctx.so)
    return {"n_train": tr.num_rows, "n_eval": ev.num_rows}


def n_train(ctx: RunContext, r: int) -> int:
    return sum(int(ctx.manifest.step_info(i, "split").get("n_train", 0)) for i in range(r + 1))


def finetune(ctx: RunContext, r: int) -> dict[str, Any]:
    import ray

    from al_ray.finetune.config import FinetuneConfig
    from al_ray.finetune.remote import train_round_remote

    fields = dict(ctx.config.finetune)
    fields.setdefault("seed", ctx.config.run.seed * 1000 + r)
    cfg = FinetuneConfig(**fields)
    train_urls = [split_url(ctx, i, "train") for i in range(r + 1)]
    version = f"r{r + 1:03d}"
    res = _as_dict(train_round_remote(cfg, ctx.config.task, mode=ctx.config.mode,
                                      base_model=ctx.manifest.data["base_model"]["url"], labels=train_urls,
                                      out_url=ctx.layout.model_dir(r), version=version, storage_options=ctx.so))
    if not isinstance(res, dict) or "adapter_url" not in res:
        raise AlRayError(f"fine-tune of round {r} returned no adapter: {res!r}")
    _ = ray  # the remote call above needs an initialised Ray; imported here to fail early if absent
    return {"version": version, "adapter_url": res["adapter_url"], "merged_url": res.get("merged_url"),
            "metrics": res.get("metrics", {})}
