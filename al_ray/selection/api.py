"""``select_batch``: the selection stage end to end, the one call the round driver makes.

score files -> candidate pool (streaming top-K, exclusions) -> texts joined from the corpus ->
exact + near dedup -> embeddings of the survivors -> pool-wide k-means -> semantic dedup ->
strategy -> batch.parquet / batch.jsonl / dedup_groups.parquet / candidates.parquet /
selection_summary.json (+ batch.parquet.done) under ``out_dir``.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import pyarrow as pa

from al_ray import schemas, storage
from al_ray.errors import EmptyPoolError, InputError, PoolExhaustedError
from al_ray.layout import CHECKPOINT_CONFIG_FILE
from al_ray.security import register_storage_options
from al_ray.selection.batch import assemble_batch, write_outputs
from al_ray.selection.candidates import Candidates
from al_ray.selection.clustering import auto_k, kmeans
from al_ray.selection.config import SelectionConfig
from al_ray.selection.dedup import deduplicate
from al_ray.selection.embed import MeanPoolEmbedder, is_local_encoder, normalise
from al_ray.selection.pool import PoolResult, extract_pool
from al_ray.selection.strategies import build_strategy
from al_ray.selection.texts import join_texts
from al_ray.task import TaskConfig

log = logging.getLogger("al_ray.selection")


@dataclass
class SelectionResult:
    """Where the batch went and what happened on the way."""

    batch_url: str
    n_selected: int
    pool_size: int
    dropped_duplicates: int
    warnings: list[str] = field(default_factory=list)
    n_requested: int = 0
    strategy: str = ""
    out_dir: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    model_versions: list[str] = field(default_factory=list)


def make_rng(seed: int, round: int) -> np.random.Generator:
    """One Generator per (seed, round): reruns repeat, rounds differ."""
    return np.random.default_rng([int(seed), int(round)])


def _embed(pool: PoolResult, texts: list[str | None], idx: np.ndarray, config: SelectionConfig,
           embedder: MeanPoolEmbedder | None, warnings: list[str]) -> tuple[np.ndarray | None, str]:
    """Embeddings for pool rows ``idx`` and a description of where they came from."""
    ec = config.embedding
    source = ec.source
    model_dir = ec.model or (pool.model_ids[0] if len(pool.model_ids) == 1 else None)
    if source == "auto":
        if pool.stats.get("embedding_in_scores"):
            source = "scores"
        elif embedder is None and is_local_encoder(model_dir):
            source = "scoring_model"
        else:
            source = "minilm"
    if source == "none":
        return None, "none"
    if source == "scores":
        col = pool.table.column(ec.column).take(pa.array(idx))
        if col.null_count:
            raise InputError(f"missing embeddings: {col.null_count} candidates have a null {ec.column!r}")
        emb = np.asarray(col.to_pylist(), dtype=np.float32)
        if emb.ndim != 2 or not np.isfinite(emb).all():
            raise InputError(f"embedding column {ec.column!r} is not a finite fixed-length vector per row")
        return normalise(emb), f"scores:{ec.column}"
    if embedder is None:
        if source == "scoring_model":
            if not model_dir or "://" in model_dir or not storage.exists(storage.join(str(model_dir), CHECKPOINT_CONFIG_FILE)):
                raise InputError(f"embedding.source 'scoring_model' needs a local checkpoint directory; "
                                 f"got {model_dir!r} (set embedding.model, or use 'minilm')")
            embedder = MeanPoolEmbedder(model_dir, batch_size=ec.batch_size, max_length=ec.max_length)
        else:
            embedder = MeanPoolEmbedder(None, batch_size=ec.batch_size, max_length=ec.max_length)
    emb = embedder.embed([texts[i] for i in idx])
    return emb, f"{source}:{embedder.model_dir}"


@contextmanager
def thread_limit(threads: int | None) -> Iterator[None]:
    """Cap BLAS/OpenMP (and torch) threads for the duration, then restore them."""
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    torch_before = None
    try:
        import torch

        torch_before = torch.get_num_threads()
        torch.set_num_threads(threads)
    except ImportError:
        torch = None  # type: ignore[assignment]
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        if torch_before is not None:
            torch.set_num_threads(torch_before)


def select_batch(config: SelectionConfig, task: TaskConfig, scores: str, corpus: str | None, out_dir: str, *,
                 round: int = 0, exclude_ids: Iterable[str] = (),
                 storage_options: Mapping[str, Any] | None = None,
                 candidates_url: str | None = None, embedder: MeanPoolEmbedder | None = None,
                 option_names: Mapping[str, str] | None = None) -> SelectionResult:
    """Choose a labelling batch of ``config.n`` items from the score files under ``scores``.

    ``corpus`` locates shards whose URL in the score files is relative or has moved (None: use
    the ``shard`` URLs as written). ``exclude_ids``: ids already labelled or sent in earlier
    rounds. ``candidates_url`` defaults to ``out_dir/candidates.parquet``; ``embedder`` lets a
    caller reuse a loaded model across rounds. The RNG is seeded from (config.seed, round).
    ``option_names`` says how the caller's user spells the settings that error messages and
    warnings advise changing (``n``, ``pool_size``, ``allow_partial``): the CLI passes its flags
    (``--allow-partial``), so advice names what the user can type; default: the config keys.

    A shortfall (fewer candidates than ``n``) is reported as soon as it is certain: after the pool
    scan, and again after exact/near dedup, both before the embedding model loads (the slow part).

    Raises EmptyPoolError (nothing to choose from), PoolExhaustedError (fewer unique candidates
    than n, unless config.allow_partial), InputError (malformed or inconsistent inputs).
    """
    register_storage_options(storage_options)
    with thread_limit(config.threads):
        return _select_batch(config, task, scores, corpus, out_dir, round=round, exclude_ids=exclude_ids,
                             storage_options=storage_options, candidates_url=candidates_url, embedder=embedder,
                             names={**DEFAULT_OPTION_NAMES, **dict(option_names or {})})


# How advice names each setting; the CLI replaces these with its flags.
DEFAULT_OPTION_NAMES = {"n": "n", "pool_size": "pool_size", "allow_partial": "allow_partial"}

# Marks the log records of SelectionResult.warnings: a CLI that prints the result's warnings itself
# filters these out, so that each warning reaches the user once.
RESULT_WARNING = "al_ray_selection_result_warning"


def _eligible_rows(pool: PoolResult, config: SelectionConfig) -> int:
    """Rows of the score files that could enter the pool (not excluded, empty, NaN or under threshold).

    When this is no larger than the pool, the pool already holds all of them and a larger
    pool_size cannot help. (``excluded`` is counted only for rows that passed the running cut-off;
    that undercount can only make this larger, i.e. claim a cap when the pool was capped anyway.)
    """
    st = pool.stats
    passed = st.get("past_threshold", 0) if config.threshold is not None else (
        st.get("rows", 0) - st.get("nan_rows", 0) - st.get("empty_text", 0))
    return max(int(passed) - int(st.get("excluded", 0)) - int(st.get("nan_prob_rows", 0)), 0)


def _shortfall(n: int, available: str, pool: PoolResult, config: SelectionConfig, names: Mapping[str, str]) -> str:
    """Why there are fewer than ``n`` candidates and what would help, in the user's spelling.

    Advice to raise pool_size is given only when the pool was actually capped by it; a pool that
    already holds every eligible row needs a smaller n, more scored rows, or a partial batch.
    """
    eligible = _eligible_rows(pool, config)
    st = pool.stats
    partial = f"or use {names['allow_partial']} to write a smaller batch"
    if eligible > len(pool.table):
        why = (f"the pool is capped at {len(pool.table)} of {eligible} eligible rows by "
               f"{names['pool_size']}: raise {names['pool_size']}, lower {names['n']}, {partial}")
    else:
        skipped = [f"{st.get('excluded', 0)} excluded as already labelled or sent",
                   f"{st.get('empty_text', 0)} empty texts",
                   f"{st.get('nan_rows', 0) + st.get('nan_prob_rows', 0)} NaN"]
        if config.threshold is not None:
            skipped.append(f"{st.get('rows', 0) - st.get('past_threshold', 0)} under threshold {config.threshold}")
        why = (f"the pool already holds every eligible row of the score files ({st.get('rows', 0)} rows "
               f"scanned; {', '.join(skipped)}), so a larger {names['pool_size']} cannot help: lower "
               f"{names['n']}, score more of the corpus, {partial}")
    return f"asked for {n} items but only {available}; {why}"


def _select_batch(config: SelectionConfig, task: TaskConfig, scores: str, corpus: str | None, out_dir: str, *,
                  round: int, exclude_ids: Iterable[str], storage_options: Mapping[str, Any] | None,
                  candidates_url: str | None, embedder: MeanPoolEmbedder | None,
                  names: Mapping[str, str]) -> SelectionResult:
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    rng = make_rng(config.seed, round)

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = round_(now - since)
        return now

    exclude = {str(x) for x in exclude_ids}
    pool = extract_pool(scores, config, exclude_ids=exclude, storage_options=storage_options)
    warnings = list(pool.warnings)
    labels = pool.labels
    if set(labels) != set(task.labels):
        raise InputError(f"score files have labels {labels} but the task has {task.labels}", location=scores)
    if len(pool.table) < config.n and not config.allow_partial:  # dedup only shrinks it: fail now
        raise PoolExhaustedError(_shortfall(config.n, f"{len(pool.table)} candidates are in the pool",
                                            pool, config, names))
    t = lap("pool", t0)

    table = pool.table
    texts = join_texts(table, task, corpus, storage_options, workers=config.io_workers).to_pylist()
    table = table.append_column(schemas.TEXT, pa.array(texts, pa.string()))
    t = lap("texts", t)

    result, groups = deduplicate(texts, config.dedup, stages=("exact", "near"))
    text_kept = result.kept
    if len(text_kept) < config.n and not config.allow_partial:  # before the embedding model loads
        raise PoolExhaustedError(_shortfall(
            config.n, f"{len(text_kept)} unique candidates remain after exact and near dedup "
            f"({len(table)} in the pool, {len(table) - len(text_kept)} duplicates dropped)", pool, config, names))
    t = lap("dedup_text", t)

    emb_kept, emb_source = _embed(pool, texts, text_kept, config, embedder, warnings)
    t = lap("embed", t)
    clusters_kept = None
    if emb_kept is not None:
        k = config.n_clusters or auto_k(len(text_kept))
        clusters_kept, _ = kmeans(emb_kept, k, rng)
    t = lap("cluster", t)

    embeddings = clusters = None
    if emb_kept is not None:
        embeddings = np.zeros((len(table), emb_kept.shape[1]), dtype=np.float32)
        embeddings[text_kept] = emb_kept
        clusters = np.full(len(table), -1, dtype=np.int64)
        clusters[text_kept] = clusters_kept
    if config.dedup.semantic and embeddings is not None:
        result, groups = deduplicate(texts, config.dedup, embeddings=embeddings, clusters=clusters,
                                     stages=("semantic",), groups=groups)
    elif config.dedup.semantic:
        warnings.append("semantic dedup skipped: no embeddings (embedding.source 'none')")
    t = lap("dedup_semantic", t)

    unique = result.kept
    cands = Candidates.from_table(table.take(pa.array(unique)), labels, task.positive_label,
                                  embeddings=None if embeddings is None else embeddings[unique],
                                  cluster_ids=None if clusters is None else clusters[unique])
    if "label_mass" in table.column_names:
        cands.extra["label_mass"] = table.column("label_mass").take(pa.array(unique)).to_numpy(zero_copy_only=False)
    dropped = len(table) - len(unique)
    n = config.n
    if len(cands) == 0:
        raise EmptyPoolError("the candidate pool is empty after dedup")
    if len(cands) < n:
        remain = f"{len(cands)} unique candidates remain ({len(table)} in the pool, {dropped} duplicates dropped)"
        if not config.allow_partial:
            raise PoolExhaustedError(_shortfall(n, remain, pool, config, names))
        warnings.append(f"asked for {n} items but only {remain}; writing a smaller batch ({names['allow_partial']})")
        n = len(cands)

    strategy = build_strategy(config)
    sel = strategy.select(cands, n, rng)
    warnings += sel.warnings
    t = lap("strategy", t)

    batch = assemble_batch(cands, sel, round, task=task.model_dump(mode="json"))
    batch_pool_idx = unique[sel.indices]
    groups_table = result.groups_table(table.column(schemas.ID).to_numpy(zero_copy_only=False).astype(object),
                                       representatives=batch_pool_idx, texts=texts)

    cand_table = None
    if config.write_candidates:
        cand_table = _candidates_table(table, result, embeddings, text_kept, clusters, batch_pool_idx)
    for w in warnings:
        log.warning("%s", w, extra={RESULT_WARNING: True})
    summary = {
        "strategy": config.strategy, "strategy_repr": repr(strategy), "round": round,
        "n_requested": config.n, "n_selected": len(batch), "pool_size": len(table),
        "unique_candidates": len(cands), "dropped_duplicates": dropped,
        "dropped_by_kind": result.counts,
        "duplicates_mapped_to_batch": len(groups_table),
        "scores": scores, "corpus": corpus, "labels": labels, "positive_label": task.positive_label,
        "model_versions": sorted(pool.model_versions), "model_ids": pool.model_ids,
        "scan": pool.stats, "excluded_ids_given": len(exclude), "embedding_source": emb_source,
        "embedding_dim": None if embeddings is None else int(embeddings.shape[1]),
        "pool_clusters": None if clusters_kept is None else int(clusters_kept.max()) + 1,
        "batch_predicted": _counts(batch.column(schemas.PREDICTED).to_pylist()),
        "batch_pairs": int(batch.column("pair_id").drop_null().unique().__len__()),
        "batch_clusters": int(batch.column("cluster_id").drop_null().unique().__len__()),
        "strategy_info": sel.info, "warnings": warnings,
        "config": config.model_dump(mode="json"), "timings_s": timings,
    }
    timings["total"] = round_(time.perf_counter() - t0)
    outputs = write_outputs(out_dir, batch, groups_table, summary, cand_table, candidates_url, storage_options)
    return SelectionResult(batch_url=outputs["batch"], n_selected=len(batch), pool_size=len(table),
                           dropped_duplicates=dropped, warnings=warnings, n_requested=config.n,
                           strategy=config.strategy, out_dir=out_dir, outputs=outputs,
                           model_versions=sorted(pool.model_versions))


def _candidates_table(table: pa.Table, result, embeddings: np.ndarray | None, embedded: np.ndarray,
                      clusters: np.ndarray | None, batch_idx: np.ndarray) -> pa.Table:
    ids = table.column(schemas.ID).to_pylist()
    dup = result.duplicate_of
    out = table.drop_columns([c for c in table.column_names if c == "embedding"])
    out = out.append_column("duplicate_of", pa.array([ids[j] if j >= 0 else None for j in dup], pa.string()))
    out = out.append_column("duplicate_kind", pa.array(result.kind, pa.string()))
    out = out.append_column("cluster_id", pa.array(clusters if clusters is not None else np.full(len(table), -1),
                                                   pa.int64(), mask=(clusters if clusters is not None
                                                                     else np.full(len(table), -1)) < 0))
    selected = np.zeros(len(table), dtype=bool)
    selected[batch_idx] = True
    out = out.append_column("selected", pa.array(selected))
    if embeddings is not None:
        d = embeddings.shape[1]
        mask = np.ones(len(table), dtype=bool)
        mask[embedded] = False  # exact/near duplicates were not embedded
        flat = pa.array(embeddings.reshape(-1), pa.float32())
        vec = pa.FixedSizeListArray.from_arrays(flat, d, mask=pa.array(mask))
        out = out.append_column("embedding", vec)
    return out


def _counts(values: list) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return out


def round_(x: float) -> float:
    return float(f"{x:.3f}")
