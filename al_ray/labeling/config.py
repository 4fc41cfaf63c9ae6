"""``LabelingConfig``: who labels, how much overlap, and how strict the agreement gate is.

The field descriptions are the documentation (``al-ray labels export --help`` points here).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

GateMetric = Literal["mean_cohen_kappa", "min_cohen_kappa", "krippendorff_alpha", "fleiss_kappa"]
ExportFormat = Literal["jsonl", "labelstudio", "argilla"]
DedupKind = Literal["exact", "near", "semantic"]


class LabelingConfig(BaseModel):
    """How a labelling batch is dispatched to annotators and how their labels are resolved."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    annotators: list[str] = Field(
        default_factory=lambda: ["annotator_1", "annotator_2", "annotator_3"], min_length=1,
        description="Annotator ids, as they will appear in the annotation files (canonical "
        "`annotator_id`; for Label Studio the user's e-mail, or its numeric id as a string).",
    )
    overlap_fraction: float = Field(
        0.2, ge=0.0, le=1.0, validation_alias=AliasChoices("overlap_fraction", "overlap"),
        description="Share of batch items labelled by several annotators, so that inter-annotator "
        "agreement can be measured every round. 1.0 means every item is labelled by "
        "`annotators_per_overlap_item` annotators. Also accepted as `overlap`.",
    )
    annotators_per_overlap_item: int = Field(
        2, ge=2, description="How many annotators see each overlap item (>= 2).",
    )
    min_overlap_items: int = Field(
        10, ge=0,
        description="At least this many overlap items per batch (capped at the batch size) when "
        "`overlap_fraction` > 0, however small the fraction makes it; the gate also needs this many "
        "items with >= 2 annotations before it calls a batch measured.",
    )
    gate_threshold: float = Field(
        0.8, ge=-1.0, le=1.0,
        description="A batch whose agreement (`gate_metric`) is below this is flagged: its "
        "disagreements go to adjudication and are not used for training until resolved. "
        "0.8 is where expert labels gave reliable gains (DESIGN.md).",
    )
    gate_metric: GateMetric = Field(
        "mean_cohen_kappa",
        description="Agreement statistic the gate compares with `gate_threshold`: Cohen's kappa "
        "averaged over annotator pairs (weighted by shared items) or its minimum, Krippendorff's "
        "nominal alpha, or Fleiss' kappa.",
    )
    formats: list[ExportFormat] = Field(
        default_factory=lambda: ["jsonl", "labelstudio", "argilla"],
        description="What `export` writes besides assignments.jsonl: canonical batch.jsonl, the "
        "Label Studio import file + labelling config, Argilla v2 records + settings.",
    )
    propagate_kinds: list[DedupKind] = Field(
        default_factory=lambda: ["exact", "near", "semantic"],
        description="Which kinds of duplicates recorded by selection inherit their "
        "representative's resolved label.",
    )
    propagate_min_similarity: float = Field(
        0.0, ge=0.0, le=1.0,
        description="Duplicates with a recorded similarity below this do not inherit a label.",
    )

    @field_validator("annotators")
    @classmethod
    def _unique_annotators(cls, annotators: list[str]) -> list[str]:
        cleaned = [a.strip() for a in annotators]
        if any(not a for a in cleaned):
            raise ValueError("annotator ids must be non-empty")
        if len(set(cleaned)) != len(cleaned):
            raise ValueError(f"annotator ids must be unique, got {annotators}")
        return cleaned

    @field_validator("formats")
    @classmethod
    def _unique_formats(cls, formats: list[str]) -> list[str]:
        return list(dict.fromkeys(formats))

    @model_validator(mode="after")
    def _enough_annotators(self) -> "LabelingConfig":
        if self.overlap_fraction > 0 and len(self.annotators) < self.annotators_per_overlap_item:
            raise ValueError(
                f"overlap needs {self.annotators_per_overlap_item} annotators per overlap item but only "
                f"{len(self.annotators)} annotator(s) are configured; add annotators or set "
                "overlap_fraction: 0"
            )
        return self
