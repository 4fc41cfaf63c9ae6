"""The run manifest: what each round has done, so an interrupted run resumes at the right step.

Each step records ``done`` only after its outputs are written (outputs first, marker last), so a
step found not done is simply redone; every step is idempotent on its own outputs.
"""

from __future__ import annotations

from typing import Any, Mapping

from al_ray import storage
from al_ray.clock import utc_now as _now
from al_ray.layout import RunLayout

STEPS = ("score", "evaluate", "select", "export", "labels", "split", "finetune")


class Manifest:
    """A JSON document at ``RUN/manifest.json``, rewritten atomically on every change."""

    def __init__(self, layout: RunLayout, data: dict[str, Any], storage_options: Mapping[str, Any] | None = None):
        self.layout = layout
        self.data = data
        self._so = storage_options

    @classmethod
    def open(cls, layout: RunLayout, config_dump: Mapping[str, Any], storage_options=None) -> "Manifest":
        if storage.exists(layout.manifest, storage_options):
            data = storage.read_json(layout.manifest, storage_options)
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
