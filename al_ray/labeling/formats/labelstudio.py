"""Label Studio: the import file we write and the JSON export we read back.

Import (``labelstudio_tasks.json``): a list of tasks ``{"data": {...}, "predictions": [...]}``;
``data`` holds our item fields (``id`` is *our* item id: Label Studio keeps its own task id at the
top level of exports), ``predictions`` the model's label and score as a pre-annotation.

Labelling config (``labelstudio_config.xml``): ``<Text name="text">``, ``<Choices name="label">``
with one ``<Choice>`` per task label, and an optional ``<TextArea name="note">``.

Export (what annotators hand back, "JSON" export): the same tasks, each with
``annotations: [{completed_by, result: [{from_name, to_name, type, value}], was_cancelled}]``.
``completed_by`` is a user id (int) or, in some versions, ``{"id": .., "email": ..}``. The
annotator id recorded is, in this order: the name a ``user_map`` gives the user id (``al-ray labels
pull`` builds it from the server's user list; ``labels import --user-map 11=alice``); the e-mail
when the export carries it; the annotator that our ``data.assigned_to`` lists imply (Label Studio's
JSON export has only numeric ids, while al_ray assigned names: user 11 is the one annotator assigned
to every task user 11 annotated, told apart from the others); and only for exports that carry no
assignments at all, the number as a string. A user id that the assignments cannot pin down is an
error naming the user and the fix, never a silently numeric annotator. Cancelled (skipped)
annotations and ``predictions`` are never read as labels.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence
from xml.sax.saxutils import quoteattr

from al_ray.labeling.formats.common import (
    ParsedFile, RawAnnotation, as_id, as_round, as_text, iter_json_array,
)
from al_ray.layout import LS_TASKS_FILE

FROM_NAME = "label"
TO_NAME = "text"
NOTE_NAME = "note"


def labelling_config(labels: Sequence[str], descriptions: Mapping[str, str] | None = None) -> str:
    """The Label Studio labelling config (XML) matching the tasks and predictions we write."""
    descriptions = descriptions or {}
    choices = "\n".join(
        f"    <Choice value={quoteattr(lab)}"
        + (f" hint={quoteattr(descriptions[lab])}" if lab in descriptions else "") + "/>"
        for lab in labels
    )
    return (
        "<View>\n"
        f'  <Text name="{TO_NAME}" value="$text"/>\n'
        f'  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single" required="true" '
        'showInline="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        f'  <TextArea name="{NOTE_NAME}" toName="{TO_NAME}" placeholder="optional note" maxSubmissions="1" '
        'editable="true" required="false"/>\n'
        "</View>\n"
    )


def task(item: Mapping[str, Any], labels: Sequence[str], model_version: str,
         assigned_to: Sequence[str] = ()) -> dict[str, Any]:
    """One import task: our fields under ``data``, the model's guess as a prediction."""
    data = {
        "id": item["id"], "text": item.get("text") or "", "round": item.get("round"),
        "batch_round": item.get("round"), "cluster_id": item.get("cluster_id"),
        "pair_id": item.get("pair_id"), "reason": item.get("reason"),
        "assigned_to": list(assigned_to),
        "predicted_label": item.get("predicted_label"),
    }
    for lab in labels:  # the model's probabilities, as Data Manager columns annotators can sort by
        p = item.get(f"p_{lab}")
        data[f"p_{lab}"] = None if p is None else round(float(p), 4)
    out: dict[str, Any] = {"data": data}
    pred = item.get("predicted_label")
    if pred in labels:
        score = item.get(f"p_{pred}")
        result = {"from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices", "value": {"choices": [pred]}}
        prediction: dict[str, Any] = {"model_version": model_version, "result": [result]}
        if score is not None:
            prediction["score"] = float(score)
            result["score"] = float(score)
        out["predictions"] = [prediction]
    return out


