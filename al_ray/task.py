"""What is being classified: the label set, how texts and ids are found, how the model is prompted.

Every stage reads the same ``TaskConfig``; it is the one thing they all agree on besides the file
schemas in ``al_ray.schemas``.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")

DEFAULT_PROMPT = (
    "Classify the following text as one of: {labels}.\n\nText: {text}\n\nAnswer:"
)


class TaskConfig(BaseModel):
    """The classification task."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("task", description="Short name used in reports and run manifests.")
    labels: list[str] = Field(
        ..., min_length=2,
        description="The label set, in a fixed order. Also the verbalizers in generative mode "
        "(the words the model answers with); names must be simple identifiers because each "
        "becomes a column p_<label> in score files.",
    )
    positive_label: str | None = Field(
        None, description="The rare/policy-violating class. Boundary pairs and class-balance "
        "reports use it; defaults to the last label.",
    )
    label_descriptions: dict[str, str] = Field(
        default_factory=dict,
        description="Natural-language description per label; used to build a zero-shot "
        "classifier head for round 0 and shown to annotators.",
    )
    prompt_template: str = Field(
        DEFAULT_PROMPT, description="Generative mode prompt; must contain {text}; may contain {labels}.",
    )
    text_column: str = Field("text", description="Corpus column holding the text to classify.")
    id_column: str | None = Field(
        "id", description="Corpus column holding a stable example id; null derives a stable id "
        "from (shard path, row number).",
    )

    @field_validator("labels")
    @classmethod
    def _labels_valid(cls, labels: list[str]) -> list[str]:
        if len(set(labels)) != len(labels):
            raise ValueError(f"labels must be unique, got {labels}")
        bad = [lab for lab in labels if not _LABEL_RE.match(lab)]
        if bad:
            raise ValueError(f"labels must match {_LABEL_RE.pattern} (they become column names), bad: {bad}")
        return labels

    @field_validator("prompt_template")
    @classmethod
    def _prompt_has_text(cls, template: str) -> str:
        if "{text}" not in template:
            raise ValueError("prompt_template must contain the placeholder {text}")
        return template

    @model_validator(mode="after")
    def _positive_in_labels(self) -> "TaskConfig":
        if self.positive_label is None:
            self.positive_label = self.labels[-1]
        if self.positive_label not in self.labels:
            raise ValueError(f"positive_label {self.positive_label!r} is not one of labels {self.labels}")
        unknown = set(self.label_descriptions) - set(self.labels)
        if unknown:
            raise ValueError(f"label_descriptions names unknown labels {sorted(unknown)}")
        return self

    def render_prompt(self, text: str) -> str:
        return self.prompt_template.replace("{labels}", ", ".join(self.labels)).replace("{text}", text)
