"""Cross-label boundary pairs (DESIGN.md; Google Research 2025, "Achieving 10,000x training data
reduction with high-fidelity labels").

The model's predictions split the pool into predicted-positive and predicted-negative items
(multi-class: one-vs-rest per label, or every pair of labels). Each side is clustered on its own.
Two opposite-label clusters *overlap* when members of one lie inside the other's radius (the
``radius_quantile`` of its members' distances to its centroid). Inside each overlap, every member
lying in the other cluster's ball is paired with its nearest opposite-label member of that
cluster; those pairs, closest first, are the boundary cases. Overlaps whose clusters cover more of
the pool (larger |P_i| + |N_j|) come first, and the batch is filled round-robin over the overlaps
(one pair per overlap per round) so it spans as many boundary regions as it can. An item is used
in at most one pair. If the overlaps run out before the batch is full, the rest is filled by
uncertainty (and the reasons say so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from al_ray.selection.candidates import Candidates
from al_ray.selection.clustering import kmeans, nearest
from al_ray.selection.strategies.base import Selection, SelectionStrategy, top_by_uncertainty


@dataclass
class Overlap:
    problem: str
    pos_cluster: int
    neg_cluster: int
    pos_size: int
    neg_size: int
    members_inside: int
    pairs: list[tuple[int, int, float]] = field(default_factory=list)  # (pos idx, neg idx, cosine), closest first
    cursor: int = 0

    @property
    def mass(self) -> int:
        return self.pos_size + self.neg_size


def _radii(x: np.ndarray, labels: np.ndarray, centroids: np.ndarray, q: float) -> np.ndarray:
    d = np.linalg.norm(x - centroids[labels], axis=1)
    r = np.zeros(len(centroids), dtype=np.float64)
    for c in range(len(centroids)):
        m = d[labels == c]
        r[c] = np.quantile(m, q) if len(m) else 0.0
    return r


def _dist_to_centroids(x: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    d2 = (x * x).sum(1)[:, None] - 2.0 * (x @ centroids.T) + (centroids * centroids).sum(1)[None, :]
    return np.sqrt(np.maximum(d2, 0.0))


class BoundaryPairs(SelectionStrategy):
    name = "boundary_pairs"
    needs_embeddings = True

    def __init__(self, multiclass: str = "ovr", clusters_per_side: int | None = None,
                 radius_quantile: float = 0.8, fill_measure: str = "entropy") -> None:
        self.multiclass = multiclass
        self.clusters_per_side = clusters_per_side
        self.radius_quantile = radius_quantile
        self.fill_measure = fill_measure

    @classmethod
    def from_config(cls, config) -> "BoundaryPairs":
        b = config.boundary
        return cls(b.multiclass, b.clusters_per_side, b.radius_quantile, fill_measure=config.measure)

    def _k(self, n_side: int) -> int:
        if self.clusters_per_side:
            return min(self.clusters_per_side, n_side)
        return int(max(1, min(100, n_side, np.ceil(np.sqrt(n_side / 2)))))

    def problems(self, pool: Candidates) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
        """(name, positive label name, positive positions, negative positions) per binary problem."""
        pred = pool.predicted
        if len(pool.labels) == 2:
            pos = pool.positive_label
            return [(f"{pos} vs rest", pos, np.flatnonzero(pred == pos), np.flatnonzero(pred != pos))]
        if self.multiclass == "pairwise":
            return [(f"{a} vs {b}", a, np.flatnonzero(pred == a), np.flatnonzero(pred == b))
                    for a, b in combinations(pool.labels, 2)]
        return [(f"{lab} vs rest", lab, np.flatnonzero(pred == lab), np.flatnonzero(pred != lab))
                for lab in pool.labels]

    def find_overlaps(self, emb: np.ndarray, P: np.ndarray, N: np.ndarray, name: str,
                      rng: np.random.Generator) -> tuple[list[Overlap], np.ndarray, np.ndarray]:
        """Cluster both sides, find overlapping cluster pairs and their nearest cross-label pairs."""
        xp, xn = emb[P], emb[N]
        lp, cp = kmeans(xp, self._k(len(P)), rng)
        ln, cn = kmeans(xn, self._k(len(N)), rng)
        rp = _radii(xp, lp, cp, self.radius_quantile)
        rn = _radii(xn, ln, cn, self.radius_quantile)
        in_n = _dist_to_centroids(xp, cn) <= rn[None, :]  # positive a inside negative ball j
        in_p = _dist_to_centroids(xn, cp) <= rp[None, :]  # negative b inside positive ball i
        # count[i, j]: members of P_i inside N_j's ball + members of N_j inside P_i's ball
        count = _onehot(lp, len(cp)) @ in_n.astype(np.float32) + (_onehot(ln, len(cn)) @ in_p.astype(np.float32)).T
        count = np.rint(count).astype(np.int64)
        overlaps: list[Overlap] = []
        for i, j in zip(*np.nonzero(count)):
            pi = np.flatnonzero(lp == i)
            nj = np.flatnonzero(ln == j)
            pairs: dict[tuple[int, int], float] = {}
            p_in = pi[in_n[pi, j]]
            if len(p_in):
                k, s = nearest(xp[p_in], xn[nj])
                for a, b, sim in zip(p_in, nj[k], s):
                    pairs[(int(P[a]), int(N[b]))] = float(sim)
            n_in = nj[in_p[nj, i]]
            if len(n_in):
                k, s = nearest(xn[n_in], xp[pi])
                for b, a, sim in zip(n_in, pi[k], s):
                    pairs[(int(P[a]), int(N[b]))] = float(sim)
            ranked = sorted(((a, b, sim) for (a, b), sim in pairs.items()), key=lambda t: (-t[2], t[0], t[1]))
            overlaps.append(Overlap(name, int(i), int(j), len(pi), len(nj), int(count[i, j]), ranked))
        return overlaps, lp, ln

    def _select(self, pool: Candidates, n: int, rng: np.random.Generator) -> Selection:
        emb = pool.embeddings
        warnings: list[str] = []
        overlaps: list[Overlap] = []
        cluster_of = np.full(len(pool), -1, dtype=np.int64)
        offset = 0
        offsets: dict[str, tuple[int, int]] = {}
        for name, pos_label, P, N in self.problems(pool):
            if len(P) == 0 or len(N) == 0:
                side = "positive" if len(P) == 0 else "negative"
                warnings.append(f"boundary pairs ({name}): no predicted-{side} candidates, no pairs possible")
                continue
            ovs, lp, ln = self.find_overlaps(emb, P, N, name, rng)
            k_p = int(lp.max()) + 1
            # cluster ids in the batch: this problem's positive clusters, then its negative ones
            cluster_of[P] = np.where(cluster_of[P] < 0, offset + lp, cluster_of[P])
            cluster_of[N] = np.where(cluster_of[N] < 0, offset + k_p + ln, cluster_of[N])
            offsets[name] = (offset, offset + k_p)
            offset += k_p + int(ln.max()) + 1
            overlaps += ovs
        overlaps.sort(key=lambda o: (-o.mass, -o.members_inside, o.problem, o.pos_cluster, o.neg_cluster))

        used = np.zeros(len(pool), dtype=bool)
        chosen: list[int] = []
        reasons: list[str] = []
        pair_ids: list[int] = []
        cluster_ids: list[int] = []
        n_pairs = 0
        active = list(overlaps)
        while len(chosen) < n and active:
            still = []
            for ov in active:
                if len(chosen) >= n:
                    still.append(ov)
                    continue
                while ov.cursor < len(ov.pairs) and (used[ov.pairs[ov.cursor][0]] or used[ov.pairs[ov.cursor][1]]):
                    ov.cursor += 1
                if ov.cursor >= len(ov.pairs):
                    continue
                a, b, sim = ov.pairs[ov.cursor]
                ov.cursor += 1
                still.append(ov)
                p_off, n_off = offsets[ov.problem]
                where = (f"overlap of {ov.problem} clusters +{ov.pos_cluster} ({ov.pos_size} items) and "
                         f"-{ov.neg_cluster} ({ov.neg_size} items), {ov.members_inside} inside each other's radius")
                room = n - len(chosen)
                members = (a, b) if room >= 2 else (max((a, b), key=lambda i: pool.uncertainty(self.fill_measure)[i]),)
                for i in members:
                    other = b if i == a else a
                    used[i] = True
                    chosen.append(int(i))
                    if len(members) == 2:
                        pair_ids.append(n_pairs)
                        reasons.append(f"boundary pair {n_pairs}: predicted {pool.predicted[i]}, nearest "
                                       f"opposite-label item {pool.ids[other]} at cosine {sim:.3f}; {where}")
                    else:
                        pair_ids.append(-1)
                        reasons.append(f"half of a boundary pair (partner {pool.ids[other]} at cosine {sim:.3f} "
                                       f"did not fit in the batch); {where}")
                    cluster_ids.append(int(cluster_of[i]))
                if len(members) == 2:
                    n_pairs += 1
            active = still
        if len(chosen) < n:
            if overlaps:
                warnings.append(f"boundary pairs: only {n_pairs} pairs in {len(overlaps)} overlapping cluster "
                                f"pairs; filled {n - len(chosen)} items by {self.fill_measure}")
            else:
                warnings.append(f"boundary pairs: no overlapping clusters of opposite labels; filled "
                                f"{n - len(chosen)} items by {self.fill_measure}")
            fill = top_by_uncertainty(pool, self.fill_measure, exclude=np.flatnonzero(used))[: n - len(chosen)]
            values = getattr(pool, self.fill_measure)
            for r, i in enumerate(fill):
                chosen.append(int(i))
                pair_ids.append(-1)
                cluster_ids.append(int(cluster_of[i]))
                reasons.append(f"fill: no more boundary pairs; top-{self.fill_measure} rank {r + 1}, "
                               f"{self.fill_measure}={values[i]:.4f}")
        return Selection(indices=np.array(chosen, dtype=np.int64), reasons=reasons,
                         cluster_ids=np.array(cluster_ids, dtype=np.int64), pair_ids=np.array(pair_ids, dtype=np.int64),
                         warnings=warnings, info={"pairs": n_pairs, "overlaps": len(overlaps)})


def _onehot(labels: np.ndarray, k: int) -> np.ndarray:
    """(k, n) indicator matrix: row c marks the members of cluster c."""
    out = np.zeros((k, len(labels)), dtype=np.float32)
    out[labels, np.arange(len(labels))] = 1.0
    return out
