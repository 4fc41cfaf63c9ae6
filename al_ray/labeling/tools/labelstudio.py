"""Label Studio, live: push a batch to a project, pull its annotations back, tell what is still open.

One project per batch, titled ``<prefix> round <r>`` and recognised by a *batch key* (a hash of the
round and the item ids) written in its description and in every task's ``data.al_ray_batch``:

- **push** creates the project (labelling config generated from the task's labels and
  descriptions, guidelines from the descriptions) or finds it again, imports the batch items that
  are not there yet (with the model's label and score as a prediction, i.e. a pre-annotation, and
  its probabilities as ``data.p_<label>``), and sets each task's ``overlap`` to the number of
  annotators the export assigned it. Label Studio Community has no per-user task assignment (an
  Enterprise feature): its label stream serves a task to ``overlap`` *distinct* annotators and
  counts it done only then, which is what measuring agreement needs; who was assigned stays in
  ``data.assigned_to`` (a Data Manager column annotators can filter on). Pushing again creates
  nothing: tasks are matched to items by ``data.id``.
- **pull** fetches the project's JSON export and imports it through the same validated path as an
  annotation file (:func:`al_ray.labeling.api.import_annotations`; the fetched export is kept as
  ``labelstudio_export.json`` in the labels directory, so an error names its ``file:line``), with
  the server's users mapping numeric user ids to the configured annotator names (or e-mails).
  Nothing is written before the whole export has arrived, and the import itself takes all or
  nothing, so a server that dies mid-pull leaves the labels as they were. Pulling again changes
  nothing.
- Both refuse a project whose labelling config no longer offers exactly the task's labels (edited
  by hand), saying which labels differ: annotations could not be checked against the task.

An item is *open* while fewer distinct annotators have labelled it than the export assigned it.
"""

from __future__ import annotations

import hashlib
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html import escape
from typing import Any, Mapping, Sequence

from al_ray import storage
from al_ray.errors import ConfigError, InputError
from al_ray.labeling import dispatch
from al_ray.labeling.batch import Batch, read_batch
from al_ray.labeling.config import LabelingConfig
from al_ray.labeling.formats import labelstudio as ls_format
from al_ray.labeling.ingest import ImportResult
from al_ray.labeling.tools.labelstudio_api import LabelStudioClient, LabelStudioError, LabelStudioUnavailable
from al_ray.labeling.tools.settings import LabelStudioSettings
from al_ray.layout import LS_EXPORT_FILE as EXPORT_FILE  # in the labels directory: the last pulled export
from al_ray.layout import LS_PROJECT_FILE as PROJECT_RECORD  # in the batch directory, beside the export files
from al_ray.security import scrub
from al_ray.task import TaskConfig

URL_ENV = "LABEL_STUDIO_URL"
TITLE_MAX = 50  # Label Studio's PROJECT_TITLE_MAX_LEN
IMPORT_CHUNK = 200
SEQUENTIAL = "Sequential sampling"


class LabelStudioProjectError(LabelStudioError, ConfigError):
    """The project on the server does not match the batch (labels edited by hand, tasks missing ...):
    bad input (exit 2), to be fixed on the server or by a new batch."""


# ----------------------------------------------------------------------------- connection

def connect(settings: LabelStudioSettings, url: str | None = None) -> LabelStudioClient:
    """A client for ``url`` (else the settings' url, else $LABEL_STUDIO_URL) with the token from the
    environment variable the settings name. Errors say what to set; they never contain the token."""
    url = (url or settings.url or os.environ.get(URL_ENV) or "").strip().rstrip("/")
    if not url:
        raise ConfigError(f"no Label Studio URL: pass --url, set labeling.labelstudio.url, or set {URL_ENV}")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"Label Studio URL must start with http:// or https://, got {scrub(url)!r}")
    token = os.environ.get(settings.env_var, "")
    if not token.strip():
        raise ConfigError(f"no Label Studio token: set the environment variable {settings.env_var} to a personal "
                          "access token (Label Studio: Account & Settings -> Personal Access Token)")
    return LabelStudioClient(url, token, token_source=f"${settings.env_var}", timeout=settings.timeout_s,
                             attempts=settings.attempts)


# ----------------------------------------------------------------------------- naming

def batch_key(batch: Batch) -> str:
    """What identifies a batch on the server: its round and item ids (not its path, which may move)."""
    h = hashlib.sha256(f"round {batch.round}\n".encode())
    for item_id in batch.ids:
        h.update(item_id.encode("utf-8") + b"\n")
    return h.hexdigest()[:16]


