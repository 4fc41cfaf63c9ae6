"""The simulated labels' quality, so benchmark results can say what label quality they were obtained with.

Why a module of its own: the report is a measurement over annotation rows and a reference
(each annotator's Cohen's kappa and accuracy against it, the pooled kappa, the annotators'
pairwise agreement), independent of which simulator produced the rows; the simulators and the
driver's entry points both write it (``simulation.json``).
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from al_ray.labeling.agreement import cohen_kappa, compute_agreement


class Simulator(Protocol):
    """What ``estimate_label_quality`` needs of a simulator (``annotators.SimulatedAnnotators``)."""

    labels: list[str]

    def annotate(self, assignments: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]: ...

    def reference(self, item_id: str) -> str: ...

    def describe(self) -> dict[str, Any]: ...


def quality_report(annotations: Sequence[Mapping[str, Any]], reference: Mapping[str, str],
                   labels: Sequence[str]) -> dict[str, Any]:
    """Each annotator's kappa vs the reference, the pooled kappa, and inter-annotator agreement."""
    per: dict[str, dict[str, Any]] = {}
    for who in sorted({a["annotator_id"] for a in annotations}):
        mine = [a for a in annotations if a["annotator_id"] == who]
        y = [a["label"] for a in mine]
        ref = [reference[a["id"]] for a in mine]
        per[who] = {"n": len(mine), "kappa_vs_reference": cohen_kappa(y, ref, labels),
                    "accuracy_vs_reference": _accuracy(y, ref)}
    y_all = [a["label"] for a in annotations]
    ref_all = [reference[a["id"]] for a in annotations]
    inter = compute_agreement(annotations, labels)
    return {
        "n_annotations": len(annotations),
        "kappa_vs_reference": cohen_kappa(y_all, ref_all, labels),
        "accuracy_vs_reference": _accuracy(y_all, ref_all),
        "per_annotator": per,
        "inter_annotator": {"n_overlap_items": inter.n_overlap_items,
                            "mean_cohen_kappa": inter.mean_cohen_kappa,
                            "krippendorff_alpha": inter.krippendorff_alpha,
                            "pairs": [{"a": p.annotator_a, "b": p.annotator_b, "n_shared": p.n_shared,
                                       "cohen_kappa": p.cohen_kappa} for p in inter.pairs]},
        "reference_positive_share": {lab: float(np.mean([r == lab for r in ref_all])) if ref_all else None
                                     for lab in labels},
    }


def _accuracy(y: Sequence[str], ref: Sequence[str]) -> float | None:
    return float(np.mean([p == r for p, r in zip(y, ref)])) if y else None


def estimate_label_quality(sim: Simulator, ids: Sequence[str],
                           annotators: Sequence[str]) -> dict[str, Any]:
    """Label quality over ``ids`` (e.g. a random sample of the whole dataset, not just a hard batch):
    every annotator labels every item once."""
    rows = sim.annotate([{"id": i, "annotator_id": a} for i in ids for a in annotators])
    out = quality_report(rows, {i: sim.reference(i) for i in ids}, sim.labels)
    out["simulator"] = sim.describe()
    return out


def dumps_report(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=True, default=str)
