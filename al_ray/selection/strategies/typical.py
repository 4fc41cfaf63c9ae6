"""Typicality cold start (Hacohen, Dekel & Weinshall, ICML 2022, "Active Learning on a Budget:
Opposite Strategies Suit High and Low Budgets" — TypiClust).

With no or few labels, the most uncertain items of a zero-shot model are a poor first batch (on
skewed data they can be almost all one true class); TypiClust labels *typical* members of
*distinct* clusters instead, and uncertainty takes over once labels exist (the driver's
``selection.cold_start``). Here, stratified by the model's predicted label so that a weak zero-shot
signal still spreads the batch over the label space:

1. every predicted label gets an equal share of the batch (floor/ceil split); a label with fewer
   candidates than its share gives the rest to the labels that still have candidates (with a
   warning), so the batch is full whenever the pool is big enough (``allocate``);
2. a label's candidates are k-means-clustered into as many clusters as its share;
3. from each cluster, larger clusters first, its most typical member: typicality is the inverse of
   the mean Euclidean distance to the member's k nearest neighbours inside the cluster,
   k = min(20, cluster size - 1) (a singleton cluster's only member is taken as it is). If k-means
   leaves clusters empty (duplicated points), the share is completed with the next most typical
   members, round-robin over the clusters, larger first.

The batch interleaves the labels (each label's best cluster, then each label's second, ...).
Typicality is exact for clusters up to ``max_reference`` members; above that, candidates are
limited to the ``max_candidates`` members nearest the centroid and their neighbours are searched in
a seeded sample of ``max_reference`` members, which bounds the work at
O(max_candidates * max_reference * dim) per cluster.
"""

from __future__ import annotations

import math

import numpy as np

from al_ray.selection.candidates import Candidates
from al_ray.selection.clustering import kmeans
from al_ray.selection.strategies.base import Selection, SelectionStrategy

K_NEIGHBOURS = 20


def allocate(n: int, capacity: list[int]) -> list[int]:
    """Equal shares of n over the labels, capped at each label's capacity (water-filling).

    Labels with fewer candidates than the fair share take them all and the rest is re-split over
    the others; the final floor/ceil split gives its extra units to the labels with the most
    candidates (ties: label order). The shares sum to min(n, sum(capacity)), and a label below
    its capacity is never more than one unit behind another.
    """
    share = [0] * len(capacity)
    remaining = n
    open_ = sorted(range(len(capacity)), key=lambda i: (capacity[i], i))
    while open_ and remaining > 0:
        fair = remaining // len(open_)
        if capacity[open_[0]] <= fair:  # too few candidates for a fair share: take them all
            i = open_.pop(0)
            share[i] = capacity[i]
            remaining -= capacity[i]
            continue
        q, r = divmod(remaining, len(open_))  # every open label can take q + 1 (capacity > q)
        extra = sorted(open_, key=lambda i: (-capacity[i], i))[:r]
        for i in open_:
            share[i] = q + (1 if i in extra else 0)
        remaining = 0
    return share


def typicality(x: np.ndarray, k: int = K_NEIGHBOURS, candidates: np.ndarray | None = None,
               reference: np.ndarray | None = None, chunk: int = 1024) -> np.ndarray:
    """1 / mean distance to the k nearest neighbours (among ``reference`` rows, self excluded).

    ``candidates`` / ``reference`` are row positions into x (default: all rows). Rows of x need not
    be normalised. Returns one value per candidate; +inf when all k neighbours coincide with it.
    """
    n = len(x)
    cand = np.arange(n) if candidates is None else np.asarray(candidates, dtype=np.int64)
    ref = np.arange(n) if reference is None else np.asarray(reference, dtype=np.int64)
    k = min(k, len(ref) - 1 if np.isin(cand, ref).any() else len(ref))
    if k < 1:
        return np.full(len(cand), np.nan)
    xr = x[ref].astype(np.float64)
    rr = (xr * xr).sum(1)
    out = np.empty(len(cand), dtype=np.float64)
    for s in range(0, len(cand), chunk):
        c = cand[s:s + chunk]
        xc = x[c].astype(np.float64)
        d2 = (xc * xc).sum(1)[:, None] - 2.0 * (xc @ xr.T) + rr[None, :]
        d = np.sqrt(np.maximum(d2, 0.0))
        d[c[:, None] == ref[None, :]] = np.inf  # not its own neighbour
        kk = min(k, d.shape[1])
        near = np.partition(d, kk - 1, axis=1)[:, :kk]
        near = np.where(np.isinf(near), np.nan, near)  # only when the reference is too small
        mean = np.nanmean(near, axis=1)
        with np.errstate(divide="ignore"):
            out[s:s + chunk] = 1.0 / mean
    return out


