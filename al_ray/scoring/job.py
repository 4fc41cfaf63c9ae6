"""The driver-side scheduler: shards -> a pool of scoring actors -> score files + ``_summary.json``.

Flow: list shards, check a sample of footers (a missing column fails here, before any engine
starts; every other footer is checked by the actor that opens the shard), skip shards whose ``.done``
marker is in one listing of the output (unless ``rescore``), start ``workers`` actors, keep up to
``shards_in_flight_per_worker`` shards queued per actor (backpressure), and ``ray.wait`` on their
streaming results. If an actor dies, the shards it held go back to the queue (at most
``max_shard_attempts`` tries each) and Ray restarts it; because an actor publishes a score file
atomically and only then its marker, a retried shard never leaves duplicates. Bad data quarantines
one shard; every other shard still completes. Afterwards the duplicate-id check runs as Ray tasks over
the id sidecars the actors wrote (``al_ray.scoring.duplicates``).

The driver's state is O(shards), never O(rows): the corpus listing as columns (``ShardTable``: a
relative path, a fingerprint and a row count per shard), one listing of the output prefix (not a
request per shard), no footers beyond the sample, no id hashes. Row counts are known
only for the sampled shards, so the progress bar's total is an estimate (mean sampled rows x shards)
and the rows actually scored are counted as actors report them.

Library code never calls ``ray.init``: the caller connects first (the CLI does).
"""

from __future__ import annotations

import hashlib
import json
import logging
import posixpath
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from al_ray import storage
from al_ray.clock import utc_now as _now
from al_ray.errors import ConfigError, InputError, StorageError
from al_ray.layout import CALIBRATION_FILE as CALIBRATION_NAME
from al_ray.layout import DUPLICATE_STATE_DIR
from al_ray.layout import SCORES_SUMMARY_FILE as SUMMARY_NAME
from al_ray.models import MODEL_VERSION_FILE
from al_ray.scoring.config import ScoringConfig
from al_ray.scoring.listing import OutputListing, list_outputs
from al_ray.scoring.reader import Shard, check_shards, list_shards, normalise_url, sample_shards, score_url
from al_ray.scoring.shard_table import ShardTable
from al_ray.scoring.shard import ShardResult
from al_ray.scoring.summary import DuplicateIds, ScoringSummary, ShardFailure
from al_ray.security import register_storage_options, scrub

log = logging.getLogger(__name__)

PRIOR_SHARDS = 64  # calibration 'corpus': the sample is spread over at most this many shards


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


def preflight(config: ScoringConfig, corpus: str, shards: list[str] | None = None) -> ShardTable:
    """List the corpus and check a sample of footers: all of scoring's input checks that need no Ray.

    The sample (``reader.sample_shards``: the first shard and a seeded handful, every shard of a
    corpus of at most ``PREFLIGHT_SAMPLE``) keeps this at a second whatever the shard count; the
    scoring actors check every other shard's footer as they open it and quarantine a bad one. The
    returned table has every listed shard; only the sampled ones carry ``num_rows`` or ``error``.

    The CLI calls this before ``ray.init`` so that a wrong path or a missing column answers in
    about a second instead of after a cluster start; ``run_scoring`` takes the result (``checked``)
    so the footers are not read twice. Raises ``InputError`` naming the path when the corpus does
    not exist or holds no Parquet shard (scoring nothing is never what was meant: it used to exit 0
    with "scored 0 rows in 0 shards"), and for a missing or mistyped text/id column.
    """
    so = config.storage_options
    register_storage_options(so)
    listed = list_shards(corpus, so, only=shards)
    if not listed and not shards:  # an explicit empty ``shards`` asks for nothing (nightly: no change)
        if not storage.exists(corpus, so):
            raise InputError("corpus does not exist (expected a folder of Parquet shards or one .parquet file)",
                             location=scrub(corpus))
        raise InputError("corpus holds no Parquet shards (*.parquet; names starting with '_' or '.' are "
                         "skipped)", location=scrub(corpus))
    picked = sample_shards(listed)
    for i, s in zip(picked, check_shards([listed[i] for i in picked], config.task, so)):
        listed.record(i, s)
    return listed