def project_title(settings: LabelStudioSettings, task: TaskConfig, rnd: int | None) -> str:
    suffix = f" round {rnd}" if rnd is not None else ""
    prefix = (settings.project_title or f"al-ray {task.name}").strip()
    return prefix[: TITLE_MAX - len(suffix)].rstrip() + suffix


def project_link(client: LabelStudioClient, project_id: int) -> str:
    return f"{client.url}/projects/{project_id}/data"


def offered_labels(label_config: str) -> list[str] | None:
    """The values of ``<Choices name="label">`` in a labelling config (None: no such element)."""
    try:
        root = ET.fromstring(label_config or "")
    except ET.ParseError:
        return None
    for el in root.iter("Choices"):
        if el.get("name") == ls_format.FROM_NAME:
            return [c.get("value") or c.get("alias") or "" for c in el.iter("Choice")]
    return None


def check_labels(project: Mapping[str, Any], task: TaskConfig, client: LabelStudioClient) -> None:
    """Refuse a project whose labelling config does not offer exactly the task's labels."""
    where = f"Label Studio project {project.get('id')} ({project_link(client, int(project['id']))})"
    offered = offered_labels(str(project.get("label_config") or ""))
    if offered is None:
        raise LabelStudioProjectError(
            f"{where}: its labelling config has no <Choices name=\"{ls_format.FROM_NAME}\"> any more (edited by "
            f"hand?); al_ray reads the label from it. Restore it (Settings -> Labeling Interface) with the "
            f"labels {task.labels}, then run the command again.")
    missing = [lab for lab in task.labels if lab not in offered]
    extra = [lab for lab in offered if lab not in task.labels]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"no longer offers {missing}")
        if extra:
            parts.append(f"offers {extra}, which the task does not have")
        raise LabelStudioProjectError(
            f"{where}: its labelling config {' and '.join(parts)} (it offers {offered}; the task's labels are "
            f"{task.labels}). The labelling interface was edited by hand, so its annotations cannot be checked "
            "against the task and nothing was pushed or imported. Restore the labels in Settings -> Labeling "
            "Interface, or push the batch to a new project with --project.")


# ----------------------------------------------------------------------------- assignments

def read_assignments(export_dir: str, storage_options: Mapping[str, Any] | None = None) -> dict[str, list[str]]:
    """{item id: annotators it is assigned to}, from the export's assignments.jsonl."""
    out: dict[str, list[str]] = {}
    for obj in dispatch.read_assignment_records(storage.join(export_dir, dispatch.ASSIGNMENTS), storage_options):
        out.setdefault(str(obj["id"]), []).append(str(obj["annotator_id"]))
    return out


def resolve_users(client: LabelStudioClient, annotators: Sequence[str]) -> dict[str, dict[str, Any]]:
    """{configured annotator: Label Studio user}; each annotator is a user's e-mail or username."""
    users = client.users()
    by_name: dict[str, dict[str, Any]] = {}
    for u in users:
        for key in (u.get("email"), u.get("username")):
            if key:
                by_name.setdefault(str(key).lower(), u)
    out, missing = {}, []
    for a in annotators:
        u = by_name.get(a.lower())
        if u is None:
            missing.append(a)
        else:
            out[a] = u
    if missing:
        known = sorted(str(u.get("email")) for u in users if u.get("email"))
        raise ConfigError(
            f"annotator(s) {missing} are not users of Label Studio at {client.url} (its users: {known}). "
            f"With labeling.tool labelstudio each annotator is a Label Studio user's e-mail or username: have "
            f"them sign up at {client.url}/user/signup/, or fix labeling.annotators.")
    return out


def user_names(client: LabelStudioClient, annotators: Sequence[str]) -> dict[str, str]:
    """{user id as a string: name}: the configured annotator the user is (by e-mail or username), else
    the user's e-mail. Never the bare number: that is what an export alone would give."""
    wanted = {a.lower(): a for a in annotators}
    out = {}
    for u in client.users():
        email, username = u.get("email"), u.get("username")
        name = (wanted.get(str(email or "").lower()) or wanted.get(str(username or "").lower())
                or email or username or f"label-studio-user-{u.get('id')}")
        out[str(u.get("id"))] = str(name)
    return out


# ----------------------------------------------------------------------------- the project

def _record_url(batch_dir: str) -> str:
    return storage.join(batch_dir, PROJECT_RECORD)


def _read_record(batch_dir: str, so) -> dict[str, Any] | None:
    url = _record_url(batch_dir)
    return storage.read_json(url, so) if storage.exists(url, so) else None


