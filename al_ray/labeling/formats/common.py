"""Shared pieces of the annotation-file readers: the raw row, problem collection, JSON positions.

The readers import this module and it imports none of them; choosing a reader for a file is
``al_ray.labeling.formats.parse``'s job."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal

from al_ray.errors import InputError

Format = Literal["canonical", "csv", "labelstudio", "argilla"]
FORMATS: tuple[str, ...] = ("canonical", "csv", "labelstudio", "argilla")


@dataclass(frozen=True)
class RawAnnotation:
    """One annotation as read from a file, before it is checked against the batch."""

    id: str | None
    annotator_id: str | None
    label: str | None
    note: str | None
    round: int | None
    location: str  # "file:line", where a user finds it


@dataclass
class ParsedFile:
    url: str
    format: str
    rows: list[RawAnnotation] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (location, message)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (location, why): not annotations
    n_records: int = 0

    def problem(self, location: str, message: str) -> None:
        self.problems.append((location, message))


def as_id(value: Any) -> str | None:
    """Item / annotator ids are strings; JSON integers are accepted and turned into strings."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return None


def as_round(value: Any) -> tuple[int | None, bool]:
    """(round, ok): round numbers are integers (JSON int, or a string of digits in CSV)."""
    if value is None or value == "":
        return None, True
    if isinstance(value, bool):
        return None, False
    if isinstance(value, int):
        return value, True
    if isinstance(value, float) and value.is_integer():
        return int(value), True
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip()), True
    return None, False


def as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):  # Label Studio TextArea: {"text": ["..."]}
        value = "\n".join(str(v) for v in value)
    value = str(value)
    return value if value.strip() else None


def iter_json_array(text: str, url: str) -> Iterator[tuple[int, Any]]:
    """Yield (1-based line where it starts, element) for each element of a top-level JSON array.

    ``json.loads`` forgets positions; decoding the array one element at a time with
    ``raw_decode`` keeps them, so errors can name the line a task starts on.
    """
    decoder = json.JSONDecoder()
    n = len(text)
    cursor = [0, 1]  # (position, line at that position): newlines are counted once, not per element

    def skip_ws(i: int) -> int:
        while i < n and text[i] in " \t\r\n\ufeff":
            i += 1
        return i

    def line_of(i: int) -> int:
        pos, line = cursor
        if i < pos:
            return text.count("\n", 0, i) + 1
        line += text.count("\n", pos, i)
        cursor[0], cursor[1] = i, line
        return line

    i = skip_ws(0)
    if i >= n or text[i] != "[":
        raise InputError("expected a JSON list (of tasks/records) at the top level",
                         location=f"{url}:{line_of(i)}")
    i = skip_ws(i + 1)
    if i < n and text[i] == "]":
        return
    while True:
        start_line = line_of(i)
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON: {exc.msg}", location=f"{url}:{exc.lineno}") from exc
        yield start_line, obj
        i = skip_ws(end)
        if i < n and text[i] == ",":
            i = skip_ws(i + 1)
            continue
        if i < n and text[i] == "]":
            return
        raise InputError("invalid JSON: expected ',' or ']' after a list element",
                         location=f"{url}:{line_of(min(i, n))}")
