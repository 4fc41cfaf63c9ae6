"""The incremental duplicate-id check (al_ray.scoring.duplicate_state): after a change it reads only
the changed shards, and its report is the full check's, exactly.

Real parts: score files and id sidecars written by the project's writer, the real listing, a real
local Ray cluster running the map and reduce tasks.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from al_ray import storage
from al_ray.layout import DUPLICATE_STATE_DIR, SCORE_IDS_SUFFIX
from al_ray.scoring import duplicate_state
from al_ray.scoring.duplicates import find_duplicate_ids
from tests.scoring.test_driver_scale import _listing_sources, _score_file

pytestmark = pytest.mark.slow

# several partitions and map tasks, so that saved partitions and remapped owners are both exercised
KW = {"rows_per_partition": 64, "files_per_task": 3}


def _ids(k: int, n: int = 20) -> list[str]:
    return [f"id-{k}-{i}" for i in range(n)]


def _corpus(out: Path, n: int) -> list[str]:
    rels = [f"s{k:02d}.parquet" for k in range(n)]
    for k, rel in enumerate(rels):
        _score_file(out, rel, _ids(k) + (["id-0-3"] if k == 4 else []))  # one planted duplicate
    return rels


def _facts(rep) -> tuple:
    return rep.count, rep.extra_rows, rep.rows_checked, rep.shards_checked, rep.examples


def _check(out: Path, rels: list[str], **kw):
    return find_duplicate_ids(_listing_sources(out, rels), state_dir=str(out / DUPLICATE_STATE_DIR), **{**KW, **kw})


def _full(out: Path, rels: list[str]):
    """A fresh full check, with no saved state: what the incremental one must equal."""
    return find_duplicate_ids(_listing_sources(out, rels), **KW)


def _remove_shard(out: Path, rel: str) -> None:
    for suffix in ("", SCORE_IDS_SUFFIX, storage.DONE_SUFFIX):
        storage.remove(str(out / (rel + suffix)))


def test_a_resume_reads_only_changed_shards_and_reports_what_a_full_check_reports(ray_cluster, tmp_path):
    out = tmp_path / "out"
    rels = _corpus(out, 9)
    first = _check(out, rels)
    assert first.count == 1 and first.shards_from_saved == 0 and first.from_sidecars == 9
    assert first.partitions > 1 and _facts(first) == _facts(_full(out, rels))
    # each partition is saved sorted by hash, so the next check's stable sort is close to a merge
    saved = duplicate_state.load(str(out / DUPLICATE_STATE_DIR), None)
    parts = [duplicate_state.load_partition(saved.part_url(p), None) for p in range(saved.partitions)]
    assert sum(len(h) for h, _ in parts) == first.rows_checked
    assert all(np.all(h[1:] >= h[:-1]) and len(h) == len(o) for h, o in parts)

    # nothing changed, but no previous report to reuse: every shard's hashes come from the saved state
    same = _check(out, rels)
    assert not same.reused and same.shards_from_saved == 9 and same.from_sidecars == 0
    assert _facts(same) == _facts(first)

    # an added shard that repeats an id of an unchanged one
    rels.append("s09.parquet")
    _score_file(out, rels[-1], _ids(9) + ["id-7-1"])
    added = _check(out, rels)
    assert added.shards_from_saved == 9 and added.from_sidecars == 1
    assert added.count == 2 and _facts(added) == _facts(_full(out, rels))
    assert {e["id"] for e in added.examples} == {"id-0-3", "id-7-1"}

    # a rescored shard whose new rows drop one duplicate and add another, and a removed shard
    _score_file(out, "s04.parquet", _ids(4) + ["id-2-5", "id-2-6"])
    _remove_shard(out, "s07.parquet")
    rels.remove("s07.parquet")
    changed = _check(out, rels)
    assert changed.shards_from_saved == 8 and changed.from_sidecars == 1  # only s04 read again
    full = _full(out, rels)
    assert _facts(changed) == _facts(full)
    assert changed.count == 2 and {e["id"] for e in changed.examples} == {"id-2-5", "id-2-6"}
    for e in changed.examples:  # the owners of saved hashes were remapped: the shards are named right
        assert e["shards"] == ["s02.parquet", "s04.parquet"]

    # one saved state is kept: the files of earlier checks are gone
    names = {p.name for p in (out / DUPLICATE_STATE_DIR).iterdir()}
    tokens = {n.split("-")[1] for n in names if n.startswith("part-")}
    assert len(tokens) == 1 and f"covered-{tokens.pop()}.npz" in names and duplicate_state.STATE_FILE in names


def test_a_corpus_that_outgrew_the_saved_partitions_gets_a_full_check(ray_cluster, tmp_path):
    out = tmp_path / "out"
    rels = _corpus(out, 3)
    first = _check(out, rels, rows_per_partition=1_000)
    assert first.partitions == 1
    for k in range(3, 9):
        rels.append(f"s{k:02d}.parquet")
        _score_file(out, rels[-1], _ids(k) + (["id-1-1"] if k == 8 else []))
    grown = _check(out, rels)  # 64 rows a partition now: more than the saved one
    assert grown.partitions > 1 and grown.shards_from_saved == 0 and grown.from_sidecars == 9
    assert _facts(grown) == _facts(_full(out, rels)) and grown.count == 1  # id-1-1 (3 shards: no id-0-3)
    assert duplicate_state.load(str(out / DUPLICATE_STATE_DIR), None).partitions == grown.partitions


@pytest.mark.parametrize("damage", ["state_json", "covered_list", "partition"])
def test_an_unreadable_saved_state_costs_a_full_check_not_a_wrong_report(ray_cluster, tmp_path, caplog, damage):
    out = tmp_path / "out"
    rels = _corpus(out, 6)
    _check(out, rels)
    state_dir = out / DUPLICATE_STATE_DIR
    target = {"state_json": state_dir / duplicate_state.STATE_FILE,
              "covered_list": next(state_dir.glob("covered-*.npz")),
              "partition": next(state_dir.glob("part-*.npz"))}[damage]
    target.write_bytes(b"not what was saved")
    rels.append("s06.parquet")
    _score_file(out, rels[-1], _ids(6) + ["id-5-0"])
    # a damaged partition reads back only in its reduce task: that pass fails, and the check runs again
    # over every shard (a damaged state must not stop every later check)
    with caplog.at_level(logging.WARNING):
        again = _check(out, rels)
    assert again.shards_from_saved == 0 and again.from_sidecars == 7
    assert _facts(again) == _facts(_full(out, rels)) and again.count == 2
    assert ("could not be used" if damage == "partition" else "unreadable") in caplog.text
    # and the new state it saved serves the next check
    assert _check(out, rels).shards_from_saved == 7
