"""The canonical formats: JSON lines (one object per line) and CSV with a header row.

Annotation row (both formats)::

    {"id": "item id", "annotator_id": "alice", "label": "violating", "note": "optional", "round": 3}

``note`` and ``round`` are optional; other keys (e.g. ``text``) are ignored. A row whose ``label``
is empty or null is "not labelled yet" and is skipped (and counted), so a partly filled template
can be imported.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable, Mapping, Sequence

from al_ray.labeling.formats.common import ParsedFile, RawAnnotation, as_id, as_round, as_text

REQUIRED_COLUMNS = ("id", "annotator_id", "label")


def _row(parsed: ParsedFile, obj: Mapping[str, Any], loc: str) -> None:
    parsed.n_records += 1
    item_id = as_id(obj.get("id"))
    if item_id is None:
        parsed.problem(loc, "missing item id (key 'id', a string)")
        return
    if "annotator_id" not in obj or as_id(obj.get("annotator_id")) is None:
        parsed.problem(loc, f"missing annotator id (key 'annotator_id') for item {item_id!r}")
        return
    rnd, ok = as_round(obj.get("round"))
    if not ok:
        parsed.problem(loc, f"round must be an integer, got {obj.get('round')!r}")
        return
    label = obj.get("label")
    if label is not None and not isinstance(label, str):
        parsed.problem(loc, f"label must be a string, got {label!r}")
        return
    label = label.strip() if isinstance(label, str) else None
    if not label:
        parsed.skipped.append((loc, "no label yet"))
        return
    parsed.rows.append(
        RawAnnotation(item_id, as_id(obj["annotator_id"]), label, as_text(obj.get("note")), rnd, loc))


def jsonl_objects(text: str, url: str) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, str]]]:
    """([(location, object)], problems) for a JSON-lines text; blank lines are ignored."""
    objects: list[tuple[str, dict[str, Any]]] = []
    problems: list[tuple[str, str]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        loc = f"{url}:{lineno}"
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append((loc, f"invalid JSON: {exc.msg}"))
            continue
        if not isinstance(obj, dict):
            problems.append((loc, f"expected a JSON object per line, got {type(obj).__name__}"))
            continue
        objects.append((loc, obj))
    return objects, problems


def csv_objects(text: str, url: str, required: Sequence[str] = REQUIRED_COLUMNS
                ) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, str]]]:
    """([(location of the record's first line, {column: value or None})], problems) for CSV/TSV.

    Quoted fields may span lines; the location is the line a record starts on.
    """
    objects: list[tuple[str, dict[str, Any]]] = []
    problems: list[tuple[str, str]] = []
    delimiter = "\t" if url.lower().removesuffix(".gz").endswith(".tsv") else ","
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return objects, problems
    except csv.Error as exc:
        return objects, [(f"{url}:1", f"unreadable CSV header: {exc}")]
    header = [h.strip() for h in header]
    missing = [c for c in required if c not in header]
    if missing:
        return objects, [(f"{url}:1", f"CSV header lacks column(s) {missing}; has {header}")]
    start = reader.line_num + 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append((f"{url}:{start}", f"unreadable CSV row: {exc}"))
            break
        loc = f"{url}:{start}"
        start = reader.line_num + 1
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(header):
            problems.append((loc, f"expected {len(header)} fields (as in the header), got {len(values)}"))
            continue
        objects.append((loc, {k: (v if v != "" else None) for k, v in zip(header, values)}))
    return objects, problems


def parse_jsonl(text: str, url: str) -> ParsedFile:
    parsed = ParsedFile(url=url, format="canonical")
    objects, parsed.problems = jsonl_objects(text, url)
    for loc, obj in objects:
        _row(parsed, obj, loc)
    return parsed


def parse_csv(text: str, url: str) -> ParsedFile:
    """CSV (or TSV, by extension) with header id, annotator_id, label[, note][, round]."""
    parsed = ParsedFile(url=url, format="csv")
    objects, parsed.problems = csv_objects(text, url)
    for loc, obj in objects:
        _row(parsed, obj, loc)
    return parsed


def dumps_jsonl(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """JSON lines, UTF-8, non-ASCII kept as is; texts with newlines stay on one line (escaped)."""
    return "".join(json.dumps(dict(r), ensure_ascii=False, default=str) + "\n" for r in rows).encode("utf-8")


def annotation_rows(annotations: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Canonical annotation rows (drops keys that are not part of the format)."""
    keys = ("id", "annotator_id", "label", "note", "round")
    return [{k: a.get(k) for k in keys if a.get(k) is not None or k in REQUIRED_COLUMNS} for a in annotations]
