"""Read one annotation file in any supported format: choose the reader, then call it.

Kept apart from ``common`` (which every reader imports) so the readers and the shared pieces form
no import cycle: this module imports the readers, nothing imports it back.
"""

from __future__ import annotations

from al_ray import storage
from al_ray.errors import InputError
from al_ray.labeling.formats import argilla, canonical, labelstudio
from al_ray.labeling.formats.common import FORMATS, ParsedFile
from al_ray.security import scrub


def detect_format(url: str, head: str) -> str:
    """Pick a reader from the file name, looking inside ``.json`` files to tell the tools apart."""
    name = url.lower().rsplit("/", 1)[-1]
    for suffix in (".gz", ".bz2", ".zst"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith((".jsonl", ".ndjson")):
        return "canonical"
    if name.endswith((".csv", ".tsv")):
        return "csv"
    if name.endswith(".json"):
        probe = head.lstrip("\ufeff \t\r\n")
        if probe.startswith("{") and '"records"' in head:
            return "argilla"
        if '"annotations"' in head or '"completed_by"' in head:
            return "labelstudio"
        if '"responses"' in head or '.responses"' in head or '"fields"' in head:
            return "argilla"
        return "labelstudio"
    raise InputError(
        "cannot tell the annotation file's format from its name; use .jsonl (canonical), .csv, or a "
        ".json Label Studio / Argilla export, or name the format explicitly", location=url,
    )


def parse_file(url: str, fmt: str | None = None, storage_options=None, user_map=None) -> ParsedFile:
    """Read one annotation file in any supported format (``fmt=None``: detect it).

    ``user_map`` ({Label Studio user id: annotator name}) names the numeric users of Label Studio
    exports; the other formats carry names already and ignore it.
    """
    shown = scrub(url)
    try:
        data = storage.read_bytes(url, storage_options)
    except FileNotFoundError as exc:
        raise InputError("annotation file not found", location=shown) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError("not valid UTF-8", location=f"{shown}:{line}") from exc
    fmt = fmt or detect_format(url, text[:4096])
    if fmt not in FORMATS:
        raise InputError(f"unknown annotation format {fmt!r}; expected one of {list(FORMATS)}",
                         location=shown)
    reader = {"canonical": canonical.parse_jsonl, "csv": canonical.parse_csv,
              "labelstudio": labelstudio.parse_export, "argilla": argilla.parse_records}[fmt]
    if fmt == "labelstudio":
        return labelstudio.parse_export(text, shown, user_map)
    return reader(text, shown)
