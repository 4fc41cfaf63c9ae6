"""The duplicate-id check: a hash-partitioned pass of Ray tasks over per-shard id-hash sidecars.

Each scoring actor writes ``<score file>.ids.npy`` (``al_ray.layout.SCORE_IDS_SUFFIX``: the 64-bit
hash of every id it wrote, 8 bytes a row) before the shard's ``.done`` marker. After scoring, this
module finds the ids seen more than once across *all* done shards in two levels:

- **map** tasks each read a group of sidecars (at most ``ROWS_PER_MAP_TASK`` hashes, so a task's
  memory is bounded however large the corpus) and split them by ``hash % partitions``;
- **reduce** tasks each take one partition from every map task, sort it and report its duplicates.
  ``partitions`` is chosen from the sidecars' sizes (known from the output listing, nothing read) so
  that one partition holds at most ``ROWS_PER_PARTITION`` hashes.

The driver holds O(shards) state only: the shard names, one object ref per (map task, partition),
and the few examples it reports. A shard scored before sidecars existed (old score files) is hashed
from its score file's id column instead, in the map task, and counted (``from_score_files``). When a
resume scored nothing and the sidecars are exactly those the previous run checked (a digest of their
names and listed fingerprints), the previous report is reused and nothing is read.

Why plain Ray tasks rather than the driver or Ray Data: the driver cannot hold 1e9 hashes (8 GB plus
a sort) and reading 100K files one process at a time is the bottleneck this replaces. Ray Data's
shuffle (``groupby``/``repartition``) would also spread the work, but it moves Arrow blocks of rows
through its own streaming executor and memory budget; here every record is one fixed-width uint64,
the partition function is one modulo and the reduction one sort, so two ``ray.remote`` functions give
exact control of memory per task (rows per map group, rows per partition), use only Ray core (already
a dependency, no extra executor to tune), and return numpy arrays zero-copy through the object store.
"""

from __future__ import annotations

import hashlib
import io
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from al_ray import storage
from al_ray.layout import SCORE_IDS_SUFFIX
from al_ray.memory import private_mb
from al_ray.scoring.summary import DuplicateIds
from al_ray.scoring.writer import ids_sidecar_url
from al_ray.security import scrub

log = logging.getLogger(__name__)

ROWS_PER_MAP_TASK = 4_000_000  # hashes one map task holds at once (~200 MB peak with owners and the split)
FILES_PER_MAP_TASK = 2_000  # and at most this many files, so a task on many tiny shards ends in seconds
ROWS_PER_PARTITION = 8_000_000  # hashes one reduce task sorts (~250 MB peak with the sort's copies)
MAX_EXAMPLES = 5
_NPY_HEADER = 128  # np.save's v1 header: what a sidecar's size is besides its 8 bytes a row


@dataclass(frozen=True, slots=True)
class IdSource:
    """One done shard as the check sees it: where its id hashes come from and about how many."""

    rel: str
    out: str
    sidecar: bool  # True: read <score file>.ids.npy; False: hash the score file's id column
    rows: int  # estimate, from the listed size (what the partition count is planned from)
    fingerprint: str = ""  # of the file that will be read, from the listing

    @property
    def score_url(self) -> str:
        return storage.join(self.out, self.rel)


