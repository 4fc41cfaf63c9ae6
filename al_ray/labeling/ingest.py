"""Ingest: read annotation files, check them against the batch, merge into ``annotations.parquet``.

Checks (every problem names ``file:line``; all files are checked before anything is written, so
an import either takes every file or none):
- the item id is in this batch (a dropped duplicate is named as such, with its representative);
- the label is one of the task's labels;
- the annotation's round (``round`` in canonical rows, ``data.batch_round``/``data.round`` in
  Label Studio tasks, ``metadata.round`` in Argilla records) is the batch's round;
- an annotator id is present;
- no (item, annotator) pair appears twice across the files being imported.

Merge, keyed by (id, annotator_id): re-importing the same file changes nothing; an annotation that
changes an already imported label is an error unless ``replace=True``.

Ids and file contents are opaque strings: nothing read from a label file is used to build a path.
The merge is a read-modify-write of one Parquet file (published atomically); run imports into one
labels directory one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import pyarrow as pa

from al_ray import storage
from al_ray.errors import InputError
from al_ray.labeling.batch import Batch
from al_ray.labeling.formats.common import ParsedFile
from al_ray.labeling.formats.parse import parse_file
from al_ray.layout import ANNOTATIONS_FILE
from al_ray.schemas import ANNOTATIONS_SCHEMA
from al_ray.task import TaskConfig
MAX_LISTED = 20


class AnnotationFileError(InputError):
    """One or more annotation files are malformed; ``problems`` lists every (location, message)."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = list(problems)
        loc, msg = self.problems[0]
        if len(self.problems) > 1:
            lines = [msg] + [f"  {ploc}: {pmsg}" for ploc, pmsg in self.problems[1:MAX_LISTED]]
            if len(self.problems) > MAX_LISTED:
                lines.append(f"  ... and {len(self.problems) - MAX_LISTED} more problem(s)")
            lines.append(f"({len(self.problems)} problems; nothing was imported)")
            msg = "\n".join(lines)
        super().__init__(msg, location=loc)


def _short(value: str, limit: int = 80) -> str:
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 4] + "...'"


@dataclass(frozen=True)
class ImportResult:
    annotations_url: str
    n_files: int
    n_read: int
    n_new: int
    n_updated: int
    n_unchanged: int
    n_skipped: int
    n_total: int
    n_items_annotated: int
    n_items: int
    per_annotator: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["skipped"] = [f"{loc}: {why}" for loc, why in self.skipped[:MAX_LISTED]]
        return d


def validate(parsed: Sequence[ParsedFile], batch: Batch, task: TaskConfig, round: int
             ) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    """Rows that pass, and every problem (parse problems included), in file order."""
    labels = set(task.labels)
    problems: list[tuple[str, str]] = []
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[str, str], str] = {}
    for pf in parsed:
        file_problems: list[tuple[str, str]] = list(pf.problems)
        problems_before = len(problems)
        for r in pf.rows:
            item = batch.by_id.get(r.id)
            if item is None:
                if r.id in batch.dup_of:
                    problems.append((r.location, f"item {_short(r.id)} is a duplicate that selection dropped "
                                     f"(of {_short(batch.dup_of[r.id])}); label the batch item instead"))
                else:
                    problems.append((r.location, f"unknown item id {_short(r.id)}: not in this batch"))
                continue
            if r.label not in labels:
                problems.append((r.location,
                                 f"unknown label {_short(r.label)}; expected one of {task.labels}"))
                continue
            item_round = item.get("round")
            if r.round is not None and r.round != round:
                problems.append((r.location, f"annotation is for round {r.round}'s batch, but this is round "
                                 f"{round}'s batch"))
                continue
            if item_round is not None and int(item_round) != round:
                problems.append((r.location,
                                 f"item {_short(r.id)} belongs to round {item_round}, not {round}"))
                continue
            key = (r.id, r.annotator_id)
            if key in seen:
                problems.append((r.location, f"duplicate annotation of item {_short(r.id)} by annotator "
                                 f"{_short(r.annotator_id)} (first at {seen[key]})"))
                continue
            seen[key] = r.location
            rows.append({"id": r.id, "annotator_id": r.annotator_id, "label": r.label, "note": r.note,
                         "round": round, "source_file": pf.url, "_location": r.location})
        file_problems += problems[problems_before:]
        del problems[problems_before:]
        problems += sorted(file_problems, key=lambda p: _line_of(p[0], pf.url))
    return rows, problems


