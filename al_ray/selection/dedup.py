"""Duplicate removal before the batch is filled: exact, near (MinHash LSH) and semantic.

Items are visited in priority order (most uncertain first), so each group's representative is
its most uncertain member and is always kept. Every dropped item records the kept item it
duplicates; a chain (an exact copy of an item that is itself a near-duplicate) is resolved to the
kept root, with the weakest kind along the chain and the smallest similarity.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from al_ray import schemas
from al_ray.selection.config import DedupConfig

_PUNCT_RE = re.compile(r"[^\w\s]", re.UNICODE)
_WS_RE = re.compile(r"\s+")
KIND_RANK = {"exact": 0, "near": 1, "semantic": 2}


def normalise_text(text: str | None) -> str:
    """NFKC, case-folded, punctuation dropped, whitespace collapsed."""
    t = unicodedata.normalize("NFKC", text or "").casefold()
    t = _PUNCT_RE.sub(" ", t)
    return _WS_RE.sub(" ", t).strip()


@dataclass
class DedupResult:
    """``duplicate_of[i]`` is -1 for kept items, else the index of the kept root it duplicates."""

    duplicate_of: np.ndarray
    kind: list[str | None]
    similarity: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def kept(self) -> np.ndarray:
        return np.flatnonzero(self.duplicate_of < 0)

    def groups_table(self, ids: np.ndarray, representatives: np.ndarray | None = None,
                     texts: list[str | None] | None = None) -> pa.Table:
        """dedup_groups rows for dropped items whose representative is in ``representatives``.

        Each row carries the dropped item's own text, so a label propagated to it trains on it.
        """
        dropped = np.flatnonzero(self.duplicate_of >= 0)
        if representatives is not None:
            dropped = dropped[np.isin(self.duplicate_of[dropped], representatives)]
        return pa.table({
            schemas.ID: pa.array([str(ids[i]) for i in dropped], pa.string()),
            "representative_id": pa.array([str(ids[self.duplicate_of[i]]) for i in dropped], pa.string()),
            "kind": pa.array([self.kind[i] for i in dropped], pa.string()),
            "similarity": pa.array(self.similarity[dropped].astype(np.float64), pa.float64()),
            schemas.TEXT: pa.array([texts[i] if texts is not None else None for i in dropped], pa.string()),
        }, schema=schemas.DEDUP_GROUPS_SCHEMA)


class _Groups:
    def __init__(self, n: int) -> None:
        self.parent = np.full(n, -1, dtype=np.int64)
        self.kind: list[str | None] = [None] * n
        self.sim = np.full(n, np.nan)

    def drop(self, i: int, rep: int, kind: str, sim: float) -> None:
        self.parent[i], self.kind[i], self.sim[i] = rep, kind, sim

    def resolve(self) -> DedupResult:
        n = len(self.parent)
        root = self.parent.copy()
        kind = list(self.kind)
        sim = self.sim.copy()
        for i in range(n):
            if root[i] < 0:
                continue
            j = int(root[i])
            while self.parent[j] >= 0:  # chain: i -> j -> ... -> kept root
                if KIND_RANK[self.kind[j]] > KIND_RANK[kind[i]]:
                    kind[i] = self.kind[j]
                sim[i] = min(sim[i], self.sim[j])
                j = int(self.parent[j])
            root[i] = j
        counts = {k: sum(1 for x in self.kind if x == k) for k in KIND_RANK}
        return DedupResult(duplicate_of=root, kind=kind, similarity=sim, counts=counts)


_BASE = np.uint64(1_000_003)

# MurmurHash3's finalisers, fmix32 and fmix64 (Austin Appleby, MurmurHash3.cpp, public domain):
# (right shift, multiplier, right shift, multiplier, right shift) per word width.
_FMIX = {
    32: (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16)),
    64: (np.uint64(33), np.uint64(0xFF51AFD7ED558CCD), np.uint64(33), np.uint64(0xC4CEB9FE1A85EC53),
         np.uint64(33)),
}


def fmix(hv: np.ndarray, width: int) -> np.ndarray:
    """MurmurHash3's fmix32 / fmix64 on an unsigned array of that width, element-wise, wrapping mod
    2^width.

    datasketch >= 2.0 (the affine32/affine64 schemes) runs every hash value through this finaliser
    before its affine permutations. Its public API applies it only inside ``MinHash.update_batch``,
    one document at a time, with no vectorised path over a batch of documents, and the function
    itself is private (``datasketch.minhash._fmix``); so it is written out here.
    ``tests/selection/test_dedup.py`` checks the signatures against ``datasketch.MinHash``'s.
    """
    s1, m1, s2, m2, s3 = _FMIX[width]
    with np.errstate(over="ignore"):
        hv = hv ^ (hv >> s1)
        hv = hv * m1
        hv = hv ^ (hv >> s2)
        hv = hv * m2
        return hv ^ (hv >> s3)


def shingle_hashes(text: str, kind: str, size: int) -> np.ndarray:
    """Stable 32-bit hashes of a normalised text's n-gram shingles (polynomial over code points
    or over per-word CRC32s); a text shorter than one shingle is one shingle."""
    if kind == "word":
        units = np.array([zlib.crc32(w.encode("utf-8")) for w in text.split()], dtype=np.uint64)
    else:
        units = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(units) == 0:
        return np.zeros(0, dtype=np.uint32)
    w = min(size, len(units))
    windows = np.lib.stride_tricks.sliding_window_view(units, w)
    powers = _BASE ** np.arange(w - 1, -1, -1, dtype=np.uint64)  # wraps mod 2^64, deterministically
    with np.errstate(over="ignore"):
        h = (windows * powers).sum(axis=1, dtype=np.uint64)
    return ((h ^ (h >> np.uint64(32))) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def minhash_signatures(norm: list[str], cfg: DedupConfig, seed: int = 1) -> tuple[np.ndarray, np.ndarray, str]:
    """MinHash signatures (n, num_perm) of all texts at once, with datasketch's own permutations.

    Equivalent to ``datasketch.MinHash(num_perm, seed).update_batch(shingles)`` per text, but
    vectorised: datasketch's per-shingle Python hashing is ~20x slower on 100K texts. Returns the
    signatures, a flag per text that it had shingles, and the datasketch scheme name.
    """
    from datasketch import MinHash

    proto = MinHash(num_perm=cfg.num_perm, seed=seed)
    a, b = proto.permutations
    scheme = proto.scheme
    sigs = np.empty((len(norm), cfg.num_perm), dtype=proto.hashvalues.dtype)
    sigs.fill(np.iinfo(sigs.dtype).max)
    hashes = [shingle_hashes(t, cfg.shingle, cfg.shingle_size) for t in norm]
    has = np.array([len(h) > 0 for h in hashes], dtype=bool)
    width = 32 if sigs.dtype == np.uint32 else 64
    chunk = 1024
    for s in range(0, len(norm), chunk):
        part = [h for h in hashes[s:s + chunk]]
        lens = np.array([len(h) for h in part])
        nz = np.flatnonzero(lens)
        if not len(nz):
            continue
        hv = np.concatenate([part[i] for i in nz]).astype(sigs.dtype)
        # (num_perm, shingles) layout: the per-text minimum runs along contiguous memory
        with np.errstate(over="ignore"):
            if scheme == "legacy":
                phv = ((a[:, None].astype(np.uint64) * hv[None, :] + b[:, None]) % np.uint64((1 << 61) - 1)) \
                    & np.uint64((1 << 32) - 1)
            else:
                phv = fmix(hv, width)[None, :] * a[:, None] + b[:, None]
        starts = np.r_[0, np.cumsum(lens[nz])[:-1]]
        sigs[s + nz] = np.minimum.reduceat(phv, starts, axis=1).T.astype(sigs.dtype)
    return sigs, has, scheme


def exact_duplicates(norm: list[str], groups: _Groups, active: np.ndarray) -> None:
    seen: dict[bytes, int] = {}
    for i in active:
        h = hashlib.blake2b(norm[i].encode("utf-8"), digest_size=16).digest()
        rep = seen.get(h)
        if rep is None:
            seen[h] = int(i)
        else:
            groups.drop(int(i), rep, "exact", 1.0)


def near_duplicates(norm: list[str], groups: _Groups, active: np.ndarray, cfg: DedupConfig) -> None:
    """MinHash LSH (datasketch) over the active items in priority order; a hit whose estimated
    Jaccard reaches the threshold makes the item a duplicate of that kept item."""
    from datasketch import LeanMinHash, MinHashLSH

    active = np.asarray(active, dtype=np.int64)
    sigs, has, scheme = minhash_signatures([norm[i] for i in active], cfg)
    lsh = MinHashLSH(threshold=cfg.jaccard_threshold, num_perm=cfg.num_perm)
    pos_of: dict[str, int] = {}
    for r, i in enumerate(active):
        if not has[r]:
            continue  # empty text: nothing to compare
        m = LeanMinHash(seed=1, hashvalues=sigs[r], scheme=scheme)
        best, best_r = -1.0, None
        for key in lsh.query(m):
            k = pos_of[key]
            j = float(np.count_nonzero(sigs[k] == sigs[r])) / cfg.num_perm
            if j >= cfg.jaccard_threshold and j > best:
                best, best_r = j, k
        if best_r is not None:
            groups.drop(int(i), int(active[best_r]), "near", best)
        else:
            key = str(int(i))
            lsh.insert(key, m)
            pos_of[key] = r


def semantic_duplicates(emb: np.ndarray, clusters: np.ndarray, groups: _Groups, active: np.ndarray,
                        threshold: float) -> None:
    """Within each cluster, drop an item whose cosine with an earlier kept item is >= threshold."""
    active = np.asarray(active, dtype=np.int64)
    cl = clusters[active]
    for c in np.unique(cl):
        members = active[cl == c]  # already in priority order
        if len(members) < 2:
            continue
        x = emb[members]
        keep = np.ones(len(members), dtype=bool)
        # Row blocks bound memory to ~16M similarities whatever the cluster size.
        block = max(64, (1 << 24) // len(members))
        for s in range(0, len(members), block):
            e = min(len(members), s + block)
            sims = x[s:e] @ x[:e].T
            rows = np.arange(s, e)
            earlier = (sims >= threshold) & (np.arange(e)[None, :] < rows[:, None])
            # Only items with a similar *earlier* member can be dropped; the rest are kept outright.
            for r in np.flatnonzero(earlier.any(axis=1)):
                cand = np.flatnonzero(earlier[r] & keep[:e])
                if len(cand):
                    best = cand[np.argmax(sims[r, cand])]
                    keep[s + r] = False
                    groups.drop(int(members[s + r]), int(members[best]), "semantic", float(sims[r, best]))


def deduplicate(texts: list[str | None], cfg: DedupConfig, *, embeddings: np.ndarray | None = None,
                clusters: np.ndarray | None = None, stages: tuple[str, ...] = ("exact", "near", "semantic"),
                groups: _Groups | None = None) -> tuple[DedupResult, _Groups]:
    """Run the enabled dedup kinds in order over items given in priority order.

    ``stages`` lets the caller run the text kinds first, embed only the survivors, then run the
    semantic kind (passing back ``groups``).
    """
    n = len(texts)
    groups = groups or _Groups(n)
    norm = [normalise_text(t) for t in texts] if ("exact" in stages or "near" in stages) else []
    if "exact" in stages and cfg.exact:
        exact_duplicates(norm, groups, np.flatnonzero(groups.parent < 0))
    if "near" in stages and cfg.near:
        near_duplicates(norm, groups, np.flatnonzero(groups.parent < 0), cfg)
    if "semantic" in stages and cfg.semantic:
        if embeddings is None or clusters is None:
            raise ValueError("semantic dedup needs embeddings and cluster ids")
        semantic_duplicates(embeddings, clusters, groups, np.flatnonzero(groups.parent < 0), cfg.semantic_threshold)
    return groups.resolve(), groups