class IdSources:
    """The done shards the check covers, as columns: ``IdSource`` records only when one is asked for.

    At 100K shards a list of records cost ~220 bytes a shard in the driver (the record, its relative
    path and its fingerprint as Python strings) on top of the listing they came from, and each map
    task's arguments pickled 2,000 of them. Here they are numpy columns (UTF-8 paths, flags, row
    estimates, fingerprints), a map task gets a slice of them (``offset``: the slice's first index in
    the whole, so owners stay global; or ``index``, each source's index in the whole, for a subset
    such as the shards changed since the last check), and the output root is one string."""

    __slots__ = ("out", "rels", "sidecar", "rows", "fingerprints", "offset", "index")

    def __init__(self, out: str, rels: np.ndarray, sidecar: np.ndarray, rows: np.ndarray, fingerprints: np.ndarray,
                 offset: int = 0, index: np.ndarray | None = None) -> None:
        self.out, self.rels, self.sidecar, self.rows, self.fingerprints = out, rels, sidecar, rows, fingerprints
        self.offset, self.index = offset, index

    @classmethod
    def of(cls, sources: "Sequence[IdSource]") -> "IdSources":
        """Columns of these records (all under one output root)."""
        from al_ray.scoring.keys import utf8_keys

        outs = {s.out for s in sources}
        if len(outs) > 1:
            raise ValueError(f"sources under more than one output root: {sorted(outs)[:3]}")
        return cls(next(iter(outs), ""), utf8_keys([s.rel for s in sources]),
                   np.array([s.sidecar for s in sources], bool), np.array([s.rows for s in sources], np.int64),
                   utf8_keys([s.fingerprint for s in sources]))

    def __len__(self) -> int:
        return len(self.rels)

    def __getitem__(self, i: int) -> IdSource:
        i = int(i)
        return IdSource(self.rels[i].decode("utf-8"), self.out, bool(self.sidecar[i]), int(self.rows[i]),
                        self.fingerprints[i].decode("utf-8"))

    def __iter__(self) -> Iterator[IdSource]:
        return (self[i] for i in range(len(self)))

    def items(self) -> list[tuple[int, IdSource]]:
        """(index in the whole, record) of each source of this slice: what a map task reads."""
        if self.index is not None:
            return [(int(g), self[i]) for i, g in enumerate(self.index.tolist())]
        return [(self.offset + i, self[i]) for i in range(len(self))]

    def for_map_task(self) -> "IdSources":
        """This slice with only what a map task reads (paths and sidecar flags): fingerprints and row
        estimates are the driver's (the digest, the plan) and would more than double the task's
        arguments, which past ~100 KB Ray keeps in the object store, counted in the driver's memory."""
        n = len(self)
        return IdSources(self.out, self.rels, self.sidecar, np.zeros(n, np.int8), np.zeros(n, "S1"), self.offset,
                         self.index)

    def take(self, index: np.ndarray) -> "IdSources":
        """The sources at ``index`` of this whole (copies), keeping those indices: a map task's owners
        stay indices into the whole (int32, 4 bytes a source of its own arguments)."""
        return IdSources(self.out, self.rels[index], self.sidecar[index], self.rows[index], self.fingerprints[index],
                         index=np.asarray(index, np.int32))

    def slice(self, start: int, stop: int) -> "IdSources":
        """Sources ``start``..``stop`` (numpy views: pickling one copies only its own rows)."""
        return IdSources(self.out, self.rels[start:stop], self.sidecar[start:stop], self.rows[start:stop],
                         self.fingerprints[start:stop], self.offset + start,
                         self.index[start:stop] if self.index is not None else None)


