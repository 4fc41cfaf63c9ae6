"""Cluster-Margin (Citovsky et al., NeurIPS 2021, "Batch Active Learning at Scale").

1. cluster the pool's embeddings once (the paper: HAC with average linkage; here k-means,
   because HAC is quadratic in the pool; the pool-wide clusters are reused when given);
2. take the k_m = k_m_factor * n lowest-margin candidates;
3. group them by cluster, sort the clusters by size, smallest first;
4. round-robin: visit the clusters in that order, drawing one random member of each, until the
   batch is full (clusters that run out drop out of the rotation).

So no cluster gives more than one item per round: a cluster's count never exceeds another's by
more than one unless that other cluster ran out.
"""

from __future__ import annotations

import math

import numpy as np

from al_ray.selection.candidates import Candidates
from al_ray.selection.clustering import auto_k, kmeans
from al_ray.selection.strategies.base import Selection, SelectionStrategy, top_by_uncertainty


class ClusterMargin(SelectionStrategy):
    name = "cluster_margin"
    needs_embeddings = True

    def __init__(self, k_m_factor: float = 10.0, n_clusters: int | None = None) -> None:
        self.k_m_factor = k_m_factor
        self.n_clusters = n_clusters

    @classmethod
    def from_config(cls, config) -> "ClusterMargin":
        return cls(config.k_m_factor, config.n_clusters)

    def _select(self, pool: Candidates, n: int, rng: np.random.Generator) -> Selection:
        clusters = pool.cluster_ids
        if clusters is None:
            clusters, _ = kmeans(pool.embeddings, self.n_clusters or auto_k(len(pool)), rng)
        k_m = min(len(pool), max(n, math.ceil(self.k_m_factor * n)))
        low_margin = top_by_uncertainty(pool, "margin")[:k_m]
        members: dict[int, list[int]] = {}
        for i in low_margin:
            members.setdefault(int(clusters[i]), []).append(int(i))
        # smallest cluster first; equal sizes in random order
        order = sorted(members, key=lambda c: (len(members[c]), rng.random()))
        queues = {c: list(rng.permutation(members[c])) for c in order}
        chosen: list[int] = []
        reasons: list[str] = []
        rnd = 0
        while len(chosen) < n:
            rnd += 1
            for c in order:
                if len(chosen) >= n:
                    break
                if queues[c]:
                    i = int(queues[c].pop())
                    chosen.append(i)
                    reasons.append(f"cluster-margin: margin={pool.margin[i]:.4f} (among the {k_m} lowest), "
                                   f"cluster {c} of {len(members[c])}, round {rnd}")
            order = [c for c in order if queues[c]]
        idx = np.array(chosen, dtype=np.int64)
        return Selection(indices=idx, reasons=reasons, cluster_ids=np.asarray(clusters)[idx],
                         info={"k_m": k_m, "clusters_in_k_m": len(members), "rounds": rnd})
