"""Load YAML/JSON config files into pydantic models, with CLI flags layered on top."""

from __future__ import annotations

import json
from typing import Any, Mapping, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from al_ray.errors import ConfigError
from al_ray.storage import read_bytes

M = TypeVar("M", bound=BaseModel)


def load_mapping(url: str | None, what: str = "config file") -> dict[str, Any]:
    """``what`` names the file in errors (a references file is not a config file to its user)."""
    if url is None:
        return {}
    try:
        raw = read_bytes(url).decode("utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} not found: {url}") from exc
    try:
        data = json.loads(raw) if url.endswith(".json") else yaml.safe_load(raw)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{url}: not valid {'JSON' if url.endswith('.json') else 'YAML'}: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{url}: top level must be a mapping, got {type(data).__name__}")
    return data


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` wins; None values in ``override`` mean "not given" and are skipped."""
    out = dict(base)
    for k, v in override.items():
        if v is None:
            continue
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def build(model: type[M], data: Mapping[str, Any], source: str = "config") -> M:
    """Validate ``data`` into ``model``; errors name each bad field."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        lines = [f"{source}: invalid configuration"]
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"  {loc}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from exc


def load(model: type[M], url: str | None, overrides: Mapping[str, Any] | None = None,
         what: str = "config file") -> M:
    return build(model, deep_merge(load_mapping(url, what), overrides or {}), source=url or "config")


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """``--set a.b=1 --set c=x`` -> ``{"a": {"b": 1}, "c": "x"}`` (values parsed as YAML scalars)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {key}: value is not valid YAML: {exc}") from exc
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {p} is both a value and a section")
        node[parts[-1]] = value
    return out