def find_project(client: LabelStudioClient, batch_dir: str, key: str, title: str, so) -> dict[str, Any] | None:
    """The batch's project on this server: the one recorded by the last push (if it is still there and
    still this batch's), else one titled ``title`` whose description carries the batch key."""
    rec = _read_record(batch_dir, so)
    if rec and rec.get("url") == client.url and rec.get("batch_key") == key:
        project = client.project(int(rec["project_id"]))
        if project is not None and key in str(project.get("description") or ""):
            return project
    for project in client.projects_titled(title):
        if key in str(project.get("description") or ""):
            return client.project(int(project["id"])) or project
    return None


def _guidelines(task: TaskConfig, per_overlap: int) -> str:
    items = "".join(f"<li><b>{escape(lab)}</b>: {escape(task.label_descriptions.get(lab, ''))}</li>"
                    for lab in task.labels)
    return (f"<p>Choose the one label that fits the text.</p><ul>{items}</ul>"
            f"<p>Some items are labelled by {per_overlap} annotators each, to measure agreement; "
            "<code>assigned_to</code> says who was assigned each item. The model's guess is shown as a "
            "prediction: check it, do not just accept it.</p>")


def _description(batch: Batch, key: str, n_items: int) -> str:
    return (f"al-ray labelling batch, round {batch.round}, {n_items} items. Batch key: {key}. "
            "Tasks are managed by `al-ray labels push`; restyle the labelling interface if you like, but "
            "removing or renaming a label stops `al-ray labels pull`.")


@dataclass(frozen=True)
class PushResult:
    project_id: int
    project_url: str
    created_project: bool
    n_items: int
    n_created: int
    n_existing: int
    n_overlap_set: int
    config_updated: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def push(batch_dir: str, config: LabelingConfig, task: TaskConfig, client: LabelStudioClient, *,
         export_dir: str | None = None, storage_options: Mapping[str, Any] | None = None) -> PushResult:
    """Create or update the batch's project and import what is missing; idempotent (see module doc).

    Needs a completed export (assignments.jsonl) in ``export_dir`` (default: the batch directory).
    """
    so = storage_options
    export_dir = export_dir or batch_dir
    batch = read_batch(batch_dir, so, with_dedup=False)
    assigned = read_assignments(export_dir, so)
    unassigned = [i for i in batch.ids if i not in assigned]
    if unassigned:
        raise InputError(f"{len(unassigned)} batch item(s) have no assignment (e.g. {unassigned[0]!r}); the "
                         "export is stale: run `al-ray labels export --force`",
                         location=scrub(storage.join(export_dir, dispatch.ASSIGNMENTS)))
    resolve_users(client, sorted({a for names in assigned.values() for a in names}))
    key = batch_key(batch)
    title = project_title(config.labelstudio, task, batch.round)
    per_overlap = max((len(v) for v in assigned.values()), default=1)
    label_config = ls_format.labelling_config(task.labels, task.label_descriptions)

    project = find_project(client, batch_dir, key, title, so)
    created = project is None
    if project is None:
        fields = {"title": title, "description": _description(batch, key, len(batch.items)),
                  "label_config": label_config, "expert_instruction": _guidelines(task, per_overlap),
                  "show_instruction": True, "maximum_annotations": per_overlap, "sampling": SEQUENTIAL}
        try:
            project = client.create_project(fields)
        except LabelStudioUnavailable:
            # the answer may have been lost after the project was made: look before making another
            project = find_project(client, batch_dir, key, title, so)
            if project is None:
                project = client.create_project(fields)
    pid = int(project["id"])
    check_labels(project, task, client)
    config_updated = False
    if str(project.get("label_config") or "").strip() != label_config.strip():
        client.update_project(pid, {"label_config": label_config,
                                    "expert_instruction": _guidelines(task, per_overlap)})
        config_updated = True  # same labels, other wording (descriptions, layout): ours wins

    version = f"{task.name}-round-{batch.round}" if batch.round is not None else task.name
    n_created = 0
    n_existing = None
    for attempt in range(client.attempts):
        have = _tasks_by_item(client, pid)
        if n_existing is None:
            n_existing = sum(1 for i in batch.ids if i in have)
        missing = [it for it in batch.items if it["id"] not in have]
        if not missing:
            break
        try:
            for start in range(0, len(missing), IMPORT_CHUNK):
                chunk = missing[start:start + IMPORT_CHUNK]
                client.import_tasks(pid, [_task(it, task, version, assigned[it["id"]], key) for it in chunk])
                n_created += len(chunk)
        except LabelStudioUnavailable:
            if attempt + 1 >= client.attempts:
                raise
            continue  # re-read what arrived before importing the rest: never twice
    have = _tasks_by_item(client, pid)
    n_overlap = 0
    for item_id in batch.ids:
        t = have.get(item_id)
        if t is None:
            raise LabelStudioProjectError(f"Label Studio project {pid}: item {item_id!r} is missing after import")
        want = len(assigned[item_id])
        if int(t.get("overlap") or 1) != want:
            client.update_task(int(t["id"]), {"overlap": want})
            n_overlap += 1
    storage.write_json_atomic(_record_url(batch_dir), {
        "url": client.url, "project_id": pid, "title": project.get("title", title), "batch_key": key,
        "round": batch.round, "n_items": len(batch.items)}, so)
    return PushResult(project_id=pid, project_url=project_link(client, pid), created_project=created,
                      n_items=len(batch.items), n_created=n_created, n_existing=int(n_existing or 0),
                      n_overlap_set=n_overlap, config_updated=config_updated)


