"""Where each artefact of a run lives, so every stage and the driver agree on paths.

    RUN/manifest.json                      run config + per-round step status (driver)
    RUN/rounds/r000/scores/<shard>.parquet  (+ .done markers, _summary.json)
    RUN/rounds/r000/candidates.parquet
    RUN/rounds/r000/batch/batch.parquet, batch.jsonl, dedup_groups.parquet,
                         labelstudio_tasks.json, argilla_records.json, assignments.jsonl
    RUN/rounds/r000/labels/annotations.parquet, labels.parquet, agreement.json
    RUN/rounds/r000/model/adapter/, merged/, metrics.json
    RUN/rounds/r000/eval.json
    RUN/report.html
"""

from __future__ import annotations

from dataclasses import dataclass

from al_ray.storage import join


@dataclass(frozen=True)
class RunLayout:
    root: str

    @property
    def manifest(self) -> str:
        return join(self.root, "manifest.json")

    @property
    def report(self) -> str:
        return join(self.root, "report.html")

    def round_dir(self, r: int) -> str:
        return join(self.root, "rounds", f"r{r:03d}")

    def scores(self, r: int) -> str:
        return join(self.round_dir(r), "scores")

    def candidates(self, r: int) -> str:
        return join(self.round_dir(r), "candidates.parquet")

    def batch_dir(self, r: int) -> str:
        return join(self.round_dir(r), "batch")

    def labels_dir(self, r: int) -> str:
        return join(self.round_dir(r), "labels")

    def model_dir(self, r: int) -> str:
        return join(self.round_dir(r), "model")

    def eval(self, r: int) -> str:
        return join(self.round_dir(r), "eval.json")
