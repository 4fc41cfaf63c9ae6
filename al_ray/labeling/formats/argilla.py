"""Argilla (v2) records we write for annotators, and the records we read back.

Written (``argilla_records.json``): a list of record dicts as ``rg.Record``/
``dataset.records.log`` accept them::

    {"id": item id, "fields": {"text": ...},
     "suggestions": [{"question_name": "label", "value": "violating", "score": 0.73, "agent": "..."}],
     "metadata": {"round": 3, "cluster_id": 7, "pair_id": 12, "reason": "...", "assigned_to": [...]}}

plus ``argilla_settings.json`` (fields, a ``label_selection`` question named ``label``, an optional
``text`` question named ``note``, metadata properties) for creating the dataset.

Read back: ``dataset.records.to_list(flatten=False)`` / ``to_json`` output, a list of records (or
``{"records": [...]}``) carrying ``responses: {"label": [{"value": .., "user_id": ..}], "note": [..]}``;
the flattened form (``"label.responses"`` + ``"label.responses.users"``) is accepted too.
Records with ``status: "discarded"`` responses are skipped.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from al_ray.labeling.formats.common import (
    ParsedFile, RawAnnotation, as_id, as_round, as_text, iter_json_array,
)

QUESTION = "label"
NOTE = "note"


def settings(labels: Sequence[str], descriptions: Mapping[str, str] | None = None,
             guidelines: str | None = None) -> dict[str, Any]:
    return {
        "guidelines": guidelines or "Choose the label that fits the text.",
        "fields": [{"name": "text", "type": "text", "required": True, "use_markdown": False}],
        "questions": [
            {"name": QUESTION, "type": "label_selection", "required": True, "labels": list(labels),
             "description": "; ".join(f"{k}: {v}" for k, v in (descriptions or {}).items()) or None},
            {"name": NOTE, "type": "text", "required": False},
        ],
        "metadata": [
            {"name": "round", "type": "integer"},
            {"name": "cluster_id", "type": "integer"},
            {"name": "pair_id", "type": "integer"},
            {"name": "reason", "type": "terms"},
        ],
        "distribution": {"strategy": "overlap", "min_submitted": 1},
    }


def record(item: Mapping[str, Any], labels: Sequence[str], agent: str,
           assigned_to: Sequence[str] = ()) -> dict[str, Any]:
    metadata = {k: item.get(k) for k in ("round", "cluster_id", "pair_id", "reason")
                if item.get(k) is not None}
    metadata["assigned_to"] = list(assigned_to)
    out: dict[str, Any] = {"id": item["id"], "fields": {"text": item.get("text") or ""}, "metadata": metadata,
                           "suggestions": []}
    pred = item.get("predicted_label")
    if pred in labels:
        sugg: dict[str, Any] = {"question_name": QUESTION, "value": pred, "agent": agent, "type": "model"}
        score = item.get(f"p_{pred}")
        if score is not None:
            sugg["score"] = float(score)
        out["suggestions"].append(sugg)
    return out


def _responses(rec: Mapping[str, Any], name: str) -> list[tuple[Any, Any, Any]]:
    """[(value, user_id, status)] for question ``name`` in either record shape."""
    resp = rec.get("responses")
    if isinstance(resp, Mapping) and isinstance(resp.get(name), list):
        return [(r.get("value"), r.get("user_id"), r.get("status"))
                for r in resp[name] if isinstance(r, Mapping)]
    if isinstance(resp, list):  # older shape: [{"user_id", "values": {name: {"value"}}, "status"}]
        out = []
        for r in resp:
            if isinstance(r, Mapping):
                v = (r.get("values") or {}).get(name)
                if v is not None:
                    value = v.get("value") if isinstance(v, Mapping) else v
                    out.append((value, r.get("user_id"), r.get("status")))
        return out
    values, users = rec.get(f"{name}.responses"), rec.get(f"{name}.responses.users")
    if isinstance(values, list):
        users = users if isinstance(users, list) else [None] * len(values)
        return [(v, u, None) for v, u in zip(values, users)]
    return []


def parse_records(text: str, url: str) -> ParsedFile:
    parsed = ParsedFile(url=url, format="argilla")
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped.startswith("{"):
        try:
            top = json.loads(stripped)
        except json.JSONDecodeError as exc:
            parsed.problem(f"{url}:{exc.lineno}", f"invalid JSON: {exc.msg}")
            return parsed
        recs = top.get("records") if isinstance(top, Mapping) else None
        if not isinstance(recs, list):
            parsed.problem(f"{url}:1", "expected a list of records or an object with 'records'")
            return parsed
        items = [(1, r) for r in recs]
    else:
        items = list(iter_json_array(text, url))
    for k, (lineno, rec) in enumerate(items, start=1):
        loc = f"{url}:{lineno}" + (f" (record {k})" if len(items) > 1 and lineno == 1 else "")
        if not isinstance(rec, Mapping):
            parsed.problem(loc, "expected a record object")
            continue
        meta = rec.get("metadata") if isinstance(rec.get("metadata"), Mapping) else {}
        item_id = as_id(rec.get("id")) or as_id(meta.get("item_id"))
        labels = _responses(rec, QUESTION)
        notes = {str(u): as_text(v) for v, u, _ in _responses(rec, NOTE)}
        if item_id is None:
            parsed.n_records += max(1, len(labels))
            parsed.problem(loc, "record has no item id ('id')")
            continue
        raw_round = meta.get("round", rec.get("round"))
        rnd, ok = as_round(raw_round)
        if not ok:
            parsed.problem(loc, f"record {item_id!r}: metadata.round must be an integer, got {raw_round!r}")
            continue
        if not labels:
            parsed.skipped.append((loc, f"record {item_id!r} has no responses"))
        for value, user, status in labels:
            parsed.n_records += 1
            rloc = f"{loc} (record {item_id!r})"
            if status in ("discarded", "draft"):
                parsed.skipped.append((rloc, f"response {status}"))
                continue
            annotator = as_id(user)
            if annotator is None:
                parsed.problem(rloc, "missing annotator id (user_id)")
                continue
            if isinstance(value, list) and len(value) == 1:
                value = value[0]
            if not isinstance(value, str) or not value.strip():
                parsed.problem(rloc, f"expected one label, got {value!r}")
                continue
            parsed.rows.append(
                RawAnnotation(item_id, annotator, value.strip(), notes.get(annotator), rnd, rloc))
    return parsed
