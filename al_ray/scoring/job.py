"""The driver-side scheduler: shards -> a pool of scoring actors -> score files + ``_summary.json``.

Flow: list shards, check every footer (missing columns fail here, before any engine starts), skip
shards whose ``.done`` marker exists (unless ``rescore``), start ``workers`` actors, keep up to
``shards_in_flight_per_worker`` shards queued per actor (backpressure), and ``ray.wait`` on their
streaming results. If an actor dies, the shards it held go back to the queue (at most
``max_shard_attempts`` tries each) and Ray restarts it; because an actor publishes a score file
atomically and only then its marker, a retried shard never leaves duplicates. Bad data quarantines
one shard; every other shard still completes.

Library code never calls ``ray.init``: the caller connects first (the CLI does).
"""

from __future__ import annotations

import logging
import posixpath
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np

from al_ray import storage
from al_ray.errors import ConfigError, StorageError
from al_ray.models import MODEL_VERSION_FILE
from al_ray.scoring.config import ScoringConfig
from al_ray.scoring.reader import Shard, check_shards, list_shards, score_url
from al_ray.scoring.shard import ShardResult, hash_ids
from al_ray.scoring.summary import DuplicateIds, ScoringSummary, ShardFailure
from al_ray.security import register_storage_options, scrub

log = logging.getLogger(__name__)

SUMMARY_NAME = "_summary.json"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def resolve_model_version(config: ScoringConfig) -> str:
    """Explicit version, else the checkpoint's (and adapter's) version file, else directory names."""
    if config.model_version:
        return config.model_version

    def one(url: str) -> str:
        try:
            return storage.read_bytes(storage.join(url, MODEL_VERSION_FILE), config.storage_options).decode().strip()
        except (FileNotFoundError, StorageError, OSError):
            return posixpath.basename(str(url).rstrip("/"))

    version = one(config.model)
    return f"{version}+{one(config.lora_adapter)}" if config.lora_adapter else version


@dataclass
class _Slot:
    actor: int
    shard: Shard
    attempt: int  # 1-based
    rows: int = 0