def sources_from_listing(out: str, listing) -> IdSources:
    """The done shards of ``listing`` (``al_ray.scoring.listing.OutputListing``: one listing of ``out``
    joined with the shards) with their sidecar, or their score file when the sidecar is missing.
    When every shard is done from its sidecar (a resume) the columns are the listing's own, not copies."""
    done = np.flatnonzero(listing.done)
    every = len(done) == len(listing)
    pick = (lambda col: col) if every else (lambda col: col[done])
    side_sizes, score_sizes = pick(listing.sidecar_sizes), pick(listing.score_sizes)
    has = side_sizes >= 0
    rows = np.maximum((side_sizes - _NPY_HEADER) // 8, 0)
    # no sidecar (scored before they existed): its score file is read instead; size/8 over-counts rows
    # (a score row is far more than 8 bytes), which only errs towards more partitions
    old = ~has & (score_sizes >= 0)
    rows[~has] = 0
    rows[old] = score_sizes[old] // 8
    fps = pick(listing.sidecar_fps)
    if not has.all():
        fps = fps.astype(max(fps.dtype, listing.score_fps.dtype))  # a copy, whichever was picked
        fps[~has] = b""
        fps[old] = pick(listing.score_fps)[old]
    return IdSources(out, pick(listing.keys), has, rows, fps)


def digest(sources: "IdSources | Sequence[IdSource]") -> str:
    """What the check covered: which shards, read from which file, with which listed fingerprint."""
    h = hashlib.sha256()
    if isinstance(sources, IdSources):  # the same bytes as the records below, without making 100K of them
        for rel, side, fp in zip(sources.rels.tolist(), sources.sidecar.tolist(), sources.fingerprints.tolist()):
            h.update(b"%s\t%d\t%s\n" % (rel, side, fp))
        return h.hexdigest()
    for s in sources:
        h.update(f"{s.rel}\t{int(s.sidecar)}\t{s.fingerprint}\n".encode())
    return h.hexdigest()


def read_hashes(src: IdSource, storage_options: Mapping[str, Any] | None) -> tuple[np.ndarray, bool]:
    """(uint64 hashes, whether the sidecar was used). Falls back to the score file's id column when the
    sidecar is missing; any other failure raises naming the file."""
    from al_ray.errors import StorageError

    if src.sidecar:
        url = ids_sidecar_url(src.score_url)
        try:
            return np.load(io.BytesIO(storage.read_bytes(url, storage_options)), allow_pickle=False).astype(
                np.uint64, copy=False), True
        except FileNotFoundError:
            pass  # removed since the listing: read the score file
        except (OSError, ValueError, StorageError) as exc:
            raise StorageError(f"cannot read id hashes {scrub(url)}: {type(exc).__name__}: {scrub(str(exc))}") from exc
    from al_ray.scoring.shard import hash_ids

    try:
        ids = storage.read_parquet(src.score_url, storage_options, columns=["id"]).column("id").combine_chunks()
    except Exception as exc:
        raise StorageError(f"cannot read the id column of {scrub(src.score_url)}: {type(exc).__name__}: "
                           f"{scrub(str(exc))}") from exc
    return hash_ids(ids), False


def map_partition(group: "IdSources | list[tuple[int, IdSource]]", partitions: int,
                  storage_options: Mapping[str, Any] | None) -> tuple:
    """Read one group of shards' hashes and split them by ``hash % partitions``.

    ``group``: a slice of the sources (what ``find_duplicate_ids`` sends), or (index, source) pairs.

    Returns ``partitions`` (hashes, owners) pairs followed by a stats dict; owners are indices into
    the driver's shard list (int32: 2e9 shards), so a duplicate can name its shards.
    """
    from al_ray.security import register_storage_options

    register_storage_options(storage_options)
    mem = _PrivateMemory()
    if isinstance(group, IdSources):
        group = group.items()
    with ThreadPoolExecutor(max_workers=min(16, max(len(group), 1))) as pool:  # object stores: overlap GETs
        read = list(pool.map(lambda item: read_hashes(item[1], storage_options), group))
    hashes = np.concatenate([h for h, _ in read]) if read else np.zeros(0, np.uint64)
    owners = np.repeat(np.array([i for i, _ in group], np.int32), [len(h) for h, _ in read]) if read else \
        np.zeros(0, np.int32)
    mem.mark()  # the files' arrays and their concatenation both alive
    n_side = sum(1 for _, side in read if side)
    del read
    stats = {"from_sidecars": n_side, "from_score_files": len(group) - n_side, "rows": int(len(hashes))}
    if partitions == 1:
        return (hashes, owners), {**stats, **mem.stats()}
    part = (hashes % np.uint64(partitions)).astype(np.int64)
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(partitions + 1))
    hs, ow = hashes[order], owners[order]
    mem.mark()  # the task's largest point: hashes, owners, their partition and order, and the sorted copies
    del order, part, hashes, owners
    return (*[(hs[bounds[p]:bounds[p + 1]], ow[bounds[p]:bounds[p + 1]]) for p in range(partitions)],
            {**stats, **mem.stats()})


