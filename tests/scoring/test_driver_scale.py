"""The scoring driver at scale: O(shards) planning and the distributed duplicate-id check (issue 16).

Real parts throughout: real Parquet written with the project's own writer, the real ``plan_scoring``
/ ``run_scoring``, a real local Ray cluster and (where rows are scored) a real transformers engine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from al_ray import storage
from al_ray.layout import SCORE_IDS_SUFFIX
from al_ray.scoring import reader
from al_ray.scoring.duplicates import find_duplicate_ids, map_partition, reduce_partition, sources_from_listing
from al_ray.scoring.job import list_outputs, plan_scoring, preflight, run_scoring
from al_ray.scoring.shard import hash_ids
from al_ray.scoring.writer import build_score_table, publish
from tests.faults.conftest import fast_config
from tests.scoring.conftest import clf_config, make_texts, write_shard

LABELS = ["neither", "violating"]


def _score_file(out: Path, rel: str, ids: list[str], sidecar: bool = True) -> None:
    """A finished shard as an actor leaves it: score file (+ id sidecar) + .done marker."""
    n = len(ids)
    table = build_score_table(ids=pa.array(ids, pa.string()), rows=np.arange(n), label_probs=np.full((n, 2), 0.5),
                              truncated=np.zeros(n, bool), empty=np.zeros(n, bool), labels=LABELS, model_id="m",
                              model_version="v", shard=rel)
    publish(table, str(out / rel), {"rows": n}, None,
            id_hashes=hash_ids(pa.array(ids, pa.string())) if sidecar else None)


def _corpus(root: Path, n: int, rows: int = 3) -> Path:
    for k in range(n):
        write_shard(root / f"part-{k:03d}.parquet", [f"d{k}-{i}" for i in range(rows)], make_texts(rows, k))
    return root


def test_plan_lists_the_output_once_and_reads_only_a_sample_of_footers(tmp_path, minilm_classifier_dir,
                                                                       monkeypatch):
    corpus, out = _corpus(tmp_path / "c", 40), tmp_path / "out"
    for k in range(0, 40, 2):  # half done
        _score_file(out, f"part-{k:03d}.parquet", [f"d{k}-{i}" for i in range(3)])
    calls = {"list": [], "footers": 0}
    real_list, real_walk, real_iter, real_check = (storage.list_files, storage.walk_files, storage.iter_files,
                                                   reader._check_one)

    def counting_list(url, suffix=".parquet", so=None):
        calls["list"].append(url)
        return real_list(url, suffix, so)

    def counting_walk(url, suffix=".parquet", so=None):
        calls["list"].append(url)
        return real_walk(url, suffix, so)

    def counting_iter(url, so=None):
        calls["list"].append(url)
        return real_iter(url, so)

    def counting_check(shard, task, so):
        calls["footers"] += 1
        return real_check(shard, task, so)

    def no_per_shard_request(*a, **kw):
        raise AssertionError("the planner asked for one shard's marker: it must use the listing")

    monkeypatch.setattr(storage, "list_files", counting_list)
    monkeypatch.setattr(storage, "iter_files", counting_iter)
    monkeypatch.setattr(reader, "_check_one", counting_check)
    monkeypatch.setattr(reader, "list_files", counting_list)
    monkeypatch.setattr(reader, "walk_files", counting_walk)
    monkeypatch.setattr(storage, "is_done", no_per_shard_request)
    monkeypatch.setattr(storage, "exists", no_per_shard_request)
    plan = plan_scoring(clf_config(minilm_classifier_dir), str(corpus), str(out))
    assert len(plan.checked) == 40 and len(plan.done_before) == 20 and len(plan.todo) == 20
    assert {s.rel for s in plan.todo} == {f"part-{k:03d}.parquet" for k in range(1, 40, 2)}
    assert calls["list"] == [str(corpus), str(out)]  # the corpus once, the output prefix once
    assert calls["footers"] == reader.PREFLIGHT_SAMPLE < 40
    sampled = [s for s in plan.checked if s.num_rows is not None]
    assert len(sampled) == reader.PREFLIGHT_SAMPLE and plan.checked[0].num_rows == 3  # the first is always checked
    assert plan.rows_estimate == 3 * 20  # mean sampled rows x shards to do
    # rescore: nothing listed at all
    calls["list"].clear()
    assert len(plan_scoring(clf_config(minilm_classifier_dir), str(corpus), str(out), rescore=True).todo) == 40
    assert calls["list"] == [str(corpus)]


def test_sample_is_seeded_and_includes_the_first_shard(tmp_path):
    shards = [reader.Shard("/c", f"s{i}.parquet") for i in range(1000)]
    a, b = reader.sample_shards(shards), reader.sample_shards(list(shards))
    assert a == b and a[0] == 0 and len(a) == reader.PREFLIGHT_SAMPLE and len(set(a)) == len(a)
    assert max(a) > 100  # spread over the listing, not its head
    assert reader.sample_shards(shards[:5]) == [0, 1, 2, 3, 4]


def test_preflight_sample_still_names_a_wrong_column_in_the_first_shard(tmp_path, minilm_classifier_dir):
    from al_ray.errors import InputError

    corpus = tmp_path / "c"
    corpus.mkdir()
    for k in range(50):
        pq.write_table(pa.table({"id": [f"{k}"], "body": ["x"]}), corpus / f"p{k:03d}.parquet")
    with pytest.raises(InputError, match=r"p000\.parquet: missing text column 'text'"):
        preflight(clf_config(minilm_classifier_dir), str(corpus))


@pytest.mark.slow
def test_unsampled_bad_shards_are_quarantined_by_the_actor(ray_cluster, tmp_path, minilm_classifier_dir, monkeypatch):
    monkeypatch.setattr(reader, "PREFLIGHT_SAMPLE", 2)
    corpus = _corpus(tmp_path / "c", 6)
    listed = reader.list_shards(str(corpus))
    unsampled = [s.rel for i, s in enumerate(listed) if i not in reader.sample_shards(listed)]
    drift, corrupt, badutf8 = unsampled[:3]
    pq.write_table(pa.table({"id": ["r0"], "body": ["x"]}), corpus / drift)
    (corpus / corrupt).write_bytes(b"PAR1" + b"\x00" * 100 + b"PAR1")
    bad = pa.Array.from_buffers(pa.string(), 2, [None, pa.py_buffer(b"\x00\x00\x00\x00\x02\x00\x00\x00\x04\x00\x00\x00"),
                                                 pa.py_buffer(b"ok\xff\xfe")], null_count=0)
    pq.write_table(pa.table({"id": ["u0", "u1"], "text": bad}), corpus / badutf8)
    out = tmp_path / "out"
    s = run_scoring(fast_config(minilm_classifier_dir), str(corpus), str(out), progress=False)
    failed = {Path(f.shard).name: f for f in s.failed_shards}
    assert set(failed) == {drift, corrupt, badutf8}
    assert all(f.kind == "quarantined" and f.attempts == 1 for f in failed.values())  # found by the actor
    assert f"{corpus / drift}: missing text column 'text'" in failed[drift].reason  # names the file
    assert "unreadable Parquet" in failed[corrupt].reason
    assert "invalid UTF-8" in failed[badutf8].reason
    assert s.shards_scored == 3 and s.rows_scored == 9 and s.rows_quarantined == 2  # bad_utf8's footer rows
    assert not (out / f"{drift}.done").exists()


def _listing_sources(out: Path, rels: list[str]):
    return sources_from_listing(str(out), list_outputs(str(out), sorted(rels)))


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["one_partition", "many_partitions_and_map_tasks"])
def test_partitioned_check_finds_planted_duplicates_exactly(ray_cluster, tmp_path, layout):
    out = tmp_path / "out"
    rels = [f"s{k:02d}.parquet" for k in range(12)]
    for k, rel in enumerate(rels):
        ids = [f"id-{k}-{i}" for i in range(50)]
        if k == 3:
            ids += ["id-0-7", "id-0-7"]  # twice here and once in s00: 2 extra rows
        if k == 9:
            ids += ["id-5-1"]
        _score_file(out, rel, ids, sidecar=(k != 5))  # s05: an old score file without a sidecar
    kw = {} if layout == "one_partition" else {"rows_per_partition": 64, "files_per_task": 3}
    rep = find_duplicate_ids(_listing_sources(out, rels), **kw)
    assert rep.count == 2 and rep.extra_rows == 3 and rep.shards_checked == 12
    assert rep.from_sidecars == 11 and rep.from_score_files == 1
    if layout != "one_partition":
        assert rep.partitions > 5 and rep.map_tasks == 4  # 12 files, 3 a task
    ex = {e["id"]: e for e in rep.examples}
    assert ex["id-0-7"]["shards"] == ["s00.parquet", "s03.parquet"] and ex["id-0-7"]["occurrences"] == 3
    assert ex["id-5-1"]["shards"] == ["s05.parquet", "s09.parquet"] and ex["id-5-1"]["occurrences"] == 2
    assert 0 < rep.task_peak_private_mb < 2048 and 0 <= rep.task_private_rise_mb <= rep.task_peak_private_mb
    # the same report reused when nothing changed; a changed sidecar listing invalidates it
    again = find_duplicate_ids(_listing_sources(out, rels), previous=rep.model_dump(), **kw)
    assert again.reused and again.count == 2 and again.from_sidecars == 0
    storage.remove(str(out / ("s03.parquet" + SCORE_IDS_SUFFIX)))
    third = find_duplicate_ids(_listing_sources(out, rels), previous=rep.model_dump(), **kw)
    assert not third.reused and third.count == 2 and third.from_score_files == 2


def test_check_tasks_report_their_own_private_memory(tmp_path):
    """Each map and reduce task reports its worker's private memory (RssAnon) at its largest point and
    how much the task added: not ru_maxrss, which a reused Ray worker carries over from earlier tasks,
    object-store pages included (RESULTS.md 5d)."""
    out = tmp_path / "out"
    rels = [f"s{k}.parquet" for k in range(3)]
    for k, rel in enumerate(rels):
        _score_file(out, rel, [f"id-{k}-{i}" for i in range(50)] + (["id-0-7"] if k == 2 else []))
    *parts, stats = map_partition(list(enumerate(_listing_sources(out, rels))), 2, None)
    reduced = [reduce_partition(p) for p in parts]  # one map task: each partition is one part
    assert sum(r["count"] for r in reduced) == 1 and stats["rows"] == 151
    for fig in (stats, *reduced):  # this pytest process's figures: present and consistent (its heap is the suite's)
        assert fig["peak_private_mb"] > 0 and 0 <= fig["private_rise_mb"] <= fig["peak_private_mb"]
    # In a fresh process (as a Ray task starts near empty), the rise is the task's own arrays: 2M hashes
    # and owners (24 MB) concatenated, ordered and sorted. In the long-lived test process the allocator
    # may reuse freed memory and show no rise, so the magnitude is checked apart.
    code = ("import json, numpy as np; from al_ray.scoring.duplicates import reduce_partition; "
            "rng = np.random.default_rng(0); "
            "big = (rng.integers(0, 2**63, 2_000_000, dtype=np.uint64), np.zeros(2_000_000, np.int32)); "
            "print(json.dumps(reduce_partition(big)))")
    fig = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                    cwd=Path(__file__).resolve().parents[2]).stdout.strip().splitlines()[-1])
    assert 40 < fig["private_rise_mb"] < 2048 and fig["peak_private_mb"] >= fig["private_rise_mb"]


@pytest.mark.slow
def test_duplicates_across_shards_through_sidecars_resume_and_fallback(ray_cluster, tmp_path, minilm_classifier_dir,
                                                                      monkeypatch):
    c, out = tmp_path / "c", tmp_path / "out"
    write_shard(c / "a.parquet", ["x", "a1", "a2"], make_texts(3, 1))
    write_shard(c / "b.parquet", ["b0", "b1"], make_texts(2, 2))
    write_shard(c / "c.parquet", ["c0", "x"], make_texts(2, 3))  # 'x' planted in a and c
    cfg = fast_config(minilm_classifier_dir)
    monkeypatch.setattr(storage, "is_done", lambda *a, **k: (_ for _ in ()).throw(AssertionError("is_done per shard")))
    s = run_scoring(cfg, str(c), str(out), progress=False)
    assert s.ok and s.shards_scored == 3
    d = s.duplicate_ids
    assert (d.count, d.extra_rows, d.from_sidecars, d.from_score_files) == (1, 1, 3, 0)
    assert d.examples == [{"id": "x", "shards": ["a.parquet", "c.parquet"], "occurrences": 2}]
    for rel in ("a.parquet", "b.parquet", "c.parquet"):
        got = np.load(out / (rel + SCORE_IDS_SUFFIX))
        assert np.array_equal(got, hash_ids(pq.read_table(out / rel).column("id").combine_chunks()))
    # resume with nothing to do: the previous report is reused, nothing is read
    again = run_scoring(cfg, str(c), str(out), progress=False)
    assert again.shards_scored == 0 and again.duplicate_ids.reused and again.duplicate_ids.count == 1
    # one shard re-scored: only its new sidecar is read, the other two come from the saved partitions
    storage.remove(str(out / "c.parquet.done"))
    third = run_scoring(cfg, str(c), str(out), progress=False)
    assert third.shards_scored == 1 and third.shards_skipped_done == 2
    d = third.duplicate_ids
    assert (d.count, d.from_sidecars, d.shards_from_saved, d.reused) == (1, 1, 2, False)
    assert d.examples == [{"id": "x", "shards": ["a.parquet", "c.parquet"], "occurrences": 2}]
    # an old score file without a sidecar: its id column is read instead, the duplicate still found
    storage.remove(str(out / ("a.parquet" + SCORE_IDS_SUFFIX)))
    fourth = run_scoring(cfg, str(c), str(out), progress=False)
    d = fourth.duplicate_ids
    assert (d.count, d.from_sidecars, d.from_score_files, d.shards_from_saved, d.reused) == (1, 0, 1, 2, False)
    assert d.examples[0]["id"] == "x"
    # switched off: no check, no report
    off = run_scoring(cfg.model_copy(update={"check_duplicate_ids": False}), str(c), str(out), progress=False)
    assert off.duplicate_ids.count == 0 and off.duplicate_ids.shards_checked == 0
