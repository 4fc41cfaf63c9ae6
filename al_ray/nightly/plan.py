"""Decide which corpus shards a nightly pass must score.

A shard's *fingerprint* is ``storage.FileInfo.fingerprint`` (size, ETag, last-modified), which on
object stores changes whenever the object is rewritten: the ETag is a content hash for single-part
uploads and a new value for every multipart upload, and LastModified moves on every PUT.

Local files have no ETag, and their mtime can be too coarse to see a rewrite within the same tick
(1-2 s on some filesystems, or preserved by ``cp -p``/``rsync -t``) while a Parquet file of the same
rows often keeps its size. For local (``file``) shards the fingerprint therefore also carries a
SHA-256 of the file's last ``LOCAL_TAIL_BYTES`` bytes: that covers the Parquet footer (row-group
offsets, sizes and min/max statistics) and the last data pages, so a rewrite with other content
changes it, at the cost of one small read per shard. Small files are hashed whole.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Mapping

from al_ray import storage
from al_ray.errors import InputError
from al_ray.nightly.state import NightlyState, refresh
from al_ray.security import scrub
from al_ray.storage import FileInfo

LOCAL_TAIL_BYTES = 64 * 1024

REASON_NEW = "new"
REASON_CONTENT = "content_changed"
REASON_MODEL = "model_version_changed"


def fingerprint(info: FileInfo, storage_options: Mapping[str, Any] | None = None) -> str:
    """The change-detection key of one listed shard (see the module docstring)."""
    fp = info.fingerprint
    if storage.protocol_of(info.url) in ("file", "local"):
        fs, path = storage.resolve(info.url, storage_options)
        n = min(info.size, LOCAL_TAIL_BYTES)
        with fs.open(path, "rb") as f:
            if n:
                f.seek(info.size - n)
            tail = f.read(n)
        fp += ":tail-sha256=" + hashlib.sha256(tail).hexdigest()
    return fp


@dataclass(frozen=True)
class RescorePlan:
    """What a nightly pass will do; ``to_score`` is new + changed, in URL order."""

    corpus: str
    scores_out: str
    model_version: str
    new: list[FileInfo] = field(default_factory=list)
    changed: list[FileInfo] = field(default_factory=list)
    unchanged: list[FileInfo] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)

    @property
    def to_score(self) -> list[FileInfo]:
        return sorted(self.new + self.changed, key=lambda fi: fi.url)

    @property
    def model_version_changed(self) -> bool:
        return any(r == REASON_MODEL for r in self.reasons.values())

    @property
    def nothing_to_do(self) -> bool:
        return not self.new and not self.changed

    def to_dict(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus, "scores_out": self.scores_out, "model_version": self.model_version,
            "new": [fi.url for fi in self.new], "changed": [fi.url for fi in self.changed],
            "unchanged": len(self.unchanged), "removed": list(self.removed), "reasons": dict(self.reasons),
        }


def plan_rescore(corpus: str, scores_out: str, model_version: str,
                 storage_options: Mapping[str, Any] | None = None, *,
                 state: NightlyState | None = None) -> RescorePlan:
    """Compare the corpus listing with the saved state.

    - new: a shard URL the state has never recorded;
    - changed: recorded, but its fingerprint differs, or it was scored with another model version
      (so a new model version makes every shard changed);
    - unchanged: same fingerprint and model version;
    - removed: recorded, no longer listed (reported; its old score file is left in place).

    An empty listing raises ``InputError`` rather than reporting every shard removed.
    """
    if not model_version:
        raise ValueError("model_version must be a non-empty string")
    refresh(corpus, storage_options)
    infos = storage.list_files(corpus, ".parquet", storage_options)
    if not infos:
        # Never read an empty listing as "every shard was removed": a mistyped or briefly invisible
        # corpus would otherwise wipe the state and make the next night rescore everything.
        raise InputError("no .parquet shards found", location=scrub(corpus))
    if state is None:
        state = NightlyState.load(scores_out, storage_options)
    new: list[FileInfo] = []
    changed: list[FileInfo] = []
    unchanged: list[FileInfo] = []
    reasons: dict[str, str] = {}
    fps: dict[str, str] = {}
    for info in infos:
        fp = fingerprint(info, storage_options)
        fps[info.url] = fp
        rec = state.shards.get(info.url)
        if rec is None:
            new.append(info)
            reasons[info.url] = REASON_NEW
        elif rec.fingerprint != fp:
            changed.append(info)
            reasons[info.url] = REASON_CONTENT
        elif rec.model_version != model_version:
            changed.append(info)
            reasons[info.url] = REASON_MODEL
        else:
            unchanged.append(info)
    listed = {fi.url for fi in infos}
    removed = sorted(u for u in state.shards if u not in listed)
    return RescorePlan(corpus=corpus, scores_out=scores_out, model_version=model_version, new=new,
                       changed=changed, unchanged=unchanged, removed=removed, reasons=reasons, fingerprints=fps)
