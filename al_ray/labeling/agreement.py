"""Inter-annotator agreement for one batch.

- Cohen's kappa for every pair of annotators on the items both labelled
  (``sklearn.metrics.cohen_kappa_score``), with the pair's confusion matrix;
- Krippendorff's alpha, nominal, across all annotators (the ``krippendorff`` package): it takes
  any number of annotators per item and missing values, which overlap designs produce;
- Fleiss' kappa across all (computed here: statsmodels is not a dependency), in the form for a
  varying number of ratings per item, which is Fleiss' own formula when every item has the same;
- per-label agreement from the coincidence matrix (how often a value of one label, paired with
  another annotator's value on the same item, is matched by the same label).

A statistic is ``None`` when it is undefined: no shared items, or a single label used throughout
(expected agreement 1, so kappa/alpha are 0/0). ``observed_agreement`` is still reported then.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any, Iterable, Mapping, Sequence

import numpy as np


@dataclass(frozen=True)
class PairAgreement:
    annotator_a: str
    annotator_b: str
    n_shared: int
    cohen_kappa: float | None
    observed_agreement: float | None
    confusion: list[list[int]]  # rows: annotator_a's label, columns: annotator_b's, in task label order


@dataclass(frozen=True)
class AgreementReport:
    labels: list[str]
    n_items: int
    n_annotations: int
    n_overlap_items: int  # items with >= 2 annotations
    annotations_per_annotator: dict[str, int]
    pairs: list[PairAgreement]
    mean_cohen_kappa: float | None  # weighted by shared items, over pairs where kappa is defined
    min_cohen_kappa: float | None
    krippendorff_alpha: float | None
    fleiss_kappa: float | None
    observed_agreement: float | None  # share of pairable value pairs that agree
    coincidence: list[list[float]] = field(default_factory=list)
    per_label: dict[str, dict[str, float | None]] = field(default_factory=dict)

    def metric(self, name: str) -> float | None:
        return getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finite(x: float) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def cohen_kappa(a: Sequence[str], b: Sequence[str], labels: Sequence[str]) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    if not a:
        return None
    if len(set(a) | set(b)) < 2:
        return None  # p_e = 1: undefined
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _finite(cohen_kappa_score(list(a), list(b), labels=list(labels)))


def krippendorff_alpha(counts: np.ndarray) -> float | None:
    """Nominal alpha from an (items x labels) count matrix (items with >= 2 values only)."""
    import krippendorff

    if counts.shape[0] == 0 or (counts.sum(axis=0) > 0).sum() < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            value = krippendorff.alpha(value_counts=counts, level_of_measurement="nominal")
        except ValueError:
            return None
    return _finite(value)


def fleiss_kappa(counts: np.ndarray) -> float | None:
    """Fleiss' kappa from an (items x labels) count matrix, items with n_i >= 2 ratings.

    P_i = sum_j n_ij (n_ij - 1) / (n_i (n_i - 1))  agreement among item i's rating pairs
    P_bar = mean_i P_i,  p_j = sum_i n_ij / sum_i n_i,  P_e = sum_j p_j^2
    kappa = (P_bar - P_e) / (1 - P_e)
    With the same n for every item this is exactly Fleiss (1971); with varying n it is the usual
    generalisation (each item's agreement weighted equally).
    """
    if counts.shape[0] == 0:
        return None
    n_i = counts.sum(axis=1).astype(float)
    p_i = (counts * (counts - 1)).sum(axis=1) / (n_i * (n_i - 1))
    p_bar = float(p_i.mean())
    p_j = counts.sum(axis=0) / n_i.sum()
    p_e = float((p_j ** 2).sum())
    if np.isclose(p_e, 1.0):
        return None
    return _finite((p_bar - p_e) / (1 - p_e))


def coincidence_matrix(counts: np.ndarray) -> np.ndarray:
    """Krippendorff's coincidences: o_ck = sum_u n_uc (n_uk - [c == k]) / (m_u - 1)."""
    k = counts.shape[1]
    o = np.zeros((k, k))
    for row in counts:
        m = row.sum()
        if m < 2:
            continue
        o += (np.outer(row, row) - np.diag(row)) / (m - 1)
    return o


def compute_agreement(annotations: Iterable[Mapping[str, Any]], labels: Sequence[str]) -> AgreementReport:
    """Agreement among the annotations of one batch (rows with id, annotator_id, label)."""
    labels = list(labels)
    index = {lab: i for i, lab in enumerate(labels)}
    by_item: dict[str, dict[str, str]] = {}
    per_annotator: dict[str, int] = {}
    n_ann = 0
    for a in annotations:
        if a["label"] not in index:
            raise ValueError(f"label {a['label']!r} is not one of {labels}")
        by_item.setdefault(a["id"], {})[a["annotator_id"]] = a["label"]
        per_annotator[a["annotator_id"]] = per_annotator.get(a["annotator_id"], 0) + 1
        n_ann += 1
    annotators = sorted(per_annotator)

    pairs: list[PairAgreement] = []
    for x, y in combinations(annotators, 2):
        shared = [(v[x], v[y]) for v in by_item.values() if x in v and y in v]
        if not shared:
            continue
        ya, yb = [s[0] for s in shared], [s[1] for s in shared]
        conf = np.zeros((len(labels), len(labels)), dtype=int)
        for la, lb in shared:
            conf[index[la], index[lb]] += 1
        pairs.append(PairAgreement(
            x, y, len(shared), cohen_kappa(ya, yb, labels),
            float(np.trace(conf) / len(shared)), conf.tolist(),
        ))
    defined = [p for p in pairs if p.cohen_kappa is not None]
    mean_k = (sum(p.cohen_kappa * p.n_shared for p in defined) / sum(p.n_shared for p in defined)
              if defined else None)
    min_k = min(p.cohen_kappa for p in defined) if defined else None

    multi = [v for v in by_item.values() if len(v) >= 2]
    counts = np.zeros((len(multi), len(labels)), dtype=np.int64)
    for i, v in enumerate(multi):
        for lab in v.values():
            counts[i, index[lab]] += 1
    o = coincidence_matrix(counts)
    total = o.sum()
    n_c = o.sum(axis=1)
    per_label = {
        lab: {"n_pairable_values": float(n_c[i]),
              "specific_agreement": float(o[i, i] / n_c[i]) if n_c[i] > 0 else None}
        for i, lab in enumerate(labels)
    }
    return AgreementReport(
        labels=labels, n_items=len(by_item), n_annotations=n_ann, n_overlap_items=len(multi),
        annotations_per_annotator=dict(sorted(per_annotator.items())), pairs=pairs,
        mean_cohen_kappa=_finite(mean_k) if mean_k is not None else None, min_cohen_kappa=min_k,
        krippendorff_alpha=krippendorff_alpha(counts), fleiss_kappa=fleiss_kappa(counts),
        observed_agreement=float(np.trace(o) / total) if total > 0 else None,
        coincidence=o.round(6).tolist(), per_label=per_label,
    )