@dataclass
class ScoringPlan:
    """What ``run_scoring`` will do, decided from the listing, a sample of footers and one listing of
    the output prefix: O(shards) memory, a handful of requests per 1,000 shards on an object store."""

    checked: ShardTable  # every listed shard; sampled ones carry num_rows/error
    readable: ShardTable  # not flagged by the sample (a view of ``checked``, as are the next two)
    done_before: ShardTable  # marker present (skipped unless rescore)
    todo: ShardTable
    outputs: OutputListing | None  # what one listing of ``out`` found (None: not listed, rescore)
    rows_estimate: int  # for the progress bar: mean sampled rows x shards to do (unknown rows are estimated)


def plan_scoring(config: ScoringConfig, corpus: str, out: str, *, shards: list[str] | None = None,
                 rescore: bool = False, checked: ShardTable | None = None) -> ScoringPlan:
    """The planning half of ``run_scoring`` (what the driver benchmark measures): preflight unless
    ``checked`` is given, then which shards are done from one listing of ``out``."""
    so = config.storage_options
    if checked is None:
        checked = preflight(config, corpus, shards)
    readable = checked.where(~checked.error_mask())
    outputs = None if rescore else list_outputs(out, readable.keys(), so)
    done = np.zeros(len(readable), bool) if outputs is None else outputs.done
    done_before, todo = readable.where(done), readable.where(~done)
    known = checked.known_rows()
    per_shard = float(known.mean()) if len(known) else 0.0
    return ScoringPlan(checked, readable, done_before, todo, outputs, int(per_shard * len(todo)))