def _task(item: Mapping[str, Any], task: TaskConfig, version: str, assigned_to: Sequence[str],
          key: str) -> dict[str, Any]:
    out = ls_format.task(dispatch._jsonable(item), task.labels, version, assigned_to)
    out["data"]["al_ray_batch"] = key
    return out


def _tasks_by_item(client: LabelStudioClient, pid: int) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for t in client.tasks(pid):
        data = t.get("data") or {}
        item_id = data.get("id")
        if item_id is not None:
            out.setdefault(str(item_id), t)
    return out


# ----------------------------------------------------------------------------- pull

def _has_label(annotation: Mapping[str, Any]) -> bool:
    """Whether an annotation chose a label (a note alone does not close an item)."""
    results = annotation.get("result")
    return isinstance(results, list) and any(
        isinstance(r, Mapping) and r.get("type") == "choices" and (r.get("value") or {}).get("choices")
        for r in results)


@dataclass(frozen=True)
class PullResult:
    project_id: int
    project_url: str
    imported: ImportResult
    n_items: int
    n_open: int  # items with fewer distinct annotators than assigned
    n_annotations_missing: int  # annotations still to make over the open items
    open_ids: list[str] = field(default_factory=list)
    export_url: str = ""

    @property
    def complete(self) -> bool:
        return self.n_open == 0

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "imported"}
        d["imported"] = self.imported.to_dict()
        d["complete"] = self.complete
        return d


def pull(batch_dir: str, labels_dir: str, config: LabelingConfig, task: TaskConfig, client: LabelStudioClient, *,
         export_dir: str | None = None, replace: bool = False,
         storage_options: Mapping[str, Any] | None = None) -> PullResult:
    """Fetch the batch's annotations and import them like a file; report the items still open."""
    from al_ray.labeling.api import import_annotations

    so = storage_options
    export_dir = export_dir or batch_dir
    batch = read_batch(batch_dir, so, with_dedup=False)
    key = batch_key(batch)
    title = project_title(config.labelstudio, task, batch.round)
    project = find_project(client, batch_dir, key, title, so)
    if project is None:
        raise LabelStudioProjectError(
            f"batch {scrub(batch.url)} (round {batch.round}) has no project on Label Studio at {client.url}: "
            "push it first (`al-ray labels push`)")
    pid = int(project["id"])
    check_labels(project, task, client)
    assigned = read_assignments(export_dir, so)
    names = user_names(client, sorted({a for names in assigned.values() for a in names}))
    exported = client.export(pid)  # everything is fetched before anything is written

    import json

    export_url = storage.join(labels_dir, EXPORT_FILE)
    storage.write_bytes_atomic(export_url, json.dumps(exported, ensure_ascii=False, indent=1).encode("utf-8"), so)
    imported = import_annotations([export_url], batch_dir, labels_dir, task, round=int(batch.round or 0),
                                  fmt="labelstudio", replace=replace, storage_options=so, user_map=names)
    done: dict[str, set[str]] = {}
    for t in exported:
        item_id = str((t.get("data") or {}).get("id"))
        for ann in t.get("annotations") or []:
            if isinstance(ann, Mapping) and not ann.get("was_cancelled") and _has_label(ann):
                done.setdefault(item_id, set()).add(str(ann.get("completed_by")))
    open_ids, missing = [], 0
    for item_id in batch.ids:
        need = len(assigned.get(item_id, ())) or 1
        have = len(done.get(item_id, ()))
        if have < need:
            open_ids.append(item_id)
            missing += need - have
    return PullResult(project_id=pid, project_url=project_link(client, pid), imported=imported,
                      n_items=len(batch.items), n_open=len(open_ids), n_annotations_missing=missing,
                      open_ids=open_ids[:20], export_url=export_url)
