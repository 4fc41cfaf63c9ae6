"""Streaming extraction of the candidate pool: the most uncertain rows of all score files.

Memory is O(pool_size + row group), never O(rows): every file is read row group by row group in
two passes.

1. light pass: only the measure (plus ``predicted_label`` when stratified, ``empty_text``,
   ``entropy_norm`` for an entropy threshold) is decoded; rows that cannot beat the current
   cut-off (the pool's K-th best so far) are dropped right there;
2. heavy pass: only when some rows survive, the other columns of that row group are decoded and
   just those rows are taken.

Once the pool is warm most row groups of a large corpus end after the light pass. The ranking
is a total order (uncertainty descending, then file index, then row), so the pool is the exact
top-K whatever order the worker threads finish in.

``pool_order: random`` (a cold start's representative pool, e.g. for the ``typical`` strategy)
reuses all of this unchanged with another priority: a uniform [0, 1) number hashed from (seed, id)
(``random_priority``) instead of the uncertainty. Top-K by a hash is a seeded random sample without
replacement, so the random pool keeps the bounded memory, the light-pass cut-off, the
exclusions/thresholds and, with ``stratify``, the per-predicted-label strata of the uncertainty
pool; and because the hash is of the id (not file/row), the sample does not depend on how the
corpus is sharded or which worker finishes first. The light pass then decodes ``id`` too.

Candidate sidecars (``<score file>.cand.pq``, written by the scoring actor: ``al_ray.scoring.topk``)
spare the full read. Phase 1 runs the same machinery over every shard's sidecar (its top-K rows by
each measure, overall and per predicted label) instead of its score file; the top-K of those rows is
the pool unless some shard's cut-off (its K-th kept row, ranked in the same total order) beats the
pool's own K-th best: then an unkept row of that shard might belong in the pool (exclusions,
thresholds or NaN probabilities left its sidecar short, or K is below the pool's size), and phase 2
reads just those shards in full, as before, together with any score file that has no sidecar
(scored before sidecars existed: one warning says so). The result is the full scan's pool, row for
row. The random pool always reads in full: its priority hashes (seed, id) and the seed is a
selection setting, so no sidecar written at scoring time can hold a random pool's top-K.
"""

from __future__ import annotations

import io
import json
import logging
import math
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from al_ray import schemas, storage
from al_ray.errors import EmptyPoolError, InputError, StorageError
from al_ray.layout import SCORE_CANDIDATES_SUFFIX
from al_ray.scoring import topk
from al_ray.scoring.topk import priority
from al_ray.selection.config import SelectionConfig

log = logging.getLogger(__name__)

KEY_SHIFT = 40  # key = file_index << 40 | row: unique, and orders ties by file then row
_NEG_INF = -np.inf
_MAX_KEY = np.iinfo(np.int64).max
_DICT_COLUMNS = (schemas.PREDICTED, "model_version", "model_id", "shard")
REQUIRED = (schemas.ID, schemas.PREDICTED, "entropy", "entropy_norm", "margin", "least_confidence",
            "label_mass", "model_version", "shard", "row")


@dataclass
class PoolResult:
    """The extracted pool (score columns, most uncertain first) and what the scan saw."""

    table: pa.Table
    labels: list[str]
    files: list[str]
    rows_scanned: int
    model_versions: dict[str, str]  # version -> first file it was seen in
    model_ids: list[str]
    stats: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


__all__ = ["PoolResult", "extract_pool", "list_score_files", "priority", "prune", "random_priority",
           "read_exclude_ids"]
_STAT_NAMES = ("rows", "nan_rows", "excluded", "empty_text", "past_threshold", "nan_prob_rows")


