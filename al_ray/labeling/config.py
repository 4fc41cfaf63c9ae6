"""``LabelingConfig``: who labels, how much overlap, and how strict the agreement gate is.

The field descriptions are the documentation (``al-ray labels export --help`` points here).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from al_ray.labeling.tools.settings import LabelStudioSettings

GateMetric = Literal["gwet_ac1", "brennan_prediger", "mean_cohen_kappa", "min_cohen_kappa",
                     "krippendorff_alpha", "fleiss_kappa"]
GateBound = Literal["lower", "estimate"]
ExportFormat = Literal["jsonl", "labelstudio", "argilla"]
DedupKind = Literal["exact", "near", "semantic"]
LabelingTool = Literal["files", "labelstudio"]


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
        30, ge=0,
        description="At least this many overlap items per batch (capped at the batch size) when "
        "`overlap_fraction` > 0, however small the fraction makes it; the gate also needs this many "
        "items with >= 2 annotations before it calls a batch measured. 30 because the gate's error "
        "rates need it: with 20% of 30-100 items and at least 10 (10-20 overlap items, the former "
        "default) the default gate flagged 22% of good batches in benchmarks/bench_gate.py, with 30 "
        "it flagged 4.5%, and no threshold met both goals with fewer.",
    )
    gate_threshold: float = Field(
        0.45, ge=-1.0, le=1.0,
        description="A batch whose agreement (`gate_metric`, its `gate_bound`) is below this is "
        "flagged: its disagreements go to adjudication and are not used for training until resolved. "
        "0.45 for the default (AC1's lower 95% bound) is the middle of the band of thresholds "
        "(0.40-0.50) where benchmarks/bench_gate.py's simulated batches with 30-100 overlap items "
        "met both goals: at most 1 in 20 batches flagged when three annotators each flip 5% of labels, "
        "at least 19 in 20 when one of three answers at random, at minority shares of 2-50%. With "
        "10-20 overlap items no threshold meets both (see `min_overlap_items`). The former kappa gate "
        "is `gate_metric: mean_cohen_kappa`, `gate_bound: estimate`, `gate_threshold: 0.8`.",
    )
    gate_metric: GateMetric = Field(
        "gwet_ac1",
        description="Agreement statistic the gate compares with `gate_threshold`, and in which the "
        "experts' agreement with each other (the stopping ceiling) and the model's agreement with "
        "them are measured: Gwet's AC1 (default: unlike kappa it stays high for good annotators "
        "on skewed batches), Brennan-Prediger (PABAK for two labels), Cohen's kappa averaged over "
        "annotator pairs (weighted by shared items) or its minimum, Krippendorff's nominal alpha, "
        "or Fleiss' kappa.",
    )
    gate_bound: GateBound = Field(
        "lower",
        description="`lower`: the gate compares the lower end of the statistic's bootstrap "
        "confidence interval (`gate_confidence`), so a batch passes only when the evidence says its "
        "agreement is above the threshold, and a few overlap items cannot pass a bad batch by luck; "
        "`estimate`: the point estimate (the former gate).",
    )
    gate_confidence: float = Field(
        0.95, gt=0.0, lt=1.0,
        description="Level of the two-sided percentile-bootstrap intervals reported for every "
        "coefficient; `gate_bound: lower` uses the interval's lower end.",
    )
    bootstrap_samples: int = Field(
        2000, ge=200, le=100_000,
        description="Bootstrap resamples of the overlap items per batch. At 2,000 the lower bound "
        "moves by a standard deviation of about 0.003 (at most 0.007) from one bootstrap seed to "
        "another on 30-100 items (benchmarks/bench_gate.py), small against the gate's margins.",
    )
    bootstrap_seed: int = Field(
        0, ge=0,
        description="Seed of the bootstrap's generator. Fixed per configuration so that resolving "
        "a batch again (after adjudication, on a rerun) reproduces the same intervals and gate "
        "decision.",
    )
    formats: list[ExportFormat] = Field(
        default_factory=lambda: ["jsonl", "labelstudio", "argilla"],
        description="What `export` writes besides assignments.jsonl: canonical batch.jsonl, the "
        "Label Studio import file + labelling config, Argilla v2 records + settings.",
    )
    tool: LabelingTool = Field(
        "files",
        description="How a batch reaches annotators. files: the export files above, and labels come back "
        "with `al-ray labels import` (or files dropped into the round's labels/incoming/). labelstudio: "
        "`al-ray run` pushes the batch to a running Label Studio server (`labelstudio` settings), pulls "
        "the annotations through its API, and waits (exit 3) until every item has all its annotations.",
    )
    labelstudio: LabelStudioSettings = Field(
        default_factory=LabelStudioSettings,
        description="Label Studio server, token variable and project title (used when tool is labelstudio, "
        "and by `al-ray labels push/pull`).",
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