def _line_of(location: str, url: str) -> int:
    """The line number in "url:line ..." (0 when there is none), to list problems in file order."""
    rest = location[len(url) + 1:] if location.startswith(url + ":") else ""
    head = rest.split(" ", 1)[0]
    return int(head) if head.isdigit() else 0


def read_annotations(labels_dir: str,
                     storage_options: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    url = storage.join(labels_dir, ANNOTATIONS_FILE)
    if not storage.exists(url, storage_options):
        return []
    return storage.read_parquet(url, storage_options).to_pylist()


def ingest(files: Sequence[str], batch: Batch, labels_dir: str, task: TaskConfig, *, round: int,
           fmt: str | None = None, replace: bool = False,
           storage_options: Mapping[str, Any] | None = None,
           user_map: Mapping[str, str] | None = None) -> ImportResult:
    if batch.rounds and batch.rounds != {round}:
        raise InputError(f"asked to import round {round}'s labels, but the batch is round "
                         f"{sorted(batch.rounds)}'s", location=batch.url)
    parsed = [parse_file(f, fmt, storage_options, user_map) for f in files]
    rows, problems = validate(parsed, batch, task, round)

    existing = read_annotations(labels_dir, storage_options)
    merged: dict[tuple[str, str], dict[str, Any]] = {(e["id"], e["annotator_id"]): e for e in existing}
    n_new = n_updated = n_unchanged = 0
    for row in rows:
        key = (row["id"], row["annotator_id"])
        old = merged.get(key)
        if old is None:
            merged[key] = row
            n_new += 1
        elif old["label"] == row["label"]:
            if (old.get("note") or None) != (row.get("note") or None):
                merged[key] = row
                n_updated += 1
            else:
                n_unchanged += 1
        elif replace:
            merged[key] = row
            n_updated += 1
        else:
            problems.append((row["_location"], f"item {_short(row['id'])} by annotator "
                             f"{_short(row['annotator_id'])}: label {row['label']!r} conflicts with "
                             f"{old['label']!r} imported before from {old.get('source_file')}; "
                             "pass replace=True (--replace) to overwrite"))
    if problems:
        raise AnnotationFileError(problems)

    url = storage.join(labels_dir, ANNOTATIONS_FILE)
    order = {item_id: i for i, item_id in enumerate(batch.ids)}
    out = sorted(merged.values(), key=lambda r: (order.get(r["id"], len(order)), r["id"], r["annotator_id"]))
    if n_new or n_updated or not storage.exists(url, storage_options):
        table = pa.Table.from_pylist(
            [{k: r.get(k) for k in ANNOTATIONS_SCHEMA.names} for r in out], schema=ANNOTATIONS_SCHEMA)
        storage.write_parquet_atomic(table, url, storage_options)
    per_annotator: dict[str, int] = {}
    for r in out:
        per_annotator[r["annotator_id"]] = per_annotator.get(r["annotator_id"], 0) + 1
    skipped = [s for pf in parsed for s in pf.skipped]
    return ImportResult(
        annotations_url=url, n_files=len(files), n_read=sum(len(pf.rows) for pf in parsed), n_new=n_new,
        n_updated=n_updated, n_unchanged=n_unchanged, n_skipped=len(skipped), n_total=len(out),
        n_items_annotated=len({r["id"] for r in out}), n_items=len(batch.items),
        per_annotator=dict(sorted(per_annotator.items())), skipped=skipped,
    )

