"""k-means and nearest neighbours on L2-normalised embeddings.

k-means is sklearn's (``KMeans`` for small sets, ``MiniBatchKMeans`` above 10K points) with its
random_state drawn from the caller's numpy Generator, so a seed fixes everything. Nearest
neighbours are hand-rolled: on unit vectors cosine similarity is one matrix product, and a
chunked ``a @ b.T`` + argmax is both exact and faster than a tree index at 384 dimensions.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

MINIBATCH_ABOVE = 10_000


def auto_k(n: int, cap: int = 256) -> int:
    return int(max(1, min(cap, n, math.ceil(math.sqrt(n / 2)))))


def kmeans(x: np.ndarray, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Cluster rows of ``x`` into at most k clusters; returns (labels int64, centroids)."""
    n = len(x)
    k = int(max(1, min(k, n)))
    if k == 1 or n <= 1:
        return np.zeros(n, dtype=np.int64), x.mean(axis=0, keepdims=True) if n else np.zeros((1, x.shape[1]))
    from sklearn.cluster import KMeans, MiniBatchKMeans

    seed = int(rng.integers(0, 2**31 - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on duplicated points: harmless here
        if n > MINIBATCH_ABOVE:
            km = MiniBatchKMeans(n_clusters=k, random_state=seed, batch_size=4096, n_init=1,
                                 max_no_improvement=10).fit(x)
        else:
            km = KMeans(n_clusters=k, random_state=seed, n_init=1).fit(x)
    return km.labels_.astype(np.int64), km.cluster_centers_.astype(np.float32)


def nearest(a: np.ndarray, b: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``a``, the index of its most similar row of ``b`` and that cosine."""
    idx = np.empty(len(a), dtype=np.int64)
    sim = np.empty(len(a), dtype=np.float32)
    for s in range(0, len(a), chunk):
        m = a[s:s + chunk] @ b.T
        j = m.argmax(axis=1)
        idx[s:s + chunk] = j
        sim[s:s + chunk] = m[np.arange(len(j)), j]
    return idx, sim
