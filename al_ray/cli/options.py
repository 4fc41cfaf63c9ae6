"""Options every command shares, parsed one way.

Storage options come as ``--storage-option key=value`` (repeatable; a value that parses as JSON is
taken as JSON, so ``client_kwargs={"endpoint_url": "..."}`` works) or as one JSON object
``--storage-options '{...}'``. Secret-looking values are registered for scrubbing before anything
can print them. Prefer credentials from the environment (AWS_*), which s3fs reads itself.
"""

from __future__ import annotations

import json
from typing import Any

from al_ray.errors import ConfigError


def parse_storage_options(pairs: list[str] | None = None, json_text: str | None = None) -> dict[str, Any]:
    from al_ray.security import register_storage_options

    out: dict[str, Any] = {}
    if json_text:
        try:
            value = json.loads(json_text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"--storage-options is not valid JSON: {exc.msg}") from exc
        if not isinstance(value, dict):
            raise ConfigError("--storage-options must be a JSON object")
        out.update(value)
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
