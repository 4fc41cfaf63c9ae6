"""Inter-annotator agreement for one batch, with bootstrap confidence intervals.

Coefficients (all over the batch's overlap items, i.e. items with >= 2 annotations; an item may
have 2 or 3 annotators, or any number):

- Cohen's kappa for every pair of annotators on the items both labelled
  (``sklearn.metrics.cohen_kappa_score``), with the pair's confusion matrix; reported as the mean
  over pairs (weighted by shared items) and the minimum;
- Krippendorff's alpha, nominal, across all annotators (the ``krippendorff`` package): it takes
  any number of annotators per item and missing values, which overlap designs produce;
- Fleiss' kappa across all (computed here: statsmodels is not a dependency), in the form for a
  varying number of ratings per item, which is Fleiss' own formula when every item has the same;
- Gwet's AC1 and Brennan–Prediger's coefficient (= PABAK, the prevalence- and bias-adjusted kappa,
  for two labels), in their multi-rater forms (Gwet 2008; Brennan & Prediger 1981);
- per-label specific agreement from the coincidence matrix (how often a value of one label, paired
  with another annotator's value on the same item, is matched by the same label), and in particular
  the *positive specific agreement of the minority label* (2a / (2a + b + c) for two annotators).

Why the prevalence-robust ones: kappa, alpha and Fleiss' kappa subtract the chance agreement
implied by the observed label shares, sum_k p_k^2. On a skewed batch (2% positives) that is close to
1, so two annotators who agree on 90% of the items can get a kappa near 0 (the "kappa paradox",
Feinstein & Cicchetti 1990): a gate on kappa fails good annotators on skewed batches. AC1's chance
term, sum_k p_k (1 - p_k) / (q - 1), is small exactly then, and Brennan–Prediger's is 1/q whatever
the shares. Minority specific agreement says whether the annotators agree on the rare label at all,
which the other coefficients can hide; it is reported, not gated on (it is undefined on a batch
whose overlap items carry no minority label).

Not ``irrcac`` (0.4.4, the Python port of Gwet's irrCAC): it matches the hand-computed tables (the
paradox table in tests/labeling/test_agreement.py: AC1 0.8895, BP 0.8, kappa -0.053, alpha -0.047)
and, on 200 random tables of 2-3 annotators per item and 2-3 labels, the AC1, Brennan–Prediger and
alpha computed here to its 5 printed digits (its Fleiss' kappa averages the label shares per item
rather than pooling them, so it differs when items have different numbers of ratings). But it pins
``scipy==1.12.0`` and ``pandas<3`` and needs ``coverage`` at run time (installing it would
downgrade this project's numpy 2 to 1.26, scipy 1.17 to 1.12 and pandas 3 to 2), it fails on the
missing ratings overlap designs produce when labels are strings (``None`` cannot be sorted with
``str``), it divides by zero on a batch with a single label, and its intervals are Gwet's
analytic variances, not a resampling of items. The two formulas are a few lines of numpy, checked
in the tests against hand-computed tables.

Intervals: a percentile bootstrap that resamples the overlap items (with replacement, every
annotation of a drawn item together) ``n_boot`` times from the ``rng`` passed in, and recomputes
every coefficient on each resample. The resamples are evaluated with vectorised closed forms
(thousands per batch: calling sklearn/krippendorff per resample would take tens of seconds a batch); the
tests pin the closed forms to sklearn's kappa and the krippendorff package on the same data.

A statistic is ``None`` when it is undefined: no shared items, or a single label used throughout
(expected agreement 1, so kappa/alpha are 0/0). ``observed_agreement`` is still reported then.
AC1 and Brennan–Prediger are defined whenever there is an overlap item (their chance term is < 1).
In a resample where kappa/alpha/Fleiss are undefined every drawn annotation has the same label,
i.e. perfect agreement, and counts as 1 (the gate, too, passes a batch like that).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any, Iterable, Literal, Mapping, Sequence

import numpy as np

# every coefficient of a report, in display order (``AgreementReport.metric`` / ``.bound``)
COEFFICIENTS = ("gwet_ac1", "brennan_prediger", "mean_cohen_kappa", "min_cohen_kappa", "krippendorff_alpha",
                "fleiss_kappa", "minority_specific_agreement")
DEFAULT_BOOTSTRAP = 2000
Bound = Literal["estimate", "lower", "upper"]


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
    gwet_ac1: float | None = None
    brennan_prediger: float | None = None  # = PABAK for two labels
    minority_label: str | None = None  # the label with the fewest values on the overlap items
    minority_specific_agreement: float | None = None
    # {coefficient: {"estimate", "low", "high"}} for every name in COEFFICIENTS; low/high are None
    # without a bootstrap or where the estimate is undefined
    intervals: dict[str, dict[str, float | None]] = field(default_factory=dict)
    # {"n_samples", "confidence", "unit", "method"}; None: computed without intervals
    bootstrap: dict[str, Any] | None = None

    def metric(self, name: str) -> float | None:
        return getattr(self, name)

    def bound(self, name: str, which: Bound = "estimate") -> float | None:
        """The point estimate, or the lower/upper end of its confidence interval.

        Raises ``ValueError`` for a bound when the report was computed without a bootstrap: a gate
        on the lower bound must not silently fall back to the estimate.
        """
        if which == "estimate":
            return self.metric(name)
        if self.bootstrap is None:
            raise ValueError(f"no confidence interval for {name}: the agreement was computed without a "
                             "bootstrap (pass rng= to compute_agreement)")
        return self.intervals[name]["low" if which == "lower" else "high"]

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
    return _point(counts, "fleiss_kappa")


def gwet_ac1(counts: np.ndarray) -> float | None:
    """Gwet's AC1 from an (items x labels) count matrix, items with r_i >= 2 ratings (Gwet 2008).

    p_a = mean_i sum_k r_ik (r_ik - 1) / (r_i (r_i - 1))   (as Fleiss' P_bar)
    pi_k = mean_i r_ik / r_i,  p_e = sum_k pi_k (1 - pi_k) / (q - 1)
    AC1 = (p_a - p_e) / (1 - p_e)
    q is the number of task labels, used or not. Two annotators: p_a is the share of agreeing items.
    Gwet averages pi_k over every rated item; the overlap items only are used here, like the
    other coefficients, so all of them describe the same items.
    """
    return _point(counts, "gwet_ac1")


def brennan_prediger(counts: np.ndarray) -> float | None:
    """Brennan & Prediger (1981): (p_a - 1/q) / (1 - 1/q), chance being a uniform pick of q labels.

    With two annotators and two labels this is PABAK, 2 p_o - 1 (Byrt, Bishop & Carlin 1993).
    """
    return _point(counts, "brennan_prediger")


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


# -------------------------------------------------------------------------------------------------
# Every coefficient is a function of sums over items of per-item quantities, so a resample of the
# items is a vector of weights w (how often each item was drawn) and its coefficients follow from
# w @ per-item quantities: all resamples at once are one matrix product, (B x items) @ (items x f).
# The point estimate is w = 1 for every item.


def _stats(weights: np.ndarray, counts: np.ndarray, pair_codes: np.ndarray | None = None,
           minority: int | None = None) -> dict[str, np.ndarray]:
    """Coefficients for each row of ``weights`` (B x items); NaN where undefined.

    ``counts``: (items x labels), items with >= 2 ratings. ``pair_codes``: (pairs x items), the
    pair's label_a * q + label_b on the item, -1 where the pair did not both label it.
    """
    w = np.asarray(weights, dtype=float)
    c = counts.astype(float)
    q = c.shape[1]
    r = c.sum(axis=1)
    n = w.sum(axis=1)
    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        p_a = w @ ((c * (c - 1)).sum(axis=1) / (r * (r - 1))) / n  # Fleiss' P_bar = Gwet's p_a
        pi = w @ (c / r[:, None]) / n[:, None]
        p_e = (pi * (1 - pi)).sum(axis=1) / (q - 1)
        out["gwet_ac1"] = (p_a - p_e) / (1 - p_e)
        out["brennan_prediger"] = (p_a - 1 / q) / (1 - 1 / q)
        n_c = w @ c  # values per label (also Krippendorff's n_c)
        total = n_c.sum(axis=1)
        p_e_f = ((n_c / total[:, None]) ** 2).sum(axis=1)
        out["fleiss_kappa"] = np.where(np.isclose(p_e_f, 1.0), np.nan, (p_a - p_e_f) / (1 - p_e_f))
        o_diag = w @ (c * (c - 1) / (r - 1)[:, None])  # coincidences o_cc
        expected = (n_c * (n_c - 1)).sum(axis=1)
        den = total * (total - 1) - expected
        # nominal alpha = ((n-1) sum_c o_cc - sum_c n_c (n_c - 1)) / (n (n-1) - sum_c n_c (n_c - 1))
        out["krippendorff_alpha"] = np.where(np.isclose(den, 0.0), np.nan,
                                             ((total - 1) * o_diag.sum(axis=1) - expected) / den)
        out["minority_specific_agreement"] = (o_diag[:, minority] / n_c[:, minority] if minority is not None
                                              else np.full(len(w), np.nan))
        if pair_codes is not None and len(pair_codes):
            onehot = (pair_codes[:, :, None] == np.arange(q * q)).astype(float)  # (P, items, q*q)
            flat = onehot.transpose(1, 0, 2).reshape(len(c), -1)  # (items, P * q * q)
            conf = (w @ flat).reshape(len(w), len(pair_codes), q, q)
            n_p = conf.sum(axis=(2, 3))
            p_o = np.trace(conf, axis1=2, axis2=3) / n_p
            p_e_k = (conf.sum(axis=3) * conf.sum(axis=2)).sum(axis=2) / n_p ** 2
            kappa = np.where((n_p > 0) & ~np.isclose(p_e_k, 1.0), (p_o - p_e_k) / (1 - p_e_k), np.nan)
            defined = np.isfinite(kappa)
            wk = np.where(defined, n_p, 0.0)
            some = defined.any(axis=1)
            out["mean_cohen_kappa"] = np.where(
                some, (np.where(defined, kappa, 0.0) * wk).sum(axis=1) / wk.sum(axis=1), np.nan)
            out["min_cohen_kappa"] = np.where(some, np.where(defined, kappa, np.inf).min(axis=1), np.nan)
    return out


def _point(counts: np.ndarray, name: str) -> float | None:
    if counts.shape[0] == 0:
        return None
    return _finite(float(_stats(np.ones((1, counts.shape[0])), counts)[name][0]))


# undefined in a resample means every drawn annotation has the same label: perfect agreement
_UNDEFINED_IS_PERFECT = ("mean_cohen_kappa", "min_cohen_kappa", "krippendorff_alpha", "fleiss_kappa")


def _bootstrap(counts: np.ndarray, pair_codes: np.ndarray, minority: int | None, *, n_boot: int,
               confidence: float, rng: np.random.Generator) -> dict[str, tuple[float | None, float | None]]:
    """Percentile intervals of every coefficient over ``n_boot`` resamples of the overlap items.

    A resample draws as many items as there are, with replacement; its weights count the draws.
    The minority label absent from a resample says nothing about agreement on it: left out.
    """
    n = counts.shape[0]
    drawn = rng.integers(0, n, size=(n_boot, n)) + n * np.arange(n_boot)[:, None]
    weights = np.bincount(drawn.ravel(), minlength=n_boot * n).reshape(n_boot, n)
    reps = _stats(weights, counts, pair_codes, minority)
    tail = (1 - confidence) / 2
    out: dict[str, tuple[float | None, float | None]] = {}
    for name in COEFFICIENTS:
        values = reps.get(name, np.full(n_boot, np.nan))
        if name in _UNDEFINED_IS_PERFECT:
            values = np.nan_to_num(values, nan=1.0)
        values = values[np.isfinite(values)]
        if values.size == 0:
            out[name] = (None, None)
            continue
        lo, hi = np.quantile(values, [tail, 1 - tail])
        out[name] = (float(lo), float(hi))
    return out


def pair_codes(items: Sequence[Mapping[str, str]], pairs: Sequence[PairAgreement],
               index: Mapping[str, int]) -> np.ndarray:
    """(pairs x items): label_a * q + label_b where both annotators of the pair labelled the item, else -1."""
    q = len(index)
    codes = np.full((len(pairs), len(items)), -1, dtype=np.int64)
    for p, pair in enumerate(pairs):
        for i, v in enumerate(items):
            if pair.annotator_a in v and pair.annotator_b in v:
                codes[p, i] = index[v[pair.annotator_a]] * q + index[v[pair.annotator_b]]
    return codes


def compute_agreement(annotations: Iterable[Mapping[str, Any]], labels: Sequence[str], *,
                      rng: np.random.Generator | None = None, n_boot: int = DEFAULT_BOOTSTRAP,
                      confidence: float = 0.95) -> AgreementReport:
    """Agreement among the annotations of one batch (rows with id, annotator_id, label).

    With ``rng``, every coefficient gets a ``confidence`` percentile-bootstrap interval over
    ``n_boot`` resamples of the overlap items, drawn from ``rng`` only (the same generator state
    gives the same intervals, so re-resolving a batch reproduces its gate decision). Without it,
    no intervals (``bootstrap`` is None).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    labels = list(labels)
    q = len(labels)
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
        conf = np.zeros((q, q), dtype=int)
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
    counts = np.zeros((len(multi), q), dtype=np.int64)
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
    # the minority label: fewest values on the overlap items (ties: the first in task order); a
    # label nobody used counts (its specific agreement is then undefined: nobody agreed on it)
    minority = int(np.argmin(n_c)) if len(multi) else None
    estimates: dict[str, float | None] = {
        "gwet_ac1": gwet_ac1(counts), "brennan_prediger": brennan_prediger(counts),
        "mean_cohen_kappa": _finite(mean_k) if mean_k is not None else None, "min_cohen_kappa": min_k,
        "krippendorff_alpha": krippendorff_alpha(counts), "fleiss_kappa": fleiss_kappa(counts),
        "minority_specific_agreement": per_label[labels[minority]]["specific_agreement"]
        if minority is not None else None,
    }
    bounds: dict[str, tuple[float | None, float | None]] = {}
    boot_info = None
    if rng is not None:
        if n_boot < 1:
            raise ValueError(f"n_boot must be >= 1, got {n_boot}")
        boot_info = {"n_samples": int(n_boot), "confidence": float(confidence), "unit": "overlap item",
                     "method": "percentile"}
        if len(multi):
            bounds = _bootstrap(counts, pair_codes(multi, pairs, index), minority, n_boot=n_boot,
                                confidence=confidence, rng=rng)
    intervals = {}
    for name in COEFFICIENTS:
        lo, hi = bounds.get(name, (None, None))
        est = estimates[name]
        intervals[name] = {"estimate": est, "low": lo if est is not None else None,
                           "high": hi if est is not None else None}
    return AgreementReport(
        labels=labels, n_items=len(by_item), n_annotations=n_ann, n_overlap_items=len(multi),
        annotations_per_annotator=dict(sorted(per_annotator.items())), pairs=pairs,
        mean_cohen_kappa=estimates["mean_cohen_kappa"], min_cohen_kappa=min_k,
        krippendorff_alpha=estimates["krippendorff_alpha"], fleiss_kappa=estimates["fleiss_kappa"],
        observed_agreement=float(np.trace(o) / total) if total > 0 else None,
        coincidence=o.round(6).tolist(), per_label=per_label,
        gwet_ac1=estimates["gwet_ac1"], brennan_prediger=estimates["brennan_prediger"],
        minority_label=labels[minority] if minority is not None else None,
        minority_specific_agreement=estimates["minority_specific_agreement"],
        intervals=intervals, bootstrap=boot_info,
    )


def paired_agreement(reference: Sequence[str], other: Sequence[str], labels: Sequence[str],
                     metric: str) -> float | None:
    """``metric`` between two label sequences on the same items (e.g. experts vs the model).

    The stopping rule compares the model's agreement with the experts to the experts' agreement
    with each other; both must be the same coefficient, or the comparison means nothing (AC1 is
    above kappa on skewed data, so a kappa model against an AC1 ceiling would never converge).
    """
    if len(reference) != len(other):
        raise ValueError(f"{len(reference)} reference labels but {len(other)} others")
    rows = [row for i, (a, b) in enumerate(zip(reference, other))
            for row in ({"id": i, "annotator_id": "reference", "label": a},
                        {"id": i, "annotator_id": "other", "label": b})]
    return compute_agreement(rows, labels).metric(metric)
