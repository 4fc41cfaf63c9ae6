"""Options every command shares, parsed one way.

Storage options come as ``--storage-option key=value``, the one spelling every command takes
(repeatable; a value that parses as JSON is taken as JSON, so ``client_kwargs={"endpoint_url":
"..."}`` works). Secret-looking values are registered for scrubbing before anything can print them.
Prefer credentials from the environment (AWS_*), which s3fs reads itself.

The task comes from one file (``--task task.yaml``: a TaskConfig, or a run config with a ``task:``
section), written once: ``score`` writes it into every score file's metadata and ``select`` into
the batch's (``al_ray.schemas.with_task``), so later stages read it from their input when neither
``--task`` nor ``--labels`` is given.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Optional

import typer

from al_ray.errors import ConfigError

STORAGE_OPTION_HELP = ("fsspec storage option key=value (value parsed as JSON when it can be, e.g. "
                       "client_kwargs='{\"endpoint_url\": \"http://...\"}'); repeatable. Prefer AWS_* variables "
                       "for credentials.")
TASK_HELP = ("Task file (YAML/JSON): labels, label_descriptions, positive_label, text_column, id_column; "
             "a run config with a `task:` section also works. Default: the task recorded in the input files.")


def storage_option() -> Any:
    """A fresh ``--storage-option`` typer option (typer options must not be shared between commands)."""
    return typer.Option(None, "--storage-option", help=STORAGE_OPTION_HELP)


def task_option() -> Any:
    return typer.Option(None, "--task", help=TASK_HELP)


def parse_storage_options(pairs: list[str] | None = None) -> dict[str, Any]:
    from al_ray.security import register_storage_options

    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--storage-option expects key=value, got {pair.split('=', 1)[0]!r}=...")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    register_storage_options(out)
    return out


def read_task_file(path: Optional[str]) -> dict[str, Any]:
    """The task section of ``path`` (a TaskConfig file, or a run config with a ``task:`` key)."""
    from al_ray.config_io import load_mapping

    if not path:
        return {}
    data = load_mapping(path)
    if "labels" not in data and isinstance(data.get("task"), dict):
        data = data["task"]
    return data


def recorded_task(parquet_url: str, storage_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The task a score file or batch recorded (``al_ray.schemas.task_from_schema``); {} if unreadable."""
    import pyarrow.parquet as pq

    from al_ray import schemas, storage

    try:
        fs, path = storage.resolve(parquet_url, storage_options)
        with fs.open(path, "rb") as f:
            return schemas.task_from_schema(pq.read_schema(f))
    except (OSError, ValueError):
        return {}


def merge_task(recorded: Mapping[str, Any] | None, file: Mapping[str, Any] | None,
               flags: Mapping[str, Any] | None) -> dict[str, Any]:
    """The task a command runs with: what its input recorded, overridden by the task file, then by
    flags. A ``null`` in the recorded task or the file is kept (``id_column: null`` means derived
    ids); a flag left out (``None``) overrides nothing."""
    out = {**(recorded or {}), **(file or {})}
    out.update({k: v for k, v in (flags or {}).items() if v is not None})
    return out
