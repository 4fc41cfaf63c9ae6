"""Reading selection's output: the batch items and the duplicate groups it dropped."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import pyarrow as pa

from al_ray import storage
from al_ray.errors import InputError
from al_ray.layout import BATCH_FILE, DEDUP_FILE
from al_ray.security import scrub

_REQUIRED = ("id", "text", "round")


@dataclass
class Batch:
    """The items of one labelling batch, in batch order."""

    url: str
    items: list[dict[str, Any]]
    dedup: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_id = {it["id"]: it for it in self.items}
        self.dup_of = {d["id"]: d["representative_id"] for d in self.dedup}

    @property
    def ids(self) -> list[str]:
        return [it["id"] for it in self.items]

    @property
    def rounds(self) -> set[int]:
        return {int(it["round"]) for it in self.items if it.get("round") is not None}

    @property
    def round(self) -> int | None:
        """The batch's round (the most common one if, unusually, items carry several)."""
        rounds = [int(it["round"]) for it in self.items if it.get("round") is not None]
        return max(set(rounds), key=rounds.count) if rounds else None


def read_batch(batch_dir: str, storage_options: Mapping[str, Any] | None = None, *,
               with_dedup: bool = True) -> Batch:
    url = storage.join(batch_dir, BATCH_FILE)
    try:
        table = storage.read_parquet(url, storage_options)
    except FileNotFoundError as exc:
        raise InputError("labelling batch not found (selection writes it)", location=scrub(url)) from exc
    missing = [c for c in _REQUIRED if c not in table.column_names]
    if missing:
        raise InputError(f"batch lacks column(s) {missing} (see al_ray.schemas.batch_schema)",
                         location=scrub(url))
    table = table.set_column(table.column_names.index("id"), "id", table["id"].cast(pa.string()))
    items = table.to_pylist()
    seen: set[str] = set()
    for row, it in enumerate(items):
        if it["id"] is None:
            raise InputError(f"row {row}: null id", location=scrub(url))
        if it["id"] in seen:
            raise InputError(f"row {row}: duplicate id {it['id']!r}", location=scrub(url))
        seen.add(it["id"])
    dedup: list[dict[str, Any]] = []
    if with_dedup:
        durl = storage.join(batch_dir, DEDUP_FILE)
        if storage.exists(durl, storage_options):
            dt = storage.read_parquet(durl, storage_options)
            missing = [c for c in ("id", "representative_id") if c not in dt.column_names]
            if missing:
                raise InputError(f"dedup groups lack column(s) {missing}", location=scrub(durl))
            dedup = dt.to_pylist()
            for d in dedup:
                d["id"], d["representative_id"] = str(d["id"]), str(d["representative_id"])
    return Batch(url=url, items=items, dedup=dedup)
