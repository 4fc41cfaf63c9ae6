"""The run manifest: what each round has done, so an interrupted run resumes at the right step.

Each step records ``done`` only after its outputs are written (outputs first, marker last), so a
step found not done is simply redone; every step is idempotent on its own outputs.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from al_ray import storage
from al_ray.clock import utc_now as _now
from al_ray.errors import ConfigError
from al_ray.layout import RunLayout

STEPS = ("score", "evaluate", "select", "export", "labels", "split", "finetune")


def config_differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """Dotted field -> (old, new) for every leaf both mappings have and that differs."""
    out: dict[str, tuple[Any, Any]] = {}
    for key in old.keys() & new.keys():
        a, b, name = old[key], new[key], f"{prefix}{key}"
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out.update(config_differences(a, b, name + "."))
        elif a != b:
            out[name] = (a, b)
    return dict(sorted(out.items()))


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Manifest:
    """A JSON document at ``RUN/manifest.json``, rewritten atomically on every change."""

    def __init__(self, layout: RunLayout, data: dict[str, Any], storage_options: Mapping[str, Any] | None = None):
        self.layout = layout
        self.data = data
        self._so = storage_options

    @classmethod
    def open(cls, layout: RunLayout, config_dump: Mapping[str, Any], storage_options=None, *,
             allow_config_change: bool = False) -> "Manifest":
        """Start a run, or resume it with the config it started with.

        A resume whose config differs in any field both configs have is refused (ConfigError naming
        the fields): rounds already done were made under the old settings, and mixing them silently
        is how a run's figures stop meaning anything. ``allow_config_change`` continues with the new
        config and records the change (``config_changes``). Fields present in only one of them come
        from an al_ray upgrade adding or dropping a setting, and are not a user's change.
        """
        if storage.exists(layout.manifest, storage_options):
            data = storage.read_json(layout.manifest, storage_options)
            new = json.loads(json.dumps(dict(config_dump), default=str))  # the form the manifest holds
            changed = config_differences(data.get("config") or {}, new)
            if changed:
                listing = "; ".join(f"{k}: {_short(a)} -> {_short(b)}" for k, (a, b) in changed.items())
                if not allow_config_change:
                    raise ConfigError(
                        f"{layout.manifest}: this run started with another config ({listing}). Resume with "
                        "the config it started with, start a new --run, or pass --allow-config-change to go "
                        "on with the new one (the change is recorded in the manifest)")
                data.setdefault("config_changes", []).append(
                    {"at": _now(), "fields": {k: {"old": a, "new": b} for k, (a, b) in changed.items()}})
                data["config"] = new
        else:
            data = {"created_at": _now(), "config": dict(config_dump), "rounds": {}, "status": "running"}
        m = cls(layout, data, storage_options)
        m.save()
        return m

    @classmethod
    def load(cls, layout: RunLayout, storage_options=None) -> "Manifest":
        return cls(layout, storage.read_json(layout.manifest, storage_options), storage_options)

    def save(self) -> None:
        self.data["updated_at"] = _now()
        storage.write_json_atomic(self.layout.manifest, self.data, self._so)

    def round(self, r: int) -> dict[str, Any]:
        return self.data["rounds"].setdefault(f"{r:03d}", {"round": r, "steps": {}, "info": {}})

    def rounds(self) -> list[dict[str, Any]]:
        return [self.data["rounds"][k] for k in sorted(self.data["rounds"])]

    def is_done(self, r: int, step: str) -> bool:
        return self.round(r)["steps"].get(step, {}).get("status") == "done"

    def mark(self, r: int, step: str, status: str = "done", *, seconds: float | None = None, **info: Any) -> None:
        """Record a step; ``seconds`` is its wall time (the round's ``seconds`` is the sum over its steps).

        A step redone after a resume replaces its entry, so the round total counts the work that
        produced the round's outputs, not the time lost to an interruption.
        """
        entry: dict[str, Any] = {"status": status, "at": _now()}
        if seconds is not None:
            entry["seconds"] = round(float(seconds), 3)
        rd = self.round(r)
        rd["steps"][step] = {**entry, **info}
        timed = [s["seconds"] for s in rd["steps"].values() if isinstance(s.get("seconds"), (int, float))]
        if timed:
            rd["seconds"] = round(sum(timed), 3)
        self.save()

    def step_info(self, r: int, step: str) -> dict[str, Any]:
        return self.round(r)["steps"].get(step, {})

    def set_status(self, status: str, **info: Any) -> None:
        self.data["status"] = status
        self.data["status_info"] = info
        self.save()