def _annotator(completed_by: Any) -> str | None:
    if isinstance(completed_by, Mapping):
        email = as_id(completed_by.get("email"))
        return email or as_id(completed_by.get("id"))
    return as_id(completed_by)


def parse_export(text: str, url: str, user_map: Mapping[str, str] | None = None) -> ParsedFile:
    """Annotations of a Label Studio JSON export; ``user_map``: {user id as a string: annotator name}."""
    parsed = ParsedFile(url=url, format="labelstudio")
    # (item id, completed_by, label, note, round, location, the task's data.assigned_to): annotator
    # names are settled once the whole file is read, since assignments over many tasks identify a user.
    found: list[tuple[str, Any, str, str | None, int | None, str, list[str] | None]] = []
    for lineno, t in iter_json_array(text, url):
        loc = f"{url}:{lineno}"
        if not isinstance(t, Mapping):
            parsed.problem(loc, f"expected a Label Studio task object, got {type(t).__name__}")
            continue
        data = t.get("data")
        if not isinstance(data, Mapping):
            parsed.problem(loc, "task has no 'data' object (is this a Label Studio JSON export?)")
            continue
        item_id = as_id(data.get("id"))
        anns = t.get("annotations") or []
        if not isinstance(anns, list):
            parsed.problem(loc, "task 'annotations' must be a list")
            continue
        if item_id is None:
            parsed.n_records += len(anns)
            parsed.problem(loc, "task has no item id in data.id "
                           f"(was it imported from our {LS_TASKS_FILE}?)")
            continue
        raw_round = data.get("batch_round") if data.get("batch_round") is not None else data.get("round")
        rnd, ok = as_round(raw_round)
        if not ok:
            parsed.problem(loc, f"task {item_id!r}: data.round must be an integer, got {raw_round!r}")
            continue
        if not anns:
            parsed.skipped.append((loc, f"task {item_id!r} has no annotations"))
        raw_assigned = data.get("assigned_to")
        assigned = ([a for a in (as_id(x) for x in raw_assigned) if a] if isinstance(raw_assigned, list)
                    else None) or None  # [] says no more than a missing list
        for k, ann in enumerate(anns, start=1):
            aloc = f"{loc} (task {item_id!r}, annotation {k})"
            parsed.n_records += 1
            if not isinstance(ann, Mapping):
                parsed.problem(aloc, "annotation must be an object")
                continue
            if ann.get("was_cancelled"):
                parsed.skipped.append((aloc, "cancelled (skipped) in Label Studio"))
                continue
            if _annotator(ann.get("completed_by")) is None:
                parsed.problem(aloc, "missing annotator id (completed_by)")
                continue
            results = ann.get("result") or []
            if not isinstance(results, list):
                parsed.problem(aloc, "annotation 'result' must be a list")
                continue
            choices = [r for r in results if isinstance(r, Mapping) and r.get("type") == "choices"]
            named = [r for r in choices if r.get("from_name") == FROM_NAME]
            chosen = named or (choices if len(choices) == 1 else [])
            if len(choices) > 1 and not named:
                parsed.problem(aloc, f"several choice results and none named {FROM_NAME!r}")
                continue
            note = None
            for r in results:
                if isinstance(r, Mapping) and r.get("type") == "textarea":
                    note = as_text((r.get("value") or {}).get("text"))
            if not chosen:
                parsed.skipped.append((aloc, "no label chosen"))
                continue
            values = (chosen[0].get("value") or {}).get("choices") or []
            if not isinstance(values, list) or len(values) != 1 or not isinstance(values[0], str):
                parsed.problem(aloc, f"expected exactly one chosen label, got {values!r}")
                continue
            found.append((item_id, ann.get("completed_by"), values[0].strip(), note, rnd, aloc, assigned))
    names = _annotator_names(found, user_map or {}, parsed)
    for item_id, who, label, note, rnd, aloc, _ in found:
        annotator = names.get(_user_key(who))
        if annotator is not None:
            parsed.rows.append(RawAnnotation(item_id, annotator, label, note, rnd, aloc))
    return parsed