_HASH_MULT = np.uint64(0x100000001B3)  # FNV-64 prime, as the polynomial base


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser (a bijection of uint64 with good avalanche)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def random_priority(ids: pa.Array | pa.ChunkedArray, seed: int) -> np.ndarray:
    """A uniform [0, 1) float64 per id, a pure function of (seed, id text): the random pool's rank.

    Vectorised over the UTF-8 bytes (polynomial hash mod 2**64 of the bytes, then the length and
    the seed mixed in through splitmix64), so it costs O(bytes) numpy work per row group; null
    ids hash like the empty string.
    """
    if isinstance(ids, pa.ChunkedArray):
        chunks = ids.chunks
        if not chunks:
            return np.zeros(0, dtype=np.float64)
        return np.concatenate([random_priority(c, seed) for c in chunks])
    arr = pc.cast(ids, pa.large_string()) if ids.type != pa.large_string() else ids
    arr = pc.fill_null(arr, "")
    n = len(arr)
    if n == 0:
        return np.zeros(0, dtype=np.float64)
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64)[arr.offset:arr.offset + n + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    lo, hi = int(offsets[0]), int(offsets[-1])
    lengths = np.diff(offsets)
    with np.errstate(over="ignore"):
        h = np.zeros(n, dtype=np.uint64)
        if hi > lo:
            b = data[lo:hi].astype(np.uint64) + np.uint64(1)
            ends = np.repeat(offsets[1:] - lo, lengths)
            exp = ends - 1 - np.arange(hi - lo, dtype=np.int64)  # byte j of a string of length L: P^(L-1-j)
            powers = np.ones(int(lengths.max()), dtype=np.uint64)  # 1, P, P^2, ... (mod 2**64)
            powers[1:] = np.cumprod(np.full(len(powers) - 1, _HASH_MULT, dtype=np.uint64), dtype=np.uint64)
            terms = b * powers[exp]
            cs = np.concatenate([np.zeros(1, dtype=np.uint64), np.cumsum(terms, dtype=np.uint64)])
            h = cs[offsets[1:] - lo] - cs[offsets[:-1] - lo]  # wraps mod 2**64: exact
        s = _mix64(np.array([np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF) ^ np.uint64(0xD1B54A32D192ED03)]))[0]
        z = _mix64(_mix64(h ^ s) + lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def _passes(p: np.ndarray, key: np.ndarray, cut_p: np.ndarray | float, cut_key: np.ndarray | int) -> np.ndarray:
    """Rows that rank strictly before the cut-off (p desc, key asc); NaN never passes."""
    return (p > cut_p) | ((p == cut_p) & (key < cut_key))


def _topk_order(p: np.ndarray, key: np.ndarray, stratum: np.ndarray, k: int,
                n_strata: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the top-k per stratum (sorted by stratum, then rank) and each stratum's cut-off.

    ``n_strata``: the length of the cut-off arrays (-inf for strata with fewer than k rows); it must
    be the pool's stratum count wherever the cut-off is combined with others (``_tighter``), or a
    table holding rows of the first strata only would yield shorter arrays that broadcast one
    stratum's cut-off onto all of them.
    """
    if n_strata is None:
        n_strata = int(stratum.max()) + 1 if len(stratum) else 0
    order = np.lexsort((key, -p, stratum))
    s_sorted = stratum[order]
    starts = np.searchsorted(s_sorted, np.arange(n_strata + 1))
    rank = np.arange(len(order)) - starts[s_sorted]
    keep = order[rank < k]
    cut_p = np.full(n_strata, _NEG_INF)
    cut_key = np.full(n_strata, _MAX_KEY, dtype=np.int64)
    for s in range(n_strata):
        if starts[s + 1] - starts[s] >= k:
            kth = order[starts[s] + k - 1]
            cut_p[s], cut_key[s] = p[kth], key[kth]
    return keep, cut_p, cut_key


def _tighter(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per stratum, the cut-off that ranks higher (the stricter one)."""
    a_p, a_k = a
    b_p, b_k = b
    take_b = (b_p > a_p) | ((b_p == a_p) & (b_k < a_k))
    return np.where(take_b, b_p, a_p), np.where(take_b, b_k, a_k)


class _Cutoff:
    """The pool's current K-th best per stratum; replaced (not mutated) so readers need no lock."""

    def __init__(self, n_strata: int) -> None:
        self.value = (np.full(n_strata, _NEG_INF), np.full(n_strata, _MAX_KEY, dtype=np.int64))


class _Scanner:
    def __init__(self, config: SelectionConfig, labels: list[str], exclude: frozenset[str],
                 storage_options: Mapping[str, Any] | None) -> None:
        self.config = config
        self.labels = labels
        self.label_index = {lab: i for i, lab in enumerate(labels)}
        self.measure = config.measure
        self.order = config.effective_pool_order()
        self.seed = config.seed
        self.n_strata = len(labels) if config.effective_stratify() else 1
        pool = config.effective_pool_size()
        self.k = math.ceil(pool / self.n_strata)
        self.exclude = exclude
        self.exclude_set = pa.array(sorted(exclude), pa.string()) if exclude else None
        # Rows that may still be dropped after the light pass (excluded ids) must not push true
        # candidates out of a per-row-group pre-selection, so that pre-selection keeps k + |exclude|.
        self.k_pre = self.k + len(exclude)
        self.storage_options = storage_options
        self.cutoff = _Cutoff(self.n_strata)
        self.threshold_col = None
        self.threshold = config.threshold
        if config.threshold is not None:
            self.threshold_col = topk.threshold_column(self.measure)
        self.embedding_column = config.embedding.column if config.embedding.source in ("scores", "auto") else None
        self.prob_cols = schemas.prob_columns(labels)

    # -- one file ------------------------------------------------------------------------------
    def scan_file(self, file_index: int, url: str) -> dict[str, Any]:
        fs, path = storage.resolve(url, self.storage_options)
        try:
            if storage.is_local(fs):
                return self._scan(file_index, url, path)
            with fs.open(path, "rb") as f:
                return self._scan(file_index, url, f)
        except (InputError, StorageError):
            raise
        except (OSError, pa.ArrowException) as exc:
            raise InputError(f"cannot read score file: {exc}", location=url) from exc

    def scan_sidecar(self, file_index: int, url: str) -> dict[str, Any]:
        """Phase 1: the shard's candidate sidecar instead of its score file; ``missing`` set (and
        nothing else) when there is none or it cannot be used, so the score file is read instead."""
        side = topk.candidates_sidecar_url(url)
        try:
            data = storage.read_bytes(side, self.storage_options)
        except FileNotFoundError:
            return {"url": url, "index": file_index, "missing": "missing"}
        try:
            pf = pq.ParquetFile(io.BytesIO(data))  # small: parsed once, decoded whole (see _scan)
            meta = topk.read_meta(pf.schema_arrow)
            return self._scan(file_index, url, pf, sidecar=meta)
        except InputError:
            raise
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
            return {"url": url, "index": file_index, "missing": "unreadable",
                    "error": f"{side}: {type(exc).__name__}: {exc}"}

    def _sidecar_cut(self, file_index: int, meta: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per stratum, the shard's cut-off as (priority, key) and whether an unkept row of the shard
        could still enter the pool at all (False: the stratum kept every row, or no unkept row passes
        the threshold)."""
        c_p = np.full(self.n_strata, _NEG_INF)
        c_key = np.full(self.n_strata, _MAX_KEY, dtype=np.int64)
        need = np.zeros(self.n_strata, dtype=bool)
        cuts, best = meta["cutoffs"][self.measure], meta["unkept_best"][self.measure]
        if self.n_strata == 1:
            scopes = [(0, cuts[topk.ALL], best[topk.ALL])]
        else:  # a label outside the label set has kept rows, which the scan of the sidecar rejected
            scopes = [(self.label_index[lab], cut, best["labels"].get(lab))
                      for lab, cut in cuts["labels"].items() if lab in self.label_index]
        for s, cut, b in scopes:
            if cut is None:
                continue
            if self.threshold is not None and (b is None or not topk.passes_threshold(self.measure, b, self.threshold)):
                continue
            need[s] = True
            c_p[s] = float(cut[0])
            c_key[s] = (np.int64(file_index) << KEY_SHIFT) + int(cut[1])
        return c_p, c_key, need

    def _scan(self, file_index: int, url: str, source: Any, sidecar: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One score file, or (``sidecar``: its metadata; ``source``: its ParquetFile) that file's
        candidate sidecar, whose rows are keyed by their position in the score file so both rank
        alike. A sidecar is small, so each pass is one read of the whole file rather than of each
        row group (the per-file overhead is what merging sidecars costs)."""
        if isinstance(source, pq.ParquetFile):
            pf = source
        else:  # read_dictionary keeps repeated strings (labels, versions, shard URLs) as dictionaries
            pf = pq.ParquetFile(source, read_dictionary=list(_DICT_COLUMNS))
        schema = pf.schema_arrow
        names = set(schema.names)
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            raise InputError(f"not a score file: missing columns {missing}", location=url)
        labels = schemas.labels_from_score_schema(schema)
        if labels != self.labels:
            raise InputError(f"labels {labels} differ from {self.labels} in the other score files", location=url)

        heavy = [schemas.ID, *self.prob_cols, schemas.PREDICTED, "entropy", "entropy_norm", "margin",
                 "least_confidence", "label_mass", "model_id", "model_version", "shard", "row"]
        heavy = [c for c in heavy if c in names]
        has_embedding = self.embedding_column is not None and self.embedding_column in names
        if has_embedding:
            heavy.append(self.embedding_column)
        light = [self.measure]
        if self.order == "random":
            light.append(schemas.ID)
        if self.n_strata > 1:
            light.append(schemas.PREDICTED)
        if self.config.exclude_empty_text and "empty_text" in names:
            light.append("empty_text")
        if self.threshold_col and self.threshold_col not in light:
            light.append(self.threshold_col)
        if sidecar is not None:
            light.append(topk.POSITION_COLUMN)

        stats = {"rows": 0, "nan_rows": 0, "excluded": 0, "empty_text": 0, "past_threshold": 0,
                 "nan_prob_rows": 0}
        versions = dict(sidecar["model_versions"]) if sidecar is not None else self._versions(pf, url)
        model_ids: set[str] = set()
        local: pa.Table | None = None
        local_cut = (np.full(self.n_strata, _NEG_INF), np.full(self.n_strata, _MAX_KEY, dtype=np.int64))
        row_base = 0
        bs = self.config.read_batch_size
        whole: pa.Table | None = None
        if sidecar is not None:
            whole = pf.read(columns=light)
            groups: Iterable[tuple[int, int]] = [(whole.num_rows, -1)]
        else:
            groups = ((pf.metadata.row_group(rg).num_rows, rg) for rg in range(pf.num_row_groups))
        for n_rg, rg in groups:
            if n_rg == 0:
                continue
            # -- light pass
            if whole is not None:
                lt = whole
            else:
                lt = pa.Table.from_batches(list(pf.iter_batches(batch_size=bs, row_groups=[rg], columns=light)))
            raw = lt.column(self.measure).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
            if self.order == "random":  # rank by hash(seed, id); rows with a NaN measure still drop
                p = np.where(np.isnan(raw), np.nan, random_priority(lt.column(schemas.ID), self.seed))
            else:
                p = priority(self.measure, raw)
            nan = np.isnan(p)
            stats["rows"] += n_rg
            stats["nan_rows"] += int(nan.sum())
            if sidecar is not None:
                pos = lt.column(topk.POSITION_COLUMN).to_numpy(zero_copy_only=False).astype(np.int64)
            else:
                pos = row_base + np.arange(n_rg, dtype=np.int64)
            key = (np.int64(file_index) << KEY_SHIFT) + pos
            stratum = self._strata(lt, url) if self.n_strata > 1 else np.zeros(n_rg, dtype=np.int64)
            ok = ~nan
            if "empty_text" in light:
                empty = lt.column("empty_text").to_numpy(zero_copy_only=False).astype(bool)
                stats["empty_text"] += int((empty & ok).sum())
                ok &= ~empty
            if self.threshold_col:
                tv = lt.column(self.threshold_col).to_numpy(zero_copy_only=False)
                ok &= (tv <= self.threshold) if self.threshold_col == "margin" else (tv >= self.threshold)
                stats["past_threshold"] += int(ok.sum())
            cut_p, cut_key = _tighter(self.cutoff.value, local_cut)
            ok &= _passes(p, key, cut_p[stratum], cut_key[stratum])
            idx = np.flatnonzero(ok)
            if len(idx) > self.k_pre:  # pre-select within the row group before decoding heavy columns
                keep, _, _ = _topk_order(p[idx], key[idx], stratum[idx], self.k_pre)
                idx = np.sort(idx[keep])
            if len(idx):
                if whole is not None:
                    part = pf.read(columns=heavy).take(pa.array(idx))
                else:
                    part = self._heavy(pf, rg, heavy, idx, bs)
                part = part.append_column("_prio", pa.array(p[idx])) \
                           .append_column("_key", pa.array(key[idx])) \
                           .append_column("_stratum", pa.array(stratum[idx]))
                part = self._filter(part, stats, url, has_embedding)
                if len(part):
                    if "model_id" in part.column_names:
                        model_ids.update(v for v in pc.unique(part.column("model_id")).to_pylist() if v)
                    local = part if local is None else pa.concat_tables([local, part], promote_options="default")
                    if len(local) > self.k * self.n_strata:
                        local, local_cut = prune(local, self.k, self.n_strata)
            row_base += n_rg
        out = {"url": url, "index": file_index, "table": local, "stats": stats, "versions": versions,
               "model_ids": model_ids, "has_embedding": has_embedding, "rows_read": stats["rows"]}
        if sidecar is not None:
            # What the full scan would count over the whole file: NaN / empty rows are never kept
            # in a sidecar, the metadata counts them. (excluded, past_threshold and nan_prob_rows
            # count the rows read, as the full scan's do: there, rows its cut-off skipped.)
            stats["rows"] = int(sidecar["rows"])
            stats["nan_rows"] = int(sidecar["nan"][self.measure])
            stats["empty_text"] = int(sidecar["empty_text"][self.measure]) if "empty_text" in light else 0
            out["cut"] = self._sidecar_cut(file_index, sidecar)
            out["sidecar_k"] = int(sidecar["k"])
            # past_threshold counts the sidecar's rows: the shard's exact count unless some row left
            # out of the sidecar passes the threshold too
            best = sidecar["unkept_best"][self.measure][topk.ALL]
            out["threshold_undercount"] = bool(self.threshold is not None and best is not None
                                               and topk.passes_threshold(self.measure, best, self.threshold))
        return out

    def _strata(self, lt: pa.Table, url: str) -> np.ndarray:
        col = lt.column(schemas.PREDICTED).combine_chunks()
        if not pa.types.is_dictionary(col.type):
            col = col.dictionary_encode()
        dictionary = col.dictionary.to_pylist()
        unknown = [d for d in dictionary if d not in self.label_index]
        codes = np.array([self.label_index.get(d, -1) for d in dictionary], dtype=np.int64)
        ind = col.indices.to_numpy(zero_copy_only=False)
        out = codes[ind] if len(codes) else np.zeros(len(ind), dtype=np.int64)
        if unknown and (out < 0).any():
            raise InputError(f"predicted_label values {unknown} are not in the label set {self.labels}", location=url)
        return out

    def _heavy(self, pf: pq.ParquetFile, rg: int, columns: list[str], idx: np.ndarray, bs: int) -> pa.Table:
        parts, offset = [], 0
        lo = 0
        for batch in pf.iter_batches(batch_size=bs, row_groups=[rg], columns=columns):
            hi = np.searchsorted(idx, offset + batch.num_rows, side="left")
            if hi > lo:
                parts.append(pa.Table.from_batches([batch.take(pa.array(idx[lo:hi] - offset))]))
            lo = hi
            offset += batch.num_rows
            if lo >= len(idx):
                break
        t = pa.concat_tables(parts)
        # dictionary columns -> plain strings so that tables of different files concatenate
        for name in _DICT_COLUMNS:
            if name in t.column_names and pa.types.is_dictionary(t.schema.field(name).type):
                t = t.set_column(t.schema.get_field_index(name), name, t.column(name).cast(pa.string()))
        return t

    def _filter(self, part: pa.Table, stats: dict, url: str, has_embedding: bool) -> pa.Table:
        keep = np.ones(len(part), dtype=bool)
        if self.exclude_set is not None:
            ex = pc.is_in(part.column(schemas.ID).cast(pa.string()), value_set=self.exclude_set)
            ex = ex.to_numpy(zero_copy_only=False).astype(bool)
            stats["excluded"] += int(ex.sum())
            keep &= ~ex
        probs = np.column_stack([part.column(c).to_numpy(zero_copy_only=False) for c in self.prob_cols])
        bad = np.isnan(probs).any(axis=1) & keep
        if bad.any():
            stats["nan_prob_rows"] += int(bad.sum())
            keep &= ~bad
        if has_embedding:
            emb = part.column(self.embedding_column)
            if emb.null_count and (np.asarray(emb.is_null().to_numpy(zero_copy_only=False)) & keep).any():
                raise InputError(f"missing embeddings: column {self.embedding_column!r} is null for some "
                                 "candidate rows", location=url)
        return part if keep.all() else part.filter(pa.array(keep))

    def _versions(self, pf: pq.ParquetFile, url: str) -> dict[str, int]:
        """model_version values of a file, from row-group statistics where they settle it."""
        md = pf.metadata
        leaf = [i for i in range(md.num_columns) if md.schema.column(i).path == "model_version"]
        out: dict[str, int] = {}
        for rg in range(md.num_row_groups):
            rgm = md.row_group(rg)
            if rgm.num_rows == 0:
                continue
            st = rgm.column(leaf[0]).statistics if leaf else None
            if st is not None and st.has_min_max and st.min == st.max and st.null_count == 0:
                v = st.min.decode() if isinstance(st.min, bytes) else str(st.min)
                out[v] = out.get(v, 0) + rgm.num_rows
                continue
            col = pf.read_row_group(rg, columns=["model_version"]).column(0).cast(pa.string())
            vc = pc.value_counts(col)
            for item in vc.to_pylist():
                v = item["values"]
                out["<null>" if v is None else v] = out.get("<null>" if v is None else v, 0) + item["counts"]
        return out


def prune(table: pa.Table, k: int, n_strata: int | None = None) -> tuple[pa.Table, tuple[np.ndarray, np.ndarray]]:
    """Keep the top-k rows per ``_stratum``; return them and each of the ``n_strata`` strata's cut-off."""
    p = table.column("_prio").to_numpy()
    key = table.column("_key").to_numpy()
    stratum = table.column("_stratum").to_numpy()
    keep, cut_p, cut_key = _topk_order(p, key, stratum, k, n_strata)
    return table.take(pa.array(keep)), (cut_p, cut_key)


def list_score_files(scores_url: str, storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """Score files under a URL: ``*.parquet``, skipping ``.done`` markers and ``_``/``.`` names."""
    return [fi.url for fi in storage.list_files(scores_url, ".parquet", storage_options)]


def _sidecars_off(config: SelectionConfig) -> str | None:
    """Why this pool cannot come from candidate sidecars (None: it can)."""
    if config.effective_pool_order() == "random":
        # A random pool ranks by hash(seed, id), and the seed is chosen at selection time: no
        # sidecar written at scoring time can hold the top-K of a priority it cannot compute.
        return "pool_order random (its priority hashes the selection seed)"
    if not config.exclude_empty_text:
        return "exclude_empty_text is off (sidecars never keep empty-text rows)"
    return None


def _run(items: list[tuple[int, str]], fn, on_result, workers: int) -> None:
    """``on_result(fn(i, url))`` for every item, ``workers`` at a time, results merged in this thread."""
    workers = max(1, min(workers, len(items)))
    if workers == 1:
        for i, url in items:
            on_result(fn(i, url))
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="al-ray-pool") as ex:
        pending: set[Future] = set()
        try:
            for i, url in items:  # bounded in-flight work: memory stays O(workers * pool)
                pending.add(ex.submit(fn, i, url))
                if len(pending) >= 2 * workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        on_result(fut.result())
            for fut in list(pending):
                on_result(fut.result())
                pending.discard(fut)
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise


def extract_pool(scores_url: str, config: SelectionConfig, *, exclude_ids: Iterable[str] = (),
                 storage_options: Mapping[str, Any] | None = None,
                 files: list[str] | None = None, sidecars: bool = True) -> PoolResult:
    """Stream every score file under ``scores_url`` and return the most uncertain candidates
    (``pool_order`` 'uncertainty') or a seeded random sample of them ('random').

    ``sidecars``: merge the score files' candidate sidecars (``al_ray.scoring.topk``) and read in
    full only the files without one and the shards whose cut-off requires it (the same pool, row
    for row); False reads every score file in full. ``stats["sidecars"]`` says which happened.

    Raises EmptyPoolError when nothing is left after exclusions, InputError for malformed files
    or (unless ``config.allow_mixed_versions``) files from different model versions.
    """
    files = files if files is not None else list_score_files(scores_url, storage_options)
    if not files:
        raise EmptyPoolError(f"no score files (*.parquet) under {scores_url}")
    first_fs, first_path = storage.resolve(files[0], storage_options)
    with first_fs.open(first_path, "rb") as f:
        labels = schemas.labels_from_score_schema(pq.read_schema(f))
    if len(labels) < 2:
        raise InputError("not a score file: fewer than two p_<label> columns", location=files[0])
    exclude = frozenset(str(x) for x in exclude_ids)
    scanner = _Scanner(config, labels, exclude, storage_options)
    n_strata = scanner.n_strata
    n_files = len(files)

    pool: pa.Table | None = None
    versions: dict[str, str] = {}
    version_rows: dict[str, int] = {}
    versions_from = np.zeros(n_files, dtype=bool)  # a file's versions are merged once (sidecar or scan)
    model_ids: set[str] = set()
    file_stats = np.zeros((n_files, len(_STAT_NAMES)), dtype=np.int64)  # replaced when a shard is rescanned
    rows_read = 0
    nan_files: dict[int, int] = {}
    warnings: list[str] = []
    has_embedding = np.zeros(n_files, dtype=bool)

    def merge(res: dict[str, Any]) -> None:
        nonlocal pool, rows_read
        url, i = res["url"], res["index"]
        if not versions_from[i]:
            versions_from[i] = True
            for v, cnt in res["versions"].items():
                version_rows[v] = version_rows.get(v, 0) + cnt
                if v not in versions:
                    if versions and not config.allow_mixed_versions:
                        other, other_url = next(iter(versions.items()))
                        raise InputError(
                            f"score files come from different model versions: {other!r} in {other_url} "
                            f"and {v!r} in {url}; rescore with one model, select from one version's "
                            "directory, or set allow_mixed_versions", location=url)
                    versions[v] = url
        file_stats[i] = [res["stats"][name] for name in _STAT_NAMES]
        rows_read += res["rows_read"]
        bad = res["stats"]["nan_rows"] + res["stats"]["nan_prob_rows"]
        if bad:
            if config.nan_policy == "error":
                raise InputError(f"{bad} rows have NaN {config.measure} or probabilities "
                                 "(nan_policy='error')", location=url)
            nan_files[i] = bad
        else:
            nan_files.pop(i, None)
        model_ids.update(res["model_ids"])
        has_embedding[i] = res["has_embedding"]
        t = res["table"]
        if t is not None and len(t):
            pool = t if pool is None else pa.concat_tables([pool, t], promote_options="default")
            # Prune at 2K (amortised O(1) per row); also the first time K is reached, so the
            # workers get a cut-off early. A stale cut-off is looser than the true one, never wrong.
            cap = scanner.k * n_strata
            if len(pool) > 2 * cap or (len(pool) > cap and np.isneginf(scanner.cutoff.value[0]).all()):
                pool, cut = prune(pool, scanner.k, n_strata)
                scanner.cutoff.value = _tighter(scanner.cutoff.value, cut)

    # -- phase 1: the candidate sidecars
    off = None if sidecars else "sidecars=False (full scan asked for)"
    off = off or _sidecars_off(config)
    full: dict[int, str] = {}  # file index -> why it is read in full
    served = np.zeros(n_files, dtype=bool)
    undercount = np.zeros(n_files, dtype=bool)
    unreadable: list[str] = []
    if off is None:
        cut_p = np.full((n_files, n_strata), _NEG_INF)
        cut_key = np.full((n_files, n_strata), _MAX_KEY, dtype=np.int64)
        cut_need = np.zeros((n_files, n_strata), dtype=bool)
        side_k = np.zeros(n_files, dtype=np.int64)

        def on_sidecar(res: dict[str, Any]) -> None:
            i = res["index"]
            if "missing" in res:
                full[i] = res["missing"]
                if res.get("error"):
                    unreadable.append(res["error"])
                return
            merge(res)
            served[i] = True
            cut_p[i], cut_key[i], cut_need[i] = res["cut"]
            side_k[i] = res["sidecar_k"]
            undercount[i] = res["threshold_undercount"]

        _run(list(enumerate(files)), scanner.scan_sidecar, on_sidecar, config.io_workers)
        # The K-th best of the sidecar rows per stratum (-inf where fewer than K): a shard whose
        # cut-off beats it may hide a pool row among its unkept rows, so it is read in full.
        if pool is not None and len(pool):
            pool, pool_cut = prune(pool, scanner.k, n_strata)
        else:
            pool_cut = (np.full(n_strata, _NEG_INF), np.full(n_strata, _MAX_KEY, dtype=np.int64))
        beats = (cut_need & _passes(cut_p, cut_key, pool_cut[0][None, :], pool_cut[1][None, :])).any(axis=1)
        rescan = np.flatnonzero(served & beats)
        for i in rescan:
            full[int(i)] = "k_below_pool" if side_k[i] < scanner.k else "cutoff"
        if len(rescan):
            served[rescan] = False
            if pool is not None and len(pool):
                # Their sidecar rows leave the pool (the full scan finds them again); the cut-off the
                # workers start from is the rest's, so no row equal to a dropped cut-off is lost.
                drop = np.isin(pool.column("_key").to_numpy() >> KEY_SHIFT, rescan)
                pool = pool.filter(pa.array(~drop))
            scanner.cutoff = _Cutoff(n_strata)
            if pool is not None and len(pool):
                pool, cut = prune(pool, scanner.k, n_strata)
                scanner.cutoff.value = cut
        missing = sum(1 for why in full.values() if why == "missing")
        if missing:
            warnings.append(
                f"{missing} of {n_files} score files have no candidate sidecar (<score file>{SCORE_CANDIDATES_SUFFIX}: "
                "scored before sidecars existed, or with candidates_per_shard 0); they were read in full")
        if unreadable:
            more = f" and {len(unreadable) - 3} more" if len(unreadable) > 3 else ""
            warnings.append(f"{len(unreadable)} candidate sidecars could not be used; their score files were "
                            f"read in full: {'; '.join(unreadable[:3])}{more}")
        log.info("candidate pool: %d of %d shards from sidecars, %d read in full (%s)", int(served.sum()), n_files,
                 len(full), ", ".join(f"{w}: {c}" for w, c in sorted(_count(full.values()).items())) or "-")
    else:
        full = {i: "off" for i in range(n_files)}
        log.info("candidate pool: reading all %d score files in full: %s", n_files, off)

    # -- phase 2 (or the only phase): score files read in full
    _run([(i, files[i]) for i in sorted(full)], scanner.scan_file, merge, config.io_workers)

    totals = {name: int(v) for name, v in zip(_STAT_NAMES, file_stats.sum(axis=0))}
    # A shard served by its sidecar whose unkept rows include one past the threshold has at least
    # one more such row than was counted: a lower bound that still tells "capped by pool_size"
    # (that row is outside the pool) from "the pool holds every eligible row".
    threshold_lower_bound = int((undercount & served).sum())
    totals["past_threshold"] += threshold_lower_bound
    if pool is not None and len(pool):
        pool, _ = prune(pool, scanner.k)
        order = np.lexsort((pool.column("_key").to_numpy(), -pool.column("_prio").to_numpy()))
        pool = pool.take(pa.array(order))
    if nan_files:
        named = [(files[i], c) for i, c in sorted(nan_files.items())]
        listed = ", ".join(f"{u} ({c} rows)" for u, c in named[:5])
        more = f" and {len(named) - 5} more files" if len(named) > 5 else ""
        warnings.append(f"skipped {sum(c for _, c in named)} rows with NaN {config.measure} or "
                        f"probabilities: {listed}{more}")
    if len(versions) > 1:
        warnings.append("score files mix model versions (allow_mixed_versions): " +
                        ", ".join(f"{v!r} ({version_rows[v]} rows, e.g. {u})" for v, u in versions.items()))
    embedding_files = int(has_embedding.sum())
    if config.embedding.source == "scores" and embedding_files < n_files:
        raise InputError(f"missing embeddings: embedding.source is 'scores' but "
                         f"{n_files - embedding_files} score files lack column {config.embedding.column!r}",
                         location=scores_url)
    if pool is None or not len(pool):
        raise EmptyPoolError(
            f"empty candidate pool: {totals['rows']} rows in {n_files} score files under {scores_url}; "
            f"{totals['excluded']} excluded as already labelled/sent, {totals['empty_text']} empty texts, "
            f"{totals['nan_rows'] + totals['nan_prob_rows']} NaN"
            + (f", {totals['past_threshold']} past threshold {config.threshold}" if config.threshold is not None else ""))
    if config.threshold is not None and totals["past_threshold"] > len(pool):
        kept = (f"the {len(pool)} most uncertain" if scanner.order == "uncertainty"
                else f"a seeded random sample of {len(pool)}")
        at_least = "at least " if threshold_lower_bound else ""
        warnings.append(f"{at_least}{totals['past_threshold']} rows pass threshold {config.threshold}; "
                        f"kept {kept} (pool_size)")
    if scanner.order == "random":  # the rows stay in sample order; _uncertainty keeps its meaning
        unc = priority(config.measure, pool.column(config.measure).to_numpy(zero_copy_only=False))
        pool = pool.set_column(pool.schema.get_field_index("_prio"), "_prio", pa.array(unc, pa.float64()))
    pool = pool.drop_columns(["_key", "_stratum"]).rename_columns(
        [c if c != "_prio" else "_uncertainty" for c in pool.column_names if c not in ("_key", "_stratum")])
    side_stats = {"used": off is None, "off_reason": off, "from_sidecars": int(served.sum()),
                  "read_in_full": len(full), "read_in_full_why": _count(full.values()), "rows_read": int(rows_read),
                  "past_threshold_exact": not threshold_lower_bound}
    stats = dict(totals, files=n_files, pool_size=len(pool), k_per_stratum=scanner.k,
                 strata=n_strata, order=scanner.order, embedding_in_scores=embedding_files == n_files,
                 sidecars=side_stats)
    return PoolResult(table=pool, labels=labels, files=files, rows_scanned=totals["rows"],
                      model_versions=versions, model_ids=sorted(model_ids), stats=stats, warnings=warnings)


def _count(values: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def read_exclude_ids(urls: Iterable[str], storage_options: Mapping[str, Any] | None = None) -> set[str]:
    """Ids in label/batch files (Parquet with an ``id`` column, or JSONL objects with ``id``).

    A URL may be one file or a directory (searched recursively for .parquet and .jsonl).
    """
    out: set[str] = set()
    for url in urls:
        found = [fi.url for fi in storage.list_files(url, ".parquet", storage_options)]
        found += [fi.url for fi in storage.list_files(url, ".jsonl", storage_options)]
        found = list(dict.fromkeys(found))  # a single file is listed by both suffixes
        if not found:
            raise InputError("no .parquet or .jsonl files to read excluded ids from", location=url)
        for f in found:
            if f.endswith(".parquet"):
                fs, path = storage.resolve(f, storage_options)
                with fs.open(path, "rb") as fh:
                    pf = pq.ParquetFile(fh)
                    if schemas.ID not in pf.schema_arrow.names:
                        raise InputError("exclusion file has no 'id' column", location=f)
                    col = pf.read(columns=[schemas.ID]).column(0).cast(pa.string())
                out.update(v for v in col.to_pylist() if v is not None)
            else:
                for lineno, line in storage.iter_lines(f, storage_options):
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise InputError(f"not JSON: {exc}", location=f"{f}:{lineno}") from exc
                    if not isinstance(obj, dict) or schemas.ID not in obj:
                        raise InputError("JSON line has no 'id'", location=f"{f}:{lineno}")
                    out.add(str(obj[schemas.ID]))
    return out