class _Progress:
    """A rich progress bar with rows/s and ETA; a no-op when disabled."""

    def __init__(self, enabled: bool, total: int, console=None) -> None:
        self.enabled, self.done, self.t0 = enabled, 0, time.perf_counter()
        if enabled:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                       TimeRemainingColumn)

            self.bar = Progress(TextColumn("[bold]scoring"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("rows · {task.fields[rate]:,.0f} rows/s · {task.fields[shards]}"),
                                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                console=console, transient=False)
            self.task = self.bar.add_task("scoring", total=total or None, rate=0.0, shards="")
            self.bar.start()

    def advance(self, n: int, shards: str = "") -> None:
        self.done += n
        if self.enabled:
            rate = self.done / max(time.perf_counter() - self.t0, 1e-9)
            self.bar.update(self.task, completed=self.done, rate=rate, shards=shards)

    def stop(self) -> None:
        if self.enabled:
            self.bar.stop()


def run_scoring(config: ScoringConfig, corpus: str, out: str, *, shards: list[str] | None = None,
                rescore: bool = False, progress: bool = True, console=None) -> ScoringSummary:
    """Score every shard under ``corpus`` (or just ``shards``) into ``out``; returns the summary.

    ``rescore=True`` ignores existing completion markers (nightly rescoring of changed shards).
    Raises ``InputError`` for a missing text/id column and ``ConfigError`` when workers cannot start;
    per-shard problems are reported in the summary (``summary.ok`` is False) instead of raising.
    """
    import ray

    if not ray.is_initialized():
        raise ConfigError("run_scoring needs a Ray connection: call ray.init(address=...) first "
                          "(the `al-ray score` CLI does this for you)")
    so = config.storage_options
    register_storage_options(so)
    t_start = time.perf_counter()
    summary = ScoringSummary(corpus=scrub(corpus), out=scrub(out), model=scrub(config.model),
                             model_version=resolve_model_version(config), backend=config.backend,
                             labels=list(config.task.labels), started_at=_now())
    checked = check_shards(list_shards(corpus, so, only=shards), config.task, so)
    summary.shards_total = len(checked)
    todo: list[Shard] = []
    for s in checked:
        if s.error:
            summary.failed_shards.append(ShardFailure(shard=scrub(s.url), reason=s.error, kind=s.error_kind, attempts=0))
    readable = [s for s in checked if not s.error]
    with ThreadPoolExecutor(max_workers=16) as pool:
        done_flags = list(pool.map(lambda s: (not rescore) and storage.is_done(score_url(out, s.rel), so), readable))
    done_before = [s for s, d in zip(readable, done_flags) if d]
    todo = [s for s, d in zip(readable, done_flags) if not d]
    summary.shards_skipped_done = len(done_before)

    hashes: dict[str, np.ndarray] = {}
    if todo:
        # An unwritable output location (permissions, a full disk, a failing store) fails here, naming
        # the object and the cause, before any engine starts; the summary says "started, not finished".
        storage.write_json_atomic(storage.join(out, SUMMARY_NAME), summary.model_dump(), so)
        _run_pool(config, out, todo, summary, hashes, progress, console, t_start)
        # every actor is shut down now: a temporary file left here is from one killed mid-publish
        for path in storage.remove_stale_temp_files(out, so):
            log.info("removed a killed writer's temporary file %s", scrub(path))
    if config.check_duplicate_ids:
        _hash_done_shards(done_before, out, so, hashes)
        summary.duplicate_ids = _duplicates(hashes, out, so)
    summary.seconds = round(time.perf_counter() - t_start, 3)
    summary.rows_per_s = round(summary.rows_scored / summary.seconds, 2) if summary.seconds else 0.0
    summary.finished_at = _now()
    storage.write_json_atomic(storage.join(out, SUMMARY_NAME), summary.model_dump(), so)
    return summary


def _run_pool(config: ScoringConfig, out: str, todo: list[Shard], summary: ScoringSummary,
              hashes: dict[str, np.ndarray], progress: bool, console, t_start: float) -> None:
    import ray
    from ray.exceptions import RayActorError, RayError

    from al_ray.resources import default_cpus
    from al_ray.scoring.actor import remote_worker_class

    n_workers = min(config.workers, len(todo))
    gpus = config.num_gpus_per_worker
    if gpus is None:
        gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
    cpus = config.num_cpus_per_worker
    if cpus is None:
        cpus = default_cpus(gpus, n_workers)
    cls = remote_worker_class(config, gpus, cpus)
    cfg = config.model_dump(mode="json")
    actors = [cls.remote(cfg, summary.model, summary.model_version) for _ in range(n_workers)]
    bar: _Progress | None = None
    try:
        try:
            infos = ray.get([a.info.remote() for a in actors])
        except RayError as exc:
            raise ConfigError(f"scoring workers failed to start: {scrub(_short(exc))}") from exc
        summary.mode, summary.workers = infos[0]["mode"], n_workers
        summary.workers_ready_s = round(time.perf_counter() - t_start, 3)
        bar = _Progress(progress, sum(s.num_rows or 0 for s in todo), console)
        pending: deque[tuple[Shard, int]] = deque((s, 0) for s in todo)
        inflight: dict[Any, _Slot] = {}
        load = [0] * n_workers
        alive = set(range(n_workers))
        probes: dict[Any, int] = {}  # info() refs of actors that lost a shard: restarted or dead?
        per_actor = config.shards_in_flight_per_worker

        def finished() -> str:
            return f"{summary.shards_scored + summary.shards_skipped_done}/{summary.shards_total} shards"

        def fail_or_retry(slot: _Slot, reason: str) -> None:
            if slot.attempt < config.max_shard_attempts:
                pending.appendleft((slot.shard, slot.attempt))
            else:
                summary.failed_shards.append(ShardFailure(shard=scrub(slot.shard.url), reason=scrub(reason),
                                                          attempts=slot.attempt))

        while pending or inflight or probes:
            while pending:
                free = [a for a in alive if load[a] < per_actor and a not in probes.values()]
                if not free:
                    break
                a = min(free, key=lambda i: load[i])
                shard, tries = pending.popleft()
                gen = actors[a].score.options(num_returns="streaming").remote(
                    shard.url, shard.rel, score_url(out, shard.rel), shard.fingerprint)
                inflight[gen] = _Slot(a, shard, tries + 1)
                load[a] += 1
            if not inflight and not probes:
                for shard, tries in pending:
                    summary.failed_shards.append(ShardFailure(shard=scrub(shard.url), attempts=tries,
                                                              reason="no scoring worker left alive"))
                pending.clear()
                break
            ready, _ = ray.wait(list(inflight) + list(probes), num_returns=1, timeout=1.0)
            for ref in ready:
                if ref in probes:
                    a = probes.pop(ref)
                    try:
                        ray.get(ref)
                        summary.actor_restarts += 1
                    except RayError:
                        alive.discard(a)
                    continue
                slot = inflight[ref]
                try:
                    item = ray.get(next(ref))
                except StopIteration:
                    item = RuntimeError("worker stream ended without a result")
                except RayActorError as exc:
                    item = exc
                except RayError as exc:  # an exception inside score(): engine failure, storage error ...
                    item = exc
                if isinstance(item, dict):
                    slot.rows += item["rows"]
                    bar.advance(item["rows"], finished())
                    continue
                del inflight[ref]
                load[slot.actor] -= 1
                if isinstance(item, ShardResult):
                    if item.status == "scored":
                        summary.shards_scored += 1
                        summary.rows_scored += item.rows
                        summary.rows_skipped += item.skipped_rows
                        summary.rows_empty_text += item.empty_text
                        summary.rows_truncated += item.truncated
                        if item.id_hashes is not None:
                            hashes[slot.shard.rel] = item.id_hashes
                    else:
                        summary.rows_quarantined += slot.shard.num_rows or 0
                        summary.failed_shards.append(ShardFailure(shard=scrub(item.shard), reason=item.error or "",
                                                                  kind="quarantined", attempts=slot.attempt))
                    bar.advance(0, finished())
                    continue
                bar.advance(-slot.rows, finished())  # its rows will be scored again
                if isinstance(item, RayActorError):
                    if slot.actor in alive and slot.actor not in probes.values():
                        # max_task_retries=-1: wait for Ray's restart instead of failing at once on an
                        # actor that is restarting (at-most-once calls to it raise RayActorError)
                        probes[actors[slot.actor].info.options(max_task_retries=-1).remote()] = slot.actor
                    fail_or_retry(slot, f"worker died: {_short(item)}")
                else:
                    fail_or_retry(slot, f"{type(item).__name__}: {_short(item)}")
        try:
            infos = ray.get([actors[a].info.remote() for a in sorted(alive)], timeout=60)
            summary.peak_rss_mb_per_worker = [round(i["peak_rss_mb"], 1) for i in infos]
        except RayError:
            pass
    finally:
        if bar is not None:
            bar.stop()
        _shutdown(actors)


def _short(exc: BaseException, limit: int = 400) -> str:
    text = str(exc).strip().splitlines()
    last = next((ln for ln in reversed(text) if ln.strip()), "") if text else ""
    first = text[0] if text else type(exc).__name__
    msg = first if first == last else f"{first} ... {last}"
    return msg[:limit]


def _shutdown(actors: list) -> None:
    """Engines down first (close(), bounded wait), then the actors themselves."""
    import ray

    refs = []
    for a in actors:
        try:
            refs.append(a.close.remote())
        except Exception:
            pass
    if refs:
        ray.wait(refs, num_returns=len(refs), timeout=120)
    for a in actors:
        try:
            ray.kill(a, no_restart=True)
        except Exception:
            pass


def _hash_done_shards(shards: list[Shard], out: str, so: dict, hashes: dict[str, np.ndarray]) -> None:
    def read(s: Shard) -> tuple[str, np.ndarray]:
        t = storage.read_parquet(score_url(out, s.rel), so, columns=["id"])
        return s.rel, hash_ids(t.column("id").combine_chunks())

    if shards:
        with ThreadPoolExecutor(max_workers=8) as pool:
            hashes.update(dict(pool.map(read, shards)))


def _duplicates(hashes: dict[str, np.ndarray], out: str, so: dict, max_examples: int = 5) -> DuplicateIds:
    if not hashes:
        return DuplicateIds()
    rels = list(hashes)
    all_h = np.concatenate([hashes[r] for r in rels])
    owner = np.repeat(np.arange(len(rels)), [len(hashes[r]) for r in rels])
    order = np.argsort(all_h, kind="stable")
    sh = all_h[order]
    dup = sh[1:] == sh[:-1]
    if not dup.any():
        return DuplicateIds()
    dup_hashes = np.unique(sh[1:][dup])
    examples = []
    for h in dup_hashes[:max_examples]:
        where = sorted({rels[i] for i in owner[all_h == h]})
        ids = storage.read_parquet(score_url(out, where[0]), so, columns=["id"]).column("id").combine_chunks()
        match = np.flatnonzero(hash_ids(ids) == h)
        examples.append({"id": ids[int(match[0])].as_py() if len(match) else None, "shards": where,
                         "occurrences": int((all_h == h).sum())})
    return DuplicateIds(count=int(len(dup_hashes)), extra_rows=int(dup.sum()), examples=examples)
