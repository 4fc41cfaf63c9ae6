"""From annotations to training labels: the agreement gate, majority, adjudication, propagation.

Per item (the first rule that applies):
1. an adjudicated label                        -> source "adjudicated"
2. one annotation                              -> "single"
3. all annotations agree                       -> "unanimous"
4. disagreement, batch gate not passed         -> adjudication queue (not used for training)
5. disagreement, one label has most votes      -> "majority"
6. disagreement, tie                           -> adjudication queue
Items nobody annotated are left out (counted as unlabelled). Resolved labels then propagate to
the duplicates selection dropped (``dedup_groups.parquet``), marked ``propagated`` with
``propagated_from`` = the representative.

Gate: ``config.gate_metric`` (default Gwet's AC1) at ``config.gate_bound`` (default the lower end
of its bootstrap confidence interval) against ``config.gate_threshold``. "passed", "flagged"
(below), or "unmeasured" (fewer than ``min_overlap_items`` items with two or more annotations,
capped at the batch size). The lower bound, not the estimate, because a gate should pass a batch
on evidence: with few overlap items the interval is wide and a batch of careless answers can
reach a high point estimate by luck. AC1, not kappa, because kappa's chance term follows the
label shares: on a batch with 2% positives, good annotators who agree on 90% of the items can get
a kappa near 0 and be flagged (issue 15: 14 of 20 loop batches at 5% flips). A statistic that is
undefined because every overlap annotation used the same single label counts as perfect
agreement. A batch that did not pass keeps its agreeing items and sends every disagreement to
adjudication.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Sequence

import pyarrow as pa

from al_ray import storage
from al_ray.errors import InputError
from al_ray.labeling.agreement import AgreementReport
from al_ray.labeling.batch import Batch
from al_ray.labeling.config import LabelingConfig
from al_ray.labeling.formats.canonical import csv_objects, dumps_jsonl, jsonl_objects
from al_ray.labeling.formats.common import as_id, as_round, as_text
from al_ray.labeling.ingest import AnnotationFileError, _short
from al_ray.layout import ADJUDICATIONS_FILE, AGREEMENT_FILE, LABELS_FILE, QUEUE_FILE  # noqa: F401 (re-exported)
from al_ray.schemas import ADJUDICATIONS_SCHEMA, LABELS_SCHEMA
from al_ray.security import scrub
from al_ray.task import TaskConfig

GateStatus = Literal["passed", "flagged", "unmeasured"]


@dataclass(frozen=True)
class GateResult:
    status: GateStatus
    metric: str
    value: float | None
    threshold: float
    n_overlap_items: int
    required_overlap_items: int
    reason: str
    bound: str = "estimate"  # which end of the statistic ``value`` is: "estimate" or "lower"
    estimate: float | None = None  # the statistic's point estimate (= value when bound is "estimate")

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "passed": self.passed}


def gate(report: AgreementReport, config: LabelingConfig, n_batch_items: int) -> GateResult:
    """The batch's gate decision from its agreement report (which must carry bootstrap intervals
    when ``config.gate_bound`` is "lower")."""
    required = max(1, min(config.min_overlap_items, n_batch_items))
    estimate = report.metric(config.gate_metric)
    value = report.bound(config.gate_metric, config.gate_bound) if report.n_overlap_items else estimate
    common = dict(metric=config.gate_metric, value=value, threshold=config.gate_threshold,
                  n_overlap_items=report.n_overlap_items, required_overlap_items=required,
                  bound=config.gate_bound, estimate=estimate)
    if config.gate_bound == "lower":
        what = f"{config.gate_metric} lower {config.gate_confidence:.0%} bound"
        shown = f"{what} {value:.3f} (estimate {estimate:.3f})" if value is not None else what
    else:
        shown = f"{config.gate_metric} {value:.3f}" if value is not None else config.gate_metric
    if report.n_overlap_items < required:
        return GateResult("unmeasured", reason=f"{report.n_overlap_items} item(s) with >= 2 annotations, "
                          f"{required} needed to measure agreement", **common)
    if value is None:
        if report.observed_agreement == 1.0:
            return GateResult("passed", reason="every overlap annotation agrees on a single label "
                              f"({config.gate_metric} undefined)", **common)
        return GateResult("unmeasured", reason=f"{config.gate_metric} is undefined for these annotations",
                          **common)
    if value >= config.gate_threshold:
        return GateResult("passed", reason=f"{shown} >= {config.gate_threshold}", **common)
    return GateResult("flagged", reason=f"{shown} < {config.gate_threshold}: "
                      "disagreements go to adjudication", **common)


@dataclass
class Resolution:
    labels: list[dict[str, Any]] = field(default_factory=list)
    queue: list[dict[str, Any]] = field(default_factory=list)
    n_unlabelled: int = 0
    n_propagated: int = 0
    n_propagation_skipped: int = 0

    @property
    def by_source(self) -> dict[str, int]:
        return dict(sorted(Counter(r["source"] for r in self.labels).items()))


def resolve(batch: Batch, annotations: Sequence[Mapping[str, Any]],
            adjudications: Mapping[str, Mapping[str, Any]], gate_result: GateResult,
            config: LabelingConfig, labels: Sequence[str]) -> Resolution:
    res = Resolution()
    by_item: dict[str, list[Mapping[str, Any]]] = {}
    for a in annotations:
        by_item.setdefault(a["id"], []).append(a)
    resolved: dict[str, dict[str, Any]] = {}
    rank = {lab: i for i, lab in enumerate(labels)}
    for item in batch.items:
        iid = item["id"]
        anns = sorted(by_item.get(iid, []), key=lambda a: a["annotator_id"])
        votes = Counter(a["label"] for a in anns)
        base = {"id": iid, "text": item.get("text"), "round": item.get("round"), "n_annotations": len(anns),
                "propagated_from": None}
        if iid in adjudications:
            resolved[iid] = {**base, "label": adjudications[iid]["label"], "source": "adjudicated"}
            continue
        if not anns:
            res.n_unlabelled += 1
            continue
        if len(anns) == 1:
            resolved[iid] = {**base, "label": anns[0]["label"], "source": "single"}
            continue
        if len(votes) == 1:
            resolved[iid] = {**base, "label": anns[0]["label"], "source": "unanimous"}
            continue
        top = votes.most_common()
        tie = len(top) > 1 and top[0][1] == top[1][1]
        if gate_result.passed and not tie:
            resolved[iid] = {**base, "label": top[0][0], "source": "majority"}
            continue
        reason = "tie" if gate_result.passed else f"disagreement in a {gate_result.status} batch"
        res.queue.append({
            "id": iid, "round": item.get("round"), "reason": reason,
            "votes": {lab: votes[lab] for lab in sorted(votes, key=lambda x: rank.get(x, len(rank)))},
            "annotations": [{"annotator_id": a["annotator_id"], "label": a["label"], "note": a.get("note")}
                            for a in anns],
            "predicted_label": item.get("predicted_label"), "text": item.get("text"),
            "label": None, "adjudicator": None, "note": None,
        })
    res.labels = [resolved[it["id"]] for it in batch.items if it["id"] in resolved]

    # propagation to the duplicates selection dropped; the most similar representative wins
    kinds = set(config.propagate_kinds)
    def similarity(d: Mapping[str, Any]) -> float:
        return d["similarity"] if d.get("similarity") is not None else 1.0

    dedup = sorted(batch.dedup, key=lambda d: -similarity(d))
    done: set[str] = set()
    for d in dedup:
        did, rep = d["id"], d["representative_id"]
        sim = d.get("similarity")
        if did in done:
            continue
        wrong_kind = d.get("kind") is not None and d["kind"] not in kinds
        too_far = sim is not None and sim < config.propagate_min_similarity
        if did in batch.by_id or rep not in batch.by_id or wrong_kind or too_far:
            res.n_propagation_skipped += 1
            continue
        src = resolved.get(rep)
        if src is None:
            continue  # representative pending or unlabelled: so is its duplicate
        text = d.get("text")
        if text is None and d.get("kind") == "exact":
            text = src["text"]
        res.labels.append({"id": did, "text": text, "label": src["label"], "round": src["round"],
                           "source": "propagated", "n_annotations": src["n_annotations"],
                           "propagated_from": rep})
        done.add(did)
        res.n_propagated += 1
    return res


def labels_table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist([{k: r.get(k) for k in LABELS_SCHEMA.names} for r in rows],
                                schema=LABELS_SCHEMA)


def queue_bytes(queue: Sequence[Mapping[str, Any]]) -> bytes:
    return dumps_jsonl(queue)


# ---------------------------------------------------------------------------------------------
# adjudications: the queue file handed back with "label" filled in (or any JSONL/CSV with id, label)


def read_adjudications(labels_dir: str, storage_options: Mapping[str, Any] | None = None
                       ) -> dict[str, dict[str, Any]]:
    url = storage.join(labels_dir, ADJUDICATIONS_FILE)
    if not storage.exists(url, storage_options):
        return {}
    return {r["id"]: r for r in storage.read_parquet(url, storage_options).to_pylist()}


def parse_adjudications(url: str, batch: Batch, task: TaskConfig, round: int | None,
                        storage_options: Mapping[str, Any] | None = None) -> tuple[list[dict[str, Any]], int]:
    """(rows, n_not_yet_decided). Rows without a label are skipped; problems raise with file:line."""
    shown = scrub(url)
    try:
        text = storage.read_bytes(url, storage_options).decode("utf-8")
    except FileNotFoundError as exc:
        raise InputError("adjudication file not found", location=shown) from exc
    except UnicodeDecodeError as exc:
        raise InputError("not valid UTF-8", location=shown) from exc
    if url.lower().endswith((".csv", ".tsv")):
        objects, problems = csv_objects(text, shown, required=("id", "label"))
    else:
        objects, problems = jsonl_objects(text, shown)
    rows: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    undecided = 0
    for loc, obj in objects:
        iid = as_id(obj.get("id"))
        label = obj.get("label")
        label = label.strip() if isinstance(label, str) else label
        rnd, ok = as_round(obj.get("round"))
        if iid is None:
            problems.append((loc, "missing item id ('id')"))
        elif iid not in batch.by_id:
            problems.append((loc, f"unknown item id {_short(iid)}: not in this batch"))
        elif not label:
            undecided += 1
        elif label not in task.labels:
            problems.append((loc, f"unknown label {_short(str(label))}; expected one of {task.labels}"))
        elif not ok or (rnd is not None and round is not None and rnd != round):
            problems.append((loc, f"adjudication is for round {obj.get('round')!r}'s batch, but this is "
                             f"round {round}'s batch"))
        elif iid in seen:
            problems.append((loc, f"duplicate adjudication of item {_short(iid)} (first at {seen[iid]})"))
        else:
            seen[iid] = loc
            who = as_id(obj.get("adjudicator")) or as_id(obj.get("annotator_id"))
            rows.append({"id": iid, "label": label, "adjudicator": who, "note": as_text(obj.get("note")),
                         "round": round, "source_file": shown})
    if problems:
        raise AnnotationFileError(problems)
    return rows, undecided


def merge_adjudications(rows: Sequence[Mapping[str, Any]], labels_dir: str,
                        storage_options: Mapping[str, Any] | None = None) -> tuple[int, int]:
    """Merge by item id, the newest decision winning; returns (n_applied, n_unchanged)."""
    existing = read_adjudications(labels_dir, storage_options)
    applied = unchanged = 0
    for r in rows:
        old = existing.get(r["id"])
        if old is not None and old["label"] == r["label"] and old.get("note") == r.get("note"):
            unchanged += 1
            continue
        existing[r["id"]] = dict(r)
        applied += 1
    if applied:
        table = pa.Table.from_pylist(
            [{k: r.get(k) for k in ADJUDICATIONS_SCHEMA.names} for r in existing.values()],
            schema=ADJUDICATIONS_SCHEMA)
        storage.write_parquet_atomic(table, storage.join(labels_dir, ADJUDICATIONS_FILE), storage_options)
    return applied, unchanged
