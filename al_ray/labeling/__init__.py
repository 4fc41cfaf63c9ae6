"""The labelling stage: dispatch a batch to annotators, ingest their labels, measure agreement,
gate, adjudicate, and propagate resolved labels to the duplicates selection dropped.

Public API (see :mod:`al_ray.labeling.api`): ``export_batch``, ``import_annotations``,
``resolve_labels``, ``apply_adjudication``, ``agreement_report``; configuration in
``LabelingConfig``. Simulated annotators for demos and benchmarks live apart, in
:mod:`al_ray.labeling.simulated`, which nothing on the real path imports.
"""

from al_ray.labeling.api import (
    AdjudicationResult, ExportResult, ImportResult, ResolveResult, agreement_report, apply_adjudication,
    export_batch, import_annotations, resolve_labels,
)
from al_ray.labeling.config import LabelingConfig
from al_ray.labeling.ingest import AnnotationFileError

__all__ = [
    "AdjudicationResult", "AnnotationFileError", "ExportResult", "ImportResult", "LabelingConfig",
    "ResolveResult",
    "agreement_report", "apply_adjudication", "export_batch", "import_annotations", "resolve_labels",
]
