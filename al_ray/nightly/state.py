"""The nightly state file: which shard was scored, from which content, with which model version.

``<scores_out>/_nightly_state.json`` (leading underscore: score listings skip it)::

    {
      "format": "al_ray.nightly_state/v1",
      "updated_at": "2026-11-24T03:00:00+00:00",
      "shards": {
        "s3://bucket/corpus/part-0000.parquet": {
          "fingerprint": "1234:9b2cf535f27731c974343645a3985328:2026-11-23 02:10:00+00:00",
          "model_version": "r003",
          "scored_at": "2026-11-24T02:58:12+00:00",
          "rows": 100000
        }
      }
    }

It is written atomically (``storage.write_json_atomic``) and only after a scoring pass, recording
only the shards whose score file completed: a shard that failed keeps its previous record (or
none), so its fingerprint or model version still differs next night and it is retried.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from al_ray import storage
from al_ray.clock import utc_now  # noqa: F401  (re-exported for al_ray.nightly.run)
from al_ray.errors import InputError
from al_ray.layout import NIGHTLY_STATE_FILE as STATE_FILE
STATE_FORMAT = "al_ray.nightly_state/v1"


def state_url(scores_out: str) -> str:
    return storage.join(scores_out, STATE_FILE)


def refresh(url: str, storage_options: Mapping[str, Any] | None = None) -> None:
    """Drop fsspec's cached listings for ``url``'s filesystem.

    s3fs/gcsfs cache directory listings per filesystem instance (shared process-wide by options),
    and ``cat_file``/``find`` consult that cache: in a long-lived process a shard or state file
    written since the last listing (by another process, or through an instance created with the
    same options in another order) would look absent — a new shard skipped, or the state taken
    for empty and every shard rescored. Nightly decisions are made on fresh listings only.
    """
    fs, _ = storage.resolve(url, storage_options)
    if not storage.is_local(fs):
        fs.invalidate_cache()


@dataclass(frozen=True)
class ShardRecord:
    """What was scored for one corpus shard."""

    fingerprint: str
    model_version: str
    scored_at: str
    rows: int | None = None


@dataclass
class NightlyState:
    """Per-shard records, keyed by the shard URL as ``storage.list_files`` returns it."""

    shards: dict[str, ShardRecord] = field(default_factory=dict)
    updated_at: str | None = None

    @classmethod
    def load(cls, scores_out: str, storage_options: Mapping[str, Any] | None = None) -> "NightlyState":
        """The saved state, or an empty one when none exists yet (the first night scores everything)."""
        url = state_url(scores_out)
        refresh(url, storage_options)
        try:
            data = storage.read_json(url, storage_options)
        except FileNotFoundError:
            return cls()
        except ValueError as exc:  # JSONDecodeError
            raise InputError(f"not valid JSON ({exc}); delete it to rescore every shard", location=url) from exc
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT or not isinstance(data.get("shards"), dict):
            raise InputError(f"not a nightly state file (expected format {STATE_FORMAT!r}); "
                             "delete it to rescore every shard", location=url)
        try:
            shards = {u: ShardRecord(**rec) for u, rec in data["shards"].items()}
        except TypeError as exc:
            raise InputError(f"malformed shard record: {exc}", location=url) from exc
        return cls(shards=shards, updated_at=data.get("updated_at"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "updated_at": self.updated_at,
            "shards": {u: asdict(r) for u, r in sorted(self.shards.items())},
        }

    def save(self, scores_out: str, storage_options: Mapping[str, Any] | None = None) -> None:
        self.updated_at = utc_now()
        storage.write_json_atomic(state_url(scores_out), self.to_dict(), storage_options)
