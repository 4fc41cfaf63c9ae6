"""The labelling stage's entry points (what the driver and the CLI call).

Files, under the batch directory selection wrote (or ``out_dir``)::

    batch.jsonl               canonical items, one JSON object per line (kept if selection wrote it)
    assignments.jsonl         {"id", "annotator_id", "round", "overlap", "label": null, "note": null}
                              per (item, annotator): also a fill-in template for canonical import
    labelstudio_tasks.json    Label Studio import: tasks with data + predictions (model label, score)
    labelstudio_config.xml    matching labelling config (<Choices name="label"> per task label)
    argilla_records.json      Argilla v2 records: fields, suggestions (label, score), metadata, id
    argilla_settings.json     Argilla dataset settings (fields, label_selection question, metadata)
    export.json (+ .done)     summary of the export; its marker makes a rerun reuse the export

under the labels directory::

    annotations.parquet       every imported annotation (schemas.ANNOTATIONS_SCHEMA)
    adjudications.parquet     adjudicated labels (id, label, adjudicator, note, round, source_file)
    agreement.json            agreement report, gate decision, resolution counts
    adjudication.jsonl        items waiting for an adjudicator (fill "label", import with apply_adjudication)
    labels.parquet (+ .done)  resolved labels (schemas.LABELS_SCHEMA); the marker is written only
                              when nothing is pending adjudication and every batch item is labelled
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from al_ray import storage
from al_ray.errors import InputError
from al_ray.labeling import dispatch
from al_ray.labeling.agreement import AgreementReport, compute_agreement
from al_ray.labeling.batch import Batch, read_batch
from al_ray.labeling.config import LabelingConfig
from al_ray.labeling.dispatch import ExportResult
from al_ray.labeling.ingest import ImportResult, ingest, read_annotations
from al_ray.labeling.resolve import (
    GateResult, gate, labels_table, merge_adjudications, parse_adjudications, queue_bytes, read_adjudications,
    resolve,
)
from al_ray.layout import AGREEMENT_FILE, LABELS_FILE, QUEUE_FILE
from al_ray.security import register_storage_options
from al_ray.task import TaskConfig

__all__ = [
    "ExportResult", "ImportResult", "ResolveResult", "AdjudicationResult", "export_batch",
    "import_annotations", "resolve_labels", "apply_adjudication", "agreement_report",
]


def export_batch(batch_dir: str, config: LabelingConfig, task: TaskConfig, *, rng: np.random.Generator,
                 out_dir: str | None = None, force: bool = False,
                 storage_options: Mapping[str, Any] | None = None) -> ExportResult:
    """Assign the batch's items to annotators and write the files each labelling tool imports.

    A completed export (``export.json.done``) is reused unless ``force``: assignments already handed
    to annotators must not be reshuffled by a rerun.
    """
    register_storage_options(storage_options)
    out_dir = out_dir or batch_dir
    summary_url = storage.join(out_dir, dispatch.EXPORT_SUMMARY)
    if not force and storage.is_done(summary_url, storage_options):
        s = storage.read_json(summary_url, storage_options)
        dispatch.check_reuse(s, config, summary_url)
        return ExportResult(out_dir=out_dir, round=s["round"], n_items=s["n_items"],
                            n_overlap_items=s["n_overlap_items"], n_assignments=s["n_assignments"],
                            per_annotator=s["per_annotator"], files=s["files"], reused=True)
    batch = read_batch(batch_dir, storage_options, with_dedup=False)
    for it in batch.items:
        if it.get("predicted_label") is not None and it["predicted_label"] not in task.labels:
            raise InputError(f"item {it['id']!r}: predicted_label {it['predicted_label']!r} is not one "
                             f"of the task's labels {task.labels}", location=batch.url)
    assignments = dispatch.assign(batch.ids, config, rng)
    write_jsonl = out_dir.rstrip("/") != batch_dir.rstrip("/") or not storage.exists(
        storage.join(batch_dir, dispatch.BATCH_JSONL), storage_options)
    files = dispatch.write_export(batch.items, out_dir, config, task, assignments,
                                  write_batch_jsonl=write_jsonl, storage_options=storage_options)
    if "jsonl" in config.formats and not write_jsonl:
        files[dispatch.BATCH_JSONL] = storage.join(batch_dir, dispatch.BATCH_JSONL)
    per_annotator = dict(Counter(a.annotator_id for a in assignments))
    result = ExportResult(
        out_dir=out_dir, round=batch.round, n_items=len(batch.items),
        n_overlap_items=len({a.id for a in assignments if a.overlap}), n_assignments=len(assignments),
        per_annotator={a: per_annotator.get(a, 0) for a in config.annotators}, files=files,
    )
    summary = {**result.to_dict(), "annotators": config.annotators,
               "overlap_fraction": config.overlap_fraction,
               "annotators_per_overlap_item": config.annotators_per_overlap_item,
               "min_overlap_items": config.min_overlap_items, "formats": list(config.formats)}
    summary.pop("reused")
    storage.write_json_atomic(summary_url, summary, storage_options)
    storage.mark_done(summary_url, {"n_items": result.n_items}, storage_options)
    return result


def import_annotations(files: Sequence[str], batch_dir: str, labels_dir: str, task: TaskConfig, *, round: int,
                       fmt: str | None = None, replace: bool = False,
                       storage_options: Mapping[str, Any] | None = None,
                       user_map: Mapping[str, str] | None = None) -> ImportResult:
    """Validate annotation files against the batch and merge them into ``annotations.parquet``.

    ``fmt``: "canonical" (JSONL), "csv", "labelstudio", "argilla", or None to detect per file.
    ``user_map``: {Label Studio user id: annotator name} for exports that name users by number.
    Raises :class:`~al_ray.labeling.ingest.AnnotationFileError` (an ``InputError``) naming file:line
    for every problem; nothing is written then. Importing the same file again changes nothing.
    """
    register_storage_options(storage_options)
    batch = read_batch(batch_dir, storage_options)
    return ingest(list(files), batch, labels_dir, task, round=round, fmt=fmt, replace=replace,
                  storage_options=storage_options, user_map=user_map)


@dataclass(frozen=True)
class ResolveResult:
    gate: GateResult
    agreement: AgreementReport
    n_items: int
    n_resolved: int  # batch items with a training label
    n_pending_adjudication: int
    n_unlabelled: int
    n_propagated: int
    by_source: dict[str, int]
    labels_url: str
    adjudication_url: str
    agreement_url: str

    @property
    def complete(self) -> bool:
        return self.n_pending_adjudication == 0 and self.n_unlabelled == 0

    def to_dict(self) -> dict[str, Any]:
        return {"gate": self.gate.to_dict(), "agreement": self.agreement.to_dict(), "n_items": self.n_items,
                "n_resolved": self.n_resolved, "n_pending_adjudication": self.n_pending_adjudication,
                "n_unlabelled": self.n_unlabelled, "n_propagated": self.n_propagated,
                "by_source": dict(self.by_source), "complete": self.complete, "labels_url": self.labels_url,
                "adjudication_url": self.adjudication_url, "agreement_url": self.agreement_url,
                # flat summary for run manifests
                "gate_passed": self.gate.passed, "gate_status": self.gate.status,
                "expert_kappa": self.agreement.mean_cohen_kappa, "n_overlap": self.agreement.n_overlap_items,
                # the experts' agreement in the gate's coefficient (the stopping ceiling pools it)
                "agreement_metric": self.gate.metric, "expert_agreement": self.gate.estimate,
                "gate_value": self.gate.value, "gate_bound": self.gate.bound,
                "gate_threshold": self.gate.threshold, "coefficients": self.agreement.intervals}


def agreement_report(batch_dir: str, labels_dir: str, task: TaskConfig,
                     config: LabelingConfig | None = None, *,
                     storage_options: Mapping[str, Any] | None = None) -> tuple[AgreementReport, GateResult]:
    """Agreement and gate decision for the annotations imported so far; writes nothing."""
    config = config or LabelingConfig()
    batch = read_batch(batch_dir, storage_options, with_dedup=False)
    anns = _batch_annotations(batch, labels_dir, storage_options)
    report = batch_agreement(anns, task.labels, config)
    return report, gate(report, config, len(batch.items))


def batch_agreement(annotations: Sequence[Mapping[str, Any]], labels: Sequence[str],
                    config: LabelingConfig) -> AgreementReport:
    """The batch's agreement with the configured bootstrap intervals. The generator is seeded from
    ``config.bootstrap_seed`` afresh on every call, so every resolve of the same annotations gives
    the same intervals and so the same gate decision."""
    return compute_agreement(annotations, labels, rng=np.random.default_rng(config.bootstrap_seed),
                             n_boot=config.bootstrap_samples, confidence=config.gate_confidence)


def _batch_annotations(batch: Batch, labels_dir: str, storage_options) -> list[dict[str, Any]]:
    return [a for a in read_annotations(labels_dir, storage_options) if a["id"] in batch.by_id]


def resolve_labels(batch_dir: str, labels_dir: str, task: TaskConfig, config: LabelingConfig | None = None, *,
                   storage_options: Mapping[str, Any] | None = None) -> ResolveResult:
    """Measure agreement, gate, resolve each item, propagate to duplicates; write the label files.

    Writes agreement.json, adjudication.jsonl (possibly empty), labels.parquet, and the
    labels.parquet.done marker only when the batch is complete (nothing pending, nothing unlabelled).
    Safe to rerun: it recomputes everything from annotations.parquet and adjudications.parquet.
    """
    register_storage_options(storage_options)
    config = config or LabelingConfig()
    batch = read_batch(batch_dir, storage_options)
    anns = _batch_annotations(batch, labels_dir, storage_options)
    report = batch_agreement(anns, task.labels, config)
    gate_result = gate(report, config, len(batch.items))
    adjudications = read_adjudications(labels_dir, storage_options)
    res = resolve(batch, anns, adjudications, gate_result, config, task.labels)

    labels_url = storage.join(labels_dir, LABELS_FILE)
    queue_url = storage.join(labels_dir, QUEUE_FILE)
    agreement_url = storage.join(labels_dir, AGREEMENT_FILE)
    n_resolved = sum(1 for r in res.labels if r["source"] != "propagated")
    result = ResolveResult(
        gate=gate_result, agreement=report, n_items=len(batch.items), n_resolved=n_resolved,
        n_pending_adjudication=len(res.queue), n_unlabelled=res.n_unlabelled, n_propagated=res.n_propagated,
        by_source=res.by_source, labels_url=labels_url, adjudication_url=queue_url,
        agreement_url=agreement_url,
    )
    storage.remove(storage.done_marker(labels_url), storage_options)  # stale until rewritten below
    storage.write_json_atomic(agreement_url, {**result.to_dict(), "round": batch.round,
                                              "n_propagation_skipped": res.n_propagation_skipped,
                                              "config": config.model_dump()}, storage_options)
    storage.write_bytes_atomic(queue_url, queue_bytes(res.queue), storage_options)
    storage.write_parquet_atomic(labels_table(res.labels), labels_url, storage_options)
    if result.complete:
        storage.mark_done(labels_url, {"n_labels": len(res.labels), "gate": gate_result.status},
                          storage_options)
    return result


@dataclass(frozen=True)
class AdjudicationResult:
    n_applied: int
    n_unchanged: int
    n_undecided: int  # rows of the file still without a label
    resolve: ResolveResult | None

    def to_dict(self) -> dict[str, Any]:
        return {"n_applied": self.n_applied, "n_unchanged": self.n_unchanged, "n_undecided": self.n_undecided,
                "resolve": self.resolve.to_dict() if self.resolve else None}


def apply_adjudication(file: str, labels_dir: str, task: TaskConfig, *, batch_dir: str,
                       config: LabelingConfig | None = None, round: int | None = None,
                       resolve_after: bool = True,
                       storage_options: Mapping[str, Any] | None = None) -> AdjudicationResult:
    """Import adjudicated labels (``adjudication.jsonl`` with ``label`` filled, or JSONL/CSV with id,
    label[, adjudicator, note]) and, by default, re-resolve the batch's labels.

    An adjudicated label is final: it wins over the annotators' votes for that item. A later
    adjudication of the same item replaces an earlier one.
    """
    register_storage_options(storage_options)
    batch = read_batch(batch_dir, storage_options, with_dedup=False)
    rnd = round if round is not None else batch.round
    rows, undecided = parse_adjudications(file, batch, task, rnd, storage_options)
    applied, unchanged = merge_adjudications(rows, labels_dir, storage_options)
    res = None
    if resolve_after:
        res = resolve_labels(batch_dir, labels_dir, task, config, storage_options=storage_options)
    return AdjudicationResult(applied, unchanged, undecided, res)