def run_scoring(config: ScoringConfig, corpus: str, out: str, *, shards: list[str] | None = None,
                rescore: bool = False, progress: bool = True, console=None,
                checked: ShardTable | None = None) -> ScoringSummary:
    """Score every shard under ``corpus`` (or just ``shards``) into ``out``; returns the summary.

    ``rescore=True`` ignores existing completion markers (nightly rescoring of changed shards).
    ``checked``: the result of ``preflight(config, corpus, shards)`` when the caller ran it already.
    Raises ``InputError`` for a missing corpus or text/id column and ``ConfigError`` when workers
    cannot start; per-shard problems are reported in the summary (``summary.ok`` is False) instead
    of raising.
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
                             labels=list(config.task.labels), calibration=config.calibration, started_at=_now())
    plan = plan_scoring(config, corpus, out, shards=shards, rescore=rescore, checked=checked)
    checked, readable, todo = plan.checked, plan.readable, plan.todo
    summary.shards_total = len(checked)
    for s in checked.failed():
        summary.failed_shards.append(ShardFailure(shard=scrub(s.url), reason=s.error, kind=s.error_kind, attempts=0))
    summary.shards_skipped_done = len(plan.done_before)
    # the last report, for a resume that scores nothing (read before this run's summary replaces it)
    previous_dups = _previous_duplicates(out, so) if config.check_duplicate_ids and not todo else None

    if todo:
        # An unwritable output location (permissions, a full disk, a failing store) fails here, naming
        # the object and the cause, before any engine starts; the summary says "started, not finished".
        storage.write_json_atomic(storage.join(out, SUMMARY_NAME), summary.model_dump(), so)
        _run_pool(config, out, todo, summary, progress, console, t_start, readable, plan.rows_estimate)
        # every actor is shut down now: a temporary file left here is from one killed mid-publish
        for path in storage.remove_stale_temp_files(out, so):
            log.info("removed a killed writer's temporary file %s", scrub(path))
    elif config.calibration == "corpus":  # nothing left to score: report the prior the shards used
        saved = _saved_prior(config, summary, out)
        if saved is not None:
            summary.calibration_prior, summary.calibration_rows = saved["prior"], saved["rows"]
    if config.check_duplicate_ids:
        # after scoring: one more listing sees the sidecars this run wrote (none when nothing was to do)
        outputs = plan.outputs if (not todo and plan.outputs is not None) else list_outputs(out, readable.keys(), so)
        summary.duplicate_ids = _check_duplicates(out, outputs, so, previous_dups)
    summary.seconds = round(time.perf_counter() - t_start, 3)
    summary.rows_per_s = round(summary.rows_scored / summary.seconds, 2) if summary.seconds else 0.0
    summary.finished_at = _now()
    storage.write_json_atomic(storage.join(out, SUMMARY_NAME), summary.model_dump(), so)
    return summary


def _previous_duplicates(out: str, so: dict) -> dict[str, Any] | None:
    try:
        return (storage.read_json(storage.join(out, SUMMARY_NAME), so) or {}).get("duplicate_ids")
    except FileNotFoundError:  # a first run
        return None
    except (StorageError, OSError, ValueError, AttributeError) as exc:
        log.warning("the previous %s is unreadable (%s): the duplicate-id check covers every shard again",
                    SUMMARY_NAME, scrub(_short(exc)))
        return None


def _check_duplicates(out: str, outputs: OutputListing, so: dict, previous: dict[str, Any] | None) -> DuplicateIds:
    """The distributed duplicate-id check over the done shards of ``outputs``. A failure of the check
    itself is reported in the summary (``duplicate_ids.error``), not raised: the scores are complete."""
    from ray.exceptions import RayError

    from al_ray.scoring.duplicates import find_duplicate_ids, sources_from_listing

    try:
        return find_duplicate_ids(sources_from_listing(out, outputs), so, previous=previous,
                                  state_dir=storage.join(out, DUPLICATE_STATE_DIR))
    except (RayError, StorageError, OSError) as exc:
        log.warning("duplicate-id check failed: %s", scrub(_short(exc)))
        return DuplicateIds(error=scrub(_short(exc)))


def _saved_prior(config: ScoringConfig, summary: ScoringSummary, out: str) -> dict[str, Any] | None:
    """The prior an earlier run of this job estimated, if it was for the same model and labels."""
    try:
        saved = json.loads(storage.read_bytes(storage.join(out, CALIBRATION_NAME), config.storage_options))
    except FileNotFoundError:  # no earlier run estimated one
        return None
    except (StorageError, OSError, ValueError) as exc:
        log.warning("the saved %s is unreadable (%s): estimating the prior again", CALIBRATION_NAME,
                    scrub(_short(exc)))
        return None
    same = (saved.get("model_version") == summary.model_version and saved.get("labels") == list(config.task.labels)
            and saved.get("calibration_rows") == config.calibration_rows)
    return saved if same else None


def _corpus_prior(actors: list, config: ScoringConfig, summary: ScoringSummary, shards: ShardTable,
                  out: str) -> list[float]:
    """One label prior for the whole corpus, estimated by the workers on a seeded sample of rows.

    Why a sample scored up front rather than a mean over everything scored: every shard must divide
    out the *same* prior when it is written (so a text's probabilities do not depend on its shard),
    and a prior known only at the end would mean rewriting every score file. The sample is the first
    rows of up to PRIOR_SHARDS shards picked by a hash of their paths (stable across runs); each
    worker returns running sums (sum of probabilities, row count) and the driver adds them: O(shards
    sampled), never a pass over the corpus. A resume reuses the recorded prior, so shards scored
    before and after a crash agree.
    """
    import ray

    saved = _saved_prior(config, summary, out)
    if saved is not None:
        summary.calibration_prior, summary.calibration_rows = saved["prior"], saved["rows"]
        return saved["prior"]
    keys = shards.keys()
    picked = [shards[int(i)] for i in sorted(range(len(keys)), key=lambda i: hashlib.sha256(keys[i]).digest())
              [:PRIOR_SHARDS]]
    per_shard = -(-config.calibration_rows // max(len(picked), 1))
    refs = [actors[i % len(actors)].label_prob_sums.remote(s.url, per_shard) for i, s in enumerate(picked)]
    try:
        parts = ray.get(refs)
    except ray.exceptions.RayError as exc:
        raise ConfigError(f"estimating the corpus label prior failed: {scrub(_short(exc))}") from exc
    k = len(config.task.labels)
    total, n = np.zeros(k), sum(int(p[1]) for p in parts)
    for sums, _ in parts:
        total += np.asarray(sums, np.float64)
    if n == 0:  # no row with text in the sample: nothing to divide out
        prior = [1.0 / k] * k
    else:  # a label the scout never gives any mass would make the division blow up: floor it
        prior = np.maximum(total / n, 1e-6)
        prior = (prior / prior.sum()).tolist()
    summary.calibration_prior, summary.calibration_rows = prior, n
    storage.write_json_atomic(storage.join(out, CALIBRATION_NAME),
                              {"prior": prior, "rows": n, "labels": list(config.task.labels),
                               "model_version": summary.model_version, "calibration_rows": config.calibration_rows,
                               "shards_sampled": len(picked), "estimated_at": _now()}, config.storage_options)
    log.info("corpus label prior %s from %d rows in %d shards", prior, n, len(picked))
    return prior


def _run_pool(config: ScoringConfig, out: str, todo: ShardTable, summary: ScoringSummary,
              progress: bool, console, t_start: float, corpus_shards: ShardTable, rows_estimate: int) -> None:
    import ray
    from ray.exceptions import RayActorError, RayError

    from al_ray.resources import auto_num_gpus, default_cpus
    from al_ray.scoring.actor import remote_worker_class

    n_workers = min(config.workers, len(todo))
    gpus = auto_num_gpus(config.num_gpus_per_worker)
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
        prior = _corpus_prior(actors, config, summary, corpus_shards, out) if config.calibration == "corpus" else None
        summary.workers_ready_s = round(time.perf_counter() - t_start, 3)
        bar = _Progress(progress, rows_estimate, console)  # an estimate: footers were sampled, not all read
        # Shards not yet sent are read from the table as they go out (a Shard is made only then);
        # ``retry`` holds the ones an actor lost, sent again before any new one
        fresh = iter(todo)
        retry: deque[tuple[Shard, int]] = deque()
        left = len(todo)  # shards of ``fresh`` not yet sent

        def next_pending() -> tuple[Shard, int]:
            nonlocal left
            if retry:
                return retry.popleft()
            left -= 1
            return next(fresh), 0

        inflight: dict[Any, _Slot] = {}
        load = [0] * n_workers
        alive = set(range(n_workers))
        probes: dict[Any, int] = {}  # info() refs of actors that lost a shard: restarted or dead?
        per_actor = config.shards_in_flight_per_worker

        def finished() -> str:
            return f"{summary.shards_scored + summary.shards_skipped_done}/{summary.shards_total} shards"

        def fail_or_retry(slot: _Slot, reason: str) -> None:
            if slot.attempt < config.max_shard_attempts:
                retry.appendleft((slot.shard, slot.attempt))
            else:
                summary.failed_shards.append(ShardFailure(shard=scrub(slot.shard.url), reason=scrub(reason),
                                                          attempts=slot.attempt))

        while retry or left or inflight or probes:
            while retry or left:
                free = [a for a in alive if load[a] < per_actor and a not in probes.values()]
                if not free:
                    break
                a = min(free, key=lambda i: load[i])
                shard, tries = next_pending()
                gen = actors[a].score.options(num_returns="streaming").remote(
                    shard.url, shard.rel, score_url(out, shard.rel), shard.fingerprint, prior)
                inflight[gen] = _Slot(a, shard, tries + 1)
                load[a] += 1
            if not inflight and not probes:
                for shard, tries in [*retry, *((s, 0) for s in fresh)]:
                    summary.failed_shards.append(ShardFailure(shard=scrub(shard.url), attempts=tries,
                                                              reason="no scoring worker left alive"))
                retry.clear()
                left = 0
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
                    else:
                        summary.rows_quarantined += item.num_rows or slot.shard.num_rows or 0
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
        except RayError as exc:  # only the memory figures are lost; the scoring itself is done
            log.warning("could not read the workers' peak memory: %s", scrub(_short(exc)))
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
        except Exception as exc:  # noqa: BLE001 - a dead actor cannot close; it is killed below anyway
            log.info("close() not sent to a scoring actor (%s); killing it", scrub(_short(exc)))
    if refs:
        ready, pending = ray.wait(refs, num_returns=len(refs), timeout=120)
        if pending:
            log.warning("%d scoring engine(s) did not close within 120 s; killing their actors", len(pending))
    for a in actors:
        try:
            ray.kill(a, no_restart=True)
        except Exception as exc:  # noqa: BLE001 - already gone is the outcome we want
            log.info("scoring actor already gone at shutdown (%s)", scrub(_short(exc)))
