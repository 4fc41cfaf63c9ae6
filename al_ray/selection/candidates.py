"""``Candidates``: the pool a strategy chooses from, as plain numpy arrays (row i = candidate i)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa

from al_ray import schemas
from al_ray.errors import InputError


@dataclass
class Candidates:
    """The candidate pool handed to ``SelectionStrategy.select``.

    ``embeddings`` are L2-normalised float32 rows (or None when the embedding source is 'none');
    ``cluster_ids`` are the pool-wide k-means clusters (or None when not computed).
    """

    ids: np.ndarray
    labels: list[str]
    probs: np.ndarray
    predicted: np.ndarray
    entropy: np.ndarray
    margin: np.ndarray
    least_confidence: np.ndarray
    positive_label: str | None = None
    embeddings: np.ndarray | None = None
    cluster_ids: np.ndarray | None = None
    texts: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.ids)
        self.ids = np.asarray(self.ids, dtype=object)
        self.predicted = np.asarray(self.predicted, dtype=object)
        self.probs = np.asarray(self.probs, dtype=np.float64).reshape(n, len(self.labels))
        for name in ("entropy", "margin", "least_confidence"):
            setattr(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        if self.embeddings is not None:
            self.embeddings = np.ascontiguousarray(self.embeddings, dtype=np.float32)
            if self.embeddings.shape[0] != n:
                raise ValueError(f"{self.embeddings.shape[0]} embeddings for {n} candidates")
        if self.positive_label is None:
            self.positive_label = self.labels[-1]

    def __len__(self) -> int:
        return len(self.ids)

    def uncertainty(self, measure: str) -> np.ndarray:
        """Higher = more uncertain, whatever the measure (margin is negated)."""
        if measure == "margin":
            return -self.margin
        if measure in ("entropy", "least_confidence"):
            return getattr(self, measure)
        raise ValueError(f"unknown measure {measure!r}; choose one of {schemas.MEASURES}")

    def measure_value(self, measure: str, i: int) -> float:
        return float(getattr(self, measure)[i])

    def require_embeddings(self, who: str) -> np.ndarray:
        if self.embeddings is None:
            raise InputError(f"{who} needs candidate embeddings, but none were computed "
                             "(embedding.source is 'none' or the embedding column is missing)")
        return self.embeddings

    def subset(self, idx: np.ndarray) -> "Candidates":
        idx = np.asarray(idx, dtype=np.int64)

        def take(a):
            return None if a is None else a[idx]

        return replace(
            self, ids=self.ids[idx], probs=self.probs[idx], predicted=self.predicted[idx],
            entropy=self.entropy[idx], margin=self.margin[idx], least_confidence=self.least_confidence[idx],
            embeddings=take(self.embeddings), cluster_ids=take(self.cluster_ids), texts=take(self.texts),
            extra={k: v[idx] for k, v in self.extra.items()},
        )

    @classmethod
    def from_table(cls, table: pa.Table, labels: list[str], positive_label: str | None = None,
                   embeddings: np.ndarray | None = None, cluster_ids: np.ndarray | None = None) -> "Candidates":
        probs = np.column_stack([
            table.column(schemas.prob_column(lab)).to_numpy(zero_copy_only=False) for lab in labels
        ]) if len(table) else np.zeros((0, len(labels)))
        texts = None
        if schemas.TEXT in table.column_names:
            texts = np.asarray(table.column(schemas.TEXT).to_pylist(), dtype=object)
        return cls(
            ids=np.asarray(table.column(schemas.ID).to_pylist(), dtype=object),
            labels=list(labels),
            probs=probs,
            predicted=np.asarray(table.column(schemas.PREDICTED).cast(pa.string()).to_pylist(), dtype=object),
            entropy=table.column("entropy").to_numpy(zero_copy_only=False),
            margin=table.column("margin").to_numpy(zero_copy_only=False),
            least_confidence=table.column("least_confidence").to_numpy(zero_copy_only=False),
            positive_label=positive_label, embeddings=embeddings, cluster_ids=cluster_ids, texts=texts,
        )