def _user_key(completed_by: Any) -> str:
    """The user id as a string (``completed_by`` is an int, or a dict with ``id`` and ``email``)."""
    if isinstance(completed_by, Mapping):
        return as_id(completed_by.get("id")) or f"email:{as_id(completed_by.get('email'))}"
    return as_id(completed_by) or ""


def _annotator_names(found, user_map: Mapping[str, str], parsed: ParsedFile) -> dict[str, str]:
    """{user key: annotator id} for every user in ``found``; users that cannot be named are problems."""
    names: dict[str, str] = {}
    numeric: dict[str, list[tuple[list[str] | None, str]]] = {}  # user id -> [(assigned_to, location)]
    for _, who, _, _, _, aloc, assigned in found:
        key = _user_key(who)
        if key in user_map:
            names[key] = str(user_map[key])
        elif isinstance(who, Mapping) and as_id(who.get("email")):
            names[key] = str(as_id(who.get("email")))
        else:
            numeric.setdefault(key, []).append((assigned, aloc))
    numeric = {k: v for k, v in numeric.items() if k not in names}
    if not numeric:
        return names
    if all(assigned is None for tasks in numeric.values() for assigned, _ in tasks):
        # An export of tasks al_ray did not write (no assignments): the numbers are all there is.
        names.update({key: key for key in numeric})
        return names
    candidates: dict[str, set[str]] = {}
    for key, tasks in numeric.items():
        sets = [set(assigned) for assigned, _ in tasks if assigned is not None]
        candidates[key] = set.intersection(*sets) if sets and len(sets) == len(tasks) else set()
    taken = set(names.values())
    changed = True
    while changed:  # a user with one possible name takes it; nobody else can then have it
        changed = False
        for key, cands in candidates.items():
            if key in names:
                continue
            cands -= taken
            if len(cands) == 1:
                names[key] = next(iter(cands))
                taken.add(names[key])
                changed = True
    for key in sorted(set(candidates) - set(names), key=lambda k: (len(k), k)):
        loc = numeric[key][0][1]
        cands = sorted(candidates[key])
        why = ("they annotated tasks assigned to different annotators" if not cands else
               f"it could be any of {cands}")
        parsed.problem(loc, f"Label Studio user {key}: cannot tell which assigned annotator this is ({why}); "
                       f"name it with --user-map {key}=NAME (al-ray labels pull names users itself)")
    return names


def export_task(item_id: str, text: str, rnd: int | None, annotations: Sequence[tuple[Any, str, str | None]],
                task_id: int = 1, assigned_to: Sequence[str] | None = None) -> dict[str, Any]:
    """Build one task as Label Studio exports it (used by tests and the simulator).

    ``annotations``: (completed_by, label, note) triples.
    """
    anns = []
    for k, (who, label, note) in enumerate(annotations, start=1):
        result: list[dict[str, Any]] = [{
            "id": f"r{k}", "from_name": FROM_NAME, "to_name": TO_NAME, "type": "choices", "origin": "manual",
            "value": {"choices": [label]},
        }]
        if note:
            result.append({"id": f"n{k}", "from_name": NOTE_NAME, "to_name": TO_NAME, "type": "textarea",
                           "origin": "manual", "value": {"text": [note]}})
        anns.append({"id": task_id * 100 + k, "completed_by": who, "result": result, "was_cancelled": False,
                     "ground_truth": False, "lead_time": 3.2, "task": task_id})
    data: dict[str, Any] = {"id": item_id, "text": text, "round": rnd, "batch_round": rnd}
    if assigned_to is not None:
        data["assigned_to"] = list(assigned_to)
    return {"id": task_id, "data": data,
            "annotations": anns, "predictions": [], "drafts": [], "meta": {}, "inner_id": task_id}
