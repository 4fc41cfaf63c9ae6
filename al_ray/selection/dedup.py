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

    def groups_table(self, ids: np.ndarray, representatives: np.ndarray | None = None) -> pa.Table:
        """dedup_groups rows for dropped items whose representative is in ``representatives``."""
        dropped = np.flatnonzero(self.duplicate_of >= 0)
        if representatives is not None:
            dropped = dropped[np.isin(self.duplicate_of[dropped], representatives)]
        return pa.table({
            schemas.ID: pa.array([str(ids[i]) for i in dropped], pa.string()),
            "representative_id": pa.array([str(ids[self.duplicate_of[i]]) for i in dropped], pa.string()),
            "kind": pa.array([self.kind[i] for i in dropped], pa.string()),
            "similarity": pa.array(self.similarity[dropped].astype(np.float64), pa.float64()),
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


def _shingles(text: str, kind: str, size: int) -> list[bytes]:
    if kind == "word":
        words = text.split()
        grams = {" ".join(words[i:i + size]) for i in range(max(1, len(words) - size + 1))}
    else:
        grams = {text[i:i + size] for i in range(max(1, len(text) - size + 1))}
    return [g.encode("utf-8") for g in grams if g]


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
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=cfg.jaccard_threshold, num_perm=cfg.num_perm)
    shingles = [_shingles(norm[i], cfg.shingle, cfg.shingle_size) for i in active]
    hashes = MinHash.bulk(shingles, num_perm=cfg.num_perm)  # bulk reuses the permutations
    kept: dict[str, object] = {}
    for i, m, sh in zip(active, hashes, shingles):
        if not sh:
            continue  # empty text: nothing to compare
        best, best_j = -1.0, None
        for key in lsh.query(m):
            j = kept[key].jaccard(m)
            if j >= cfg.jaccard_threshold and j > best:
                best, best_j = j, int(key)
        if best_j is not None:
            groups.drop(int(i), best_j, "near", float(best))
        else:
            lsh.insert(str(int(i)), m)
            kept[str(int(i))] = m


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