class Typical(SelectionStrategy):
    name = "typical"
    needs_embeddings = True
    # A cold start wants a representative pool, not the zero-shot model's most uncertain rows
    # (SelectionConfig.pool_order / stratify 'auto' follow these).
    pool_order = "random"
    pool_stratify = True

    def __init__(self, k_neighbours: int = K_NEIGHBOURS, max_candidates: int = 2048,
                 max_reference: int = 8192) -> None:
        self.k_neighbours = k_neighbours
        self.max_candidates = max_candidates
        self.max_reference = max_reference

    def _ranked_members(self, x: np.ndarray, members: np.ndarray, centroid: np.ndarray,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A cluster's members (positions into x), most typical first, and their typicality."""
        m = len(members)
        xm = x[members]
        dc = np.linalg.norm(xm - centroid[None, :], axis=1)
        if m == 1:
            return members, np.array([np.nan])
        k = min(self.k_neighbours, m - 1)
        cand = np.arange(m)
        ref = None
        if m > self.max_reference:
            cand = np.lexsort((np.arange(m), dc))[: self.max_candidates]
            ref = np.sort(rng.choice(m, size=self.max_reference, replace=False))
        t = typicality(xm, k, cand, ref)
        order = np.lexsort((cand, dc[cand], -np.nan_to_num(t, nan=-np.inf, posinf=np.finfo(np.float64).max)))
        return members[cand[order]], t[order]

    def _select(self, pool: Candidates, n: int, rng: np.random.Generator) -> Selection:
        emb = pool.embeddings
        labels = list(pool.labels)
        by_label = [np.flatnonzero(pool.predicted == lab) for lab in labels]
        capacity = [len(ix) for ix in by_label]
        shares = allocate(n, capacity)
        warnings: list[str] = []
        floor_share = n // len(labels)
        short = [(lab, c) for lab, c in zip(labels, capacity) if c < floor_share]
        if short:
            warnings.append("typical: " + ", ".join(f"predicted label {lab!r} has only {c} candidates"
                                                    for lab, c in short)
                            + f" (share {floor_share} of {n}); the rest of the batch went to the other labels")

        per_label: list[list[tuple[int, int, int, float, int]]] = []  # (pool idx, cluster, size, typicality, rank)
        offset = 0
        info_labels: dict[str, dict] = {}
        for lab, ix, share in zip(labels, by_label, shares):
            if share == 0:
                per_label.append([])
                info_labels[lab] = {"candidates": len(ix), "share": 0, "clusters": 0}
                continue
            assign, centroids = kmeans(emb[ix], share, rng)
            sizes = np.bincount(assign, minlength=len(centroids))
            # larger clusters first; equal sizes by cluster number (k-means is seeded)
            order = [int(c) for c in np.lexsort((np.arange(len(sizes)), -sizes)) if sizes[c] > 0]
            ranked = {c: self._ranked_members(emb, ix[assign == c], centroids[c], rng) for c in order}
            picks: list[tuple[int, int, int, float, int]] = []
            depth = 0
            while len(picks) < share:
                for c in order:
                    members, typ = ranked[c]
                    if depth < len(members) and len(picks) < share:
                        picks.append((int(members[depth]), offset + c, int(sizes[c]), float(typ[depth]), depth))
                depth += 1
            per_label.append(picks)
            info_labels[lab] = {"candidates": len(ix), "share": share, "clusters": len(order)}
            offset += len(centroids)

        chosen, reasons, cluster_ids = [], [], []
        for depth in range(max((len(p) for p in per_label), default=0)):
            for lab, picks in zip(labels, per_label):
                if depth < len(picks):
                    i, c, size, t, rank = picks[depth]
                    chosen.append(i)
                    cluster_ids.append(c)
                    tt = "n/a (singleton)" if math.isnan(t) else ("inf (duplicates)" if math.isinf(t) else f"{t:.3f}")
                    which = ("typical member" if rank == 0
                             else f"typical member no. {rank + 1} (k-means left clusters empty)")
                    reasons.append(f"{which} of cluster {c} (size {size}) of predicted label {lab}, typicality {tt}")
        return Selection(indices=np.array(chosen, dtype=np.int64), reasons=reasons,
                         cluster_ids=np.array(cluster_ids, dtype=np.int64), warnings=warnings,
                         info={"labels": info_labels})