class _PrivateMemory:
    """A task's own memory: this worker's private memory at the task's largest points (``mark``, called
    where its arrays are all alive), and its rise over the task.

    Not ``ru_maxrss``: that is the worker's high-water mark since it started, and a Ray worker runs many
    tasks, so it carries the largest earlier task; and it counts the Ray object store's shared pages the
    worker has touched (its outputs, a reducer's zero-copy inputs), which pile up task after task. At
    1e8 ids it grew ~50 MB a task on a reused worker (map 306 -> 922 MB, reduce up to 1,347 MB) while a
    task's private memory stayed at 230-400 MB (RESULTS.md 5d). Not psutil's USS on Linux either: it
    counts a shared-memory page as private while this process alone maps it (an object this worker put
    in the store and no one has read yet); RssAnon never counts shared memory.
    """

    def __init__(self) -> None:
        self.start = self.peak = private_mb()

    def mark(self) -> None:
        self.peak = max(self.peak, private_mb())

    def stats(self) -> dict[str, float]:
        self.mark()
        return {"peak_private_mb": round(self.peak, 1), "private_rise_mb": round(self.peak - self.start, 1)}


def reduce_partition(*parts: tuple[np.ndarray, np.ndarray], max_examples: int = MAX_EXAMPLES,
                     saved: str | None = None, remap: str | None = None, save_to: str | None = None,
                     storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Duplicates within one partition (every copy of a hash lands in the same partition).

    Returns the count of duplicated hashes, the extra rows, and the ``max_examples`` smallest
    duplicated hashes with their owner shards and occurrences (smallest: the driver then reports the
    same examples whatever the number of partitions).

    An incremental check (``al_ray.scoring.duplicate_state``) adds the last check's partition
    (``saved``), keeping the pairs whose owner is unchanged (``remap``: the file of saved owner ->
    owner now, -1 dropped); ``parts`` then hold only the changed shards. ``save_to``: where this
    partition is saved for the next check. The remap travels as a file, not an argument: it is
    O(shards), and an argument that size, or a ``ray.put``, would map the object store into the
    driver (~57 MiB of its RSS at the first put, measured)."""
    from al_ray.scoring import duplicate_state

    mem = _PrivateMemory()
    hashes = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.uint64)
    owners = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int32)
    if saved is not None:
        old_h, old_o = duplicate_state.load_partition(saved, storage_options)
        kept = duplicate_state.load_remap(remap, storage_options)[old_o]
        keep = kept >= 0
        hashes, owners = np.concatenate([old_h[keep], hashes]), np.concatenate([kept[keep], owners])
        del old_h, old_o, kept, keep
    # Stable sort, which numpy runs as timsort for uint64: a saved partition is stored sorted, so an
    # incremental check sorts one long sorted run plus the changed shards' rows, close to a merge
    order = np.argsort(hashes, kind="stable")
    sh, so_ = hashes[order], owners[order]
    mem.mark()  # the task's largest point: the partition, its order and the sorted copies
    del order, hashes, owners
    if save_to is not None:
        duplicate_state.save_partition(save_to, sh, so_, storage_options)
    if len(sh) < 2:
        return {"count": 0, "extra_rows": 0, "examples": [], "rows": int(len(sh)), **mem.stats()}
    dup = sh[1:] == sh[:-1]
    extra = int(dup.sum())
    if not extra:
        return {"count": 0, "extra_rows": 0, "examples": [], "rows": int(len(sh)), **mem.stats()}
    dup_hashes = np.unique(sh[1:][dup])
    examples = []
    for h in dup_hashes[:max_examples]:
        lo, hi = np.searchsorted(sh, h, "left"), np.searchsorted(sh, h, "right")
        examples.append({"hash": int(h), "owners": sorted({int(o) for o in so_[lo:hi]}), "occurrences": int(hi - lo)})
    return {"count": int(len(dup_hashes)), "extra_rows": extra, "examples": examples, "rows": int(len(sh)),
            **mem.stats()}


def plan_groups(sources: IdSources, rows_per_task: int = ROWS_PER_MAP_TASK,
                files_per_task: int = FILES_PER_MAP_TASK) -> list[IdSources]:
    """Consecutive shards, cut so that no group exceeds the rows or files one map task may hold."""
    groups: list[IdSources] = []
    start, rows = 0, 0
    for i, r in enumerate(sources.rows.tolist()):
        if i > start and (rows + r > rows_per_task or i - start >= files_per_task):
            groups.append(sources.slice(start, i))
            start, rows = i, 0
        rows += r
    if len(sources) > start:
        groups.append(sources.slice(start, len(sources)))
    return groups


def find_duplicate_ids(sources: "IdSources | Sequence[IdSource]", storage_options: Mapping[str, Any] | None = None, *,
                       previous: Mapping[str, Any] | None = None, rows_per_partition: int = ROWS_PER_PARTITION,
                       rows_per_task: int = ROWS_PER_MAP_TASK, files_per_task: int = FILES_PER_MAP_TASK,
                       max_examples: int = MAX_EXAMPLES, state_dir: str | None = None) -> DuplicateIds:
    """Run the two-level pass over ``sources`` on the connected Ray cluster; returns the report.

    ``previous``: the ``duplicate_ids`` of the last summary; reused as is when its digest matches
    (nothing changed since it was computed). ``state_dir``: where the check keeps its partitions
    (``al_ray.scoring.duplicate_state``); when the last check saved them there, only the shards that
    changed since are read. None: a full check, nothing saved. Examples name the id (read from the first shard's score
    file: at most ``max_examples`` files) and the shards that hold it.
    """
    import ray

    from al_ray.scoring import duplicate_state

    if not isinstance(sources, IdSources):
        sources = IdSources.of(sources)
    dig = digest(sources)
    if previous and previous.get("digest") == dig and previous.get("error") is None:
        report = DuplicateIds.model_validate(dict(previous))
        report.reused = True
        report.from_sidecars = report.from_score_files = report.shards_from_saved = 0
        return report
    if not sources:
        return DuplicateIds(digest=dig)
    total = int(sources.rows.sum())
    needed = max(1, -(-total // rows_per_partition))
    # a saved state serves later checks while the corpus fits its partitions; planning it with room
    # to grow keeps a corpus that gains a few shards a night off a full check every night
    partitions = max(1, -(-int(total * duplicate_state.GROWTH_ROOM) // rows_per_partition)) if state_dir else needed
    saved = duplicate_state.load(state_dir, storage_options) if state_dir else None
    if saved is not None and saved.partitions < needed:
        log.info("duplicate-id check: the corpus outgrew the saved %d partitions; checking every shard",
                 saved.partitions)
        saved = None
    so = dict(storage_options or {})
    limits = (rows_per_task, files_per_task, max_examples)
    try:
        results, stats, groups, n_read = _run_check(sources, saved, partitions, state_dir, so, *limits)
    except ray.exceptions.RayTaskError as exc:
        if saved is None:
            raise
        # a saved partition that does not read back (damaged, removed by hand) must not stop every
        # later check: this one is a full one and saves a new state
        log.warning("duplicate-id check: the saved state under %s could not be used (%s); checking every shard",
                    scrub(state_dir or ""), scrub(_short_error(exc)))
        results, stats, groups, n_read = _run_check(sources, None, partitions, state_dir, so, *limits)
    if state_dir:
        duplicate_state.commit(state_dir, results.token, results.partitions, sources.rels, sources.sidecar,
                               sources.fingerprints, storage_options)
    partitions, results = results.partitions, results.parts
    report = DuplicateIds(count=sum(r["count"] for r in results), extra_rows=sum(r["extra_rows"] for r in results),
                          shards_checked=len(sources), partitions=partitions, map_tasks=len(groups),
                          shards_from_saved=len(sources) - n_read,
                          from_sidecars=sum(s["from_sidecars"] for s in stats),
                          from_score_files=sum(s["from_score_files"] for s in stats), digest=dig,
                          rows_checked=sum(r["rows"] for r in results),
                          task_peak_private_mb=max(r["peak_private_mb"] for r in [*results, *stats]),
                          task_private_rise_mb=max(r["private_rise_mb"] for r in [*results, *stats]))
    picked = sorted((e for r in results for e in r["examples"]), key=lambda e: e["hash"])[:max_examples]
    for e in picked:
        where = [sources[i] for i in e["owners"]]
        report.examples.append({"id": _id_of(where[0], e["hash"], storage_options),
                                "shards": sorted(s.rel for s in where), "occurrences": e["occurrences"]})
    if report.from_score_files:
        log.info("duplicate-id check: %d shard(s) had no id sidecar; their score files were read instead",
                 report.from_score_files)
    return report


@dataclass
class _Reduced:
    parts: list[dict[str, Any]]
    partitions: int
    token: str


def _short_error(exc: BaseException) -> str:
    text = str(getattr(exc, "cause", None) or exc)
    return text.strip().splitlines()[-1][:300] if text.strip() else type(exc).__name__


def _run_check(sources: IdSources, saved: "Any | None", partitions: int, state_dir: str | None,
               so: dict[str, Any], rows_per_task: int, files_per_task: int,
               max_examples: int) -> tuple[_Reduced, list[dict[str, Any]], list[IdSources], int]:
    """One pass of map and reduce tasks: over every shard (``saved`` None), or over the shards changed
    since ``saved`` with its partitions added in the reduce tasks. Returns the reduce results (with the
    partition count and the token their saved partitions carry), the map stats, the map groups and the
    number of shards read."""
    import ray

    from al_ray.scoring import duplicate_state

    if saved is not None:  # read only what changed since the saved check
        partitions = saved.partitions
        remap, changed = saved.join(sources.rels, sources.sidecar, sources.fingerprints)
        read = np.flatnonzero(changed)
        to_read = sources.take(read)
    else:
        to_read, remap = sources, None
    groups = plan_groups(to_read, rows_per_task, files_per_task)
    mapper = ray.remote(num_cpus=1, num_returns=partitions + 1)(map_partition)
    reducer = ray.remote(num_cpus=1)(reduce_partition)
    token = duplicate_state.new_token()
    remap_url = duplicate_state.save_remap(saved.state_dir, token, remap, so) if saved is not None else None
    try:
        map_refs = [mapper.remote(g.for_map_task(), partitions, so) for g in groups]
        red_refs = [reducer.remote(*[m[p] for m in map_refs], max_examples=max_examples,
                                   saved=saved.part_url(p) if saved is not None else None, remap=remap_url,
                                   save_to=duplicate_state.part_url(state_dir, token, p) if state_dir else None,
                                   storage_options=so)
                    for p in range(partitions)]
        results = ray.get(red_refs)
        stats = ray.get([m[partitions] for m in map_refs])
    finally:
        if remap_url:
            duplicate_state.remove_quietly(remap_url, so)
    return _Reduced(results, partitions, token), stats, groups, len(to_read)


def _id_of(src: IdSource, h: int, storage_options: Mapping[str, Any] | None) -> Any:
    from al_ray.scoring.shard import hash_ids

    ids = storage.read_parquet(src.score_url, storage_options, columns=["id"]).column("id").combine_chunks()
    match = np.flatnonzero(hash_ids(ids) == np.uint64(h))
    return ids[int(match[0])].as_py() if len(match) else None
