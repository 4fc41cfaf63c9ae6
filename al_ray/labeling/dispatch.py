"""Dispatch a batch to annotators: who labels what, and the files each labelling tool imports.

Assignment: ``overlap_fraction`` of the items (at least ``min_overlap_items``) go to
``annotators_per_overlap_item`` annotators each, cycling through every annotator combination in a
shuffled order so that *every pair* of annotators shares items (Cohen's kappa needs shared items
per pair); the remaining items go to one annotator each, always the least loaded (ties drawn from
the seeded ``rng``). Overlap items are drawn uniformly, so the measured agreement is an unbiased
sample of the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Mapping, Sequence

import numpy as np

from al_ray import storage
from al_ray.errors import ConfigError
from al_ray.labeling.config import LabelingConfig
from al_ray.labeling.formats import argilla, labelstudio
from al_ray.labeling.formats.canonical import dumps_jsonl, jsonl_objects
from al_ray.layout import ARGILLA_RECORDS_FILE as ARGILLA_RECORDS
from al_ray.layout import ARGILLA_SETTINGS_FILE as ARGILLA_SETTINGS
from al_ray.layout import ASSIGNMENTS_FILE as ASSIGNMENTS
from al_ray.layout import BATCH_JSONL
from al_ray.layout import EXPORT_SUMMARY_FILE as EXPORT_SUMMARY  # noqa: F401 (dispatch.EXPORT_SUMMARY)
from al_ray.layout import LS_CONFIG_FILE as LS_CONFIG
from al_ray.layout import LS_TASKS_FILE as LS_TASKS
from al_ray.security import scrub
from al_ray.task import TaskConfig

# Settings that decide who labels what: a completed export is only reused when a call asks for the same.
REUSE_FIELDS = ("annotators", "overlap_fraction", "annotators_per_overlap_item", "min_overlap_items", "formats")


@dataclass(frozen=True)
class Assignment:
    id: str
    annotator_id: str
    overlap: bool


def n_overlap_items(n_items: int, config: LabelingConfig) -> int:
    if config.overlap_fraction <= 0 or len(config.annotators) < config.annotators_per_overlap_item:
        return 0
    return min(n_items, max(math.ceil(config.overlap_fraction * n_items), config.min_overlap_items))


def assign(ids: Sequence[str], config: LabelingConfig, rng: np.random.Generator) -> list[Assignment]:
    """Assign each item to one annotator, overlap items to several; deterministic given ``rng``."""
    annotators = list(config.annotators)
    m, n = len(annotators), len(ids)
    n_over = n_overlap_items(n, config)
    overlap_pos = set(rng.choice(n, size=n_over, replace=False).tolist()) if n_over else set()
    load = np.zeros(m, dtype=np.int64)
    out: list[Assignment] = []
    combos: list[tuple[int, ...]] = []
    if n_over:
        combos = list(combinations(range(m), config.annotators_per_overlap_item))
        combos = [combos[i] for i in rng.permutation(len(combos))]
    # overlap items first (in batch order) so single items can even out the load afterwards
    k = 0
    for pos in sorted(overlap_pos):
        for a in combos[k % len(combos)]:
            out.append(Assignment(ids[pos], annotators[a], True))
            load[a] += 1
        k += 1
    for pos in range(n):
        if pos in overlap_pos:
            continue
        least = np.flatnonzero(load == load.min())
        a = int(least[rng.integers(len(least))]) if len(least) > 1 else int(least[0])
        out.append(Assignment(ids[pos], annotators[a], False))
        load[a] += 1
    order = {item_id: i for i, item_id in enumerate(ids)}
    rank = {a: i for i, a in enumerate(annotators)}
    return sorted(out, key=lambda x: (order[x.id], rank[x.annotator_id]))


@dataclass(frozen=True)
class ExportResult:
    out_dir: str
    round: int | None
    n_items: int
    n_overlap_items: int
    n_assignments: int
    per_annotator: dict[str, int]
    files: dict[str, str] = field(default_factory=dict)
    reused: bool = False  # True when a completed export was found and left as it was

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": self.out_dir, "round": self.round, "n_items": self.n_items,
                "n_overlap_items": self.n_overlap_items, "n_assignments": self.n_assignments,
                "per_annotator": dict(self.per_annotator), "files": dict(self.files), "reused": self.reused}


def check_reuse(summary: Mapping[str, Any], config: LabelingConfig, summary_url: str) -> None:
    """Refuse to reuse a completed export for a call that explicitly asks for other assignments.

    Reusing is right for a rerun (assignments already handed out must not be reshuffled), but a call
    that names other annotators or another overlap and silently gets the old export back has been
    lied to. Only settings the caller gave (``config.model_fields_set``) are compared, so a rerun
    without options still reuses; exports written before a setting was recorded are not compared
    on it.
    """
    conflicts = []
    for name in REUSE_FIELDS:
        if name not in config.model_fields_set or name not in summary:
            continue
        had, want = summary[name], getattr(config, name)
        if name == "formats":
            had, want = sorted(had), sorted(want)
        if had != want:
            conflicts.append(f"{name} {had!r} there, {want!r} asked")
    if conflicts:
        from al_ray.security import scrub

        raise ConfigError(
            f"{scrub(summary_url)}: this batch was already exported with other settings ({'; '.join(conflicts)}). "
            "Its assignments may be with annotators already, so it is not reused silently: run again without "
            "those options to reuse it, or pass --force to reassign the batch (then hand out the new files)."
        )


def _jsonable(item: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in item.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        out[k] = v
    return out


def write_export(items: list[dict[str, Any]], out_dir: str, config: LabelingConfig, task: TaskConfig,
                 assignments: list[Assignment], *, write_batch_jsonl: bool,
                 storage_options: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Write the dispatch files; returns {name: url}. The summary and its marker are the caller's."""
    files: dict[str, str] = {}
    by_item: dict[str, list[str]] = {}
    for a in assignments:
        by_item.setdefault(a.id, []).append(a.annotator_id)
    rnd = next((it.get("round") for it in items if it.get("round") is not None), None)
    version = f"{task.name}-round-{rnd}" if rnd is not None else task.name

    def put(name: str, data: bytes) -> None:
        url = storage.join(out_dir, name)
        storage.write_bytes_atomic(url, data, storage_options)
        files[name] = url

    if "jsonl" in config.formats and write_batch_jsonl:
        put(BATCH_JSONL, dumps_jsonl(_jsonable(it) for it in items))
    by_id = {it["id"]: it for it in items}
    put(ASSIGNMENTS, dumps_jsonl(
        {"id": a.id, "annotator_id": a.annotator_id, "round": by_id[a.id].get("round"), "overlap": a.overlap,
         "label": None, "note": None}
        for a in assignments
    ))
    if "labelstudio" in config.formats:
        tasks = [labelstudio.task(_jsonable(it), task.labels, version, by_item.get(it["id"], ()))
                 for it in items]
        put(LS_TASKS, _dumps(tasks))
        put(LS_CONFIG, labelstudio.labelling_config(task.labels, task.label_descriptions).encode())
    if "argilla" in config.formats:
        records = [argilla.record(_jsonable(it), task.labels, version, by_item.get(it["id"], ()))
                   for it in items]
        put(ARGILLA_RECORDS, _dumps(records))
        put(ARGILLA_SETTINGS, _dumps(argilla.settings(task.labels, task.label_descriptions)))
    return files


def _dumps(obj: Any) -> bytes:
    import json

    return json.dumps(obj, ensure_ascii=False, indent=1, default=str).encode("utf-8")


def read_assignment_records(url: str, storage_options: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The rows of an export's ``assignments.jsonl`` (one per item and annotator), validated: the one
    reader the Label Studio push and the simulated annotators share."""
    from al_ray.errors import InputError

    try:
        text = storage.read_bytes(url, storage_options).decode("utf-8")
    except FileNotFoundError as exc:
        raise InputError("no assignments: export the batch first (`al-ray labels export`)",
                         location=scrub(url)) from exc
    objects, problems = jsonl_objects(text, scrub(url))
    if problems:
        loc, msg = problems[0]
        raise InputError(msg, location=loc)
    return [obj for _, obj in objects]
