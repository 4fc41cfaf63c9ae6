"""Change detection for nightly rescoring, without scoring (plan_rescore + the state file)."""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pytest

from al_ray import storage
from al_ray.errors import InputError
from al_ray.nightly import NightlyState, ShardRecord, plan_rescore, state_url
from al_ray.nightly.plan import REASON_CONTENT, REASON_MODEL, REASON_NEW


def write_shard(url: str, texts: list[str], so=None) -> None:
    table = pa.table({"id": [f"{os.path.basename(url)}-{i}" for i in range(len(texts))], "text": texts})
    storage.write_parquet_atomic(table, url, so)


def record_all(plan, version: str, scores_out: str, so=None) -> None:
    state = NightlyState.load(scores_out, so)
    for fi in plan.to_score:
        state.shards[fi.url] = ShardRecord(plan.fingerprints[fi.url], version, "t", rows=1)
    for u in plan.removed:
        state.shards.pop(u, None)
    state.save(scores_out, so)


def test_local_new_changed_unchanged_removed(tmp_path):
    corpus, out = str(tmp_path / "corpus"), str(tmp_path / "scores")
    for i in range(3):
        write_shard(f"{corpus}/part-{i}.parquet", [f"text {i} {j}" for j in range(5)])
    plan = plan_rescore(corpus, out, "v1")
    assert len(plan.new) == 3 and not plan.changed and not plan.unchanged
    assert set(plan.reasons.values()) == {REASON_NEW}
    record_all(plan, "v1", out)

    assert plan_rescore(corpus, out, "v1").nothing_to_do

    # modify part-1 in place keeping its size and mtime (a same-length text, mtime restored):
    # only the content hash of the tail can see it.
    p1 = f"{corpus}/part-1.parquet"
    st = os.stat(p1)
    write_shard(p1, [f"TEXT 1 {j}" for j in range(5)])
    os.utime(p1, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(p1).st_size == st.st_size
    write_shard(f"{corpus}/part-3.parquet", ["new"])
    os.remove(f"{corpus}/part-0.parquet")

    plan = plan_rescore(corpus, out, "v1")
    assert [os.path.basename(f.url) for f in plan.new] == ["part-3.parquet"]
    assert [os.path.basename(f.url) for f in plan.changed] == ["part-1.parquet"]
    assert plan.reasons[plan.changed[0].url] == REASON_CONTENT
    assert [os.path.basename(f.url) for f in plan.unchanged] == ["part-2.parquet"]
    assert [os.path.basename(u) for u in plan.removed] == ["part-0.parquet"]
    assert [os.path.basename(f.url) for f in plan.to_score] == ["part-1.parquet", "part-3.parquet"]
    record_all(plan, "v1", out)
    assert plan_rescore(corpus, out, "v1").nothing_to_do

    plan = plan_rescore(corpus, out, "v2")
    assert len(plan.changed) == 3 and plan.model_version_changed
    assert set(plan.reasons.values()) == {REASON_MODEL}


def test_state_file_is_beside_scores_and_skipped_by_listings(tmp_path):
    corpus, out = str(tmp_path / "c"), str(tmp_path / "s")
    write_shard(f"{corpus}/a.parquet", ["x"])
    record_all(plan_rescore(corpus, out, "v1"), "v1", out)
    doc = json.loads((tmp_path / "s" / "_nightly_state.json").read_text())
    assert doc["format"] == "al_ray.nightly_state/v1"
    assert list(doc["shards"]) == [f"{corpus}/a.parquet"]
    assert doc["shards"][f"{corpus}/a.parquet"]["model_version"] == "v1"
    assert storage.list_files(out, ".json") == []  # leading underscore: not a score artefact


def test_corrupt_state_is_an_input_error(tmp_path):
    out = str(tmp_path / "s")
    storage.write_bytes_atomic(state_url(out), b"{not json")
    with pytest.raises(InputError, match="_nightly_state.json"):
        NightlyState.load(out)
    storage.write_json_atomic(state_url(out), {"format": "other"})
    with pytest.raises(InputError):
        NightlyState.load(out)


def test_missing_corpus_and_empty_version(tmp_path):
    with pytest.raises(InputError, match="no .parquet shards"):  # never "every shard removed"
        plan_rescore(str(tmp_path / "nope"), str(tmp_path / "s"), "v1")
    with pytest.raises(ValueError):
        plan_rescore(str(tmp_path), str(tmp_path / "s"), "")


@pytest.mark.slow
def test_s3_etag_detects_same_size_rewrite(s3):
    bucket = s3.create_bucket("nightly-plan")
    so = s3.storage_options
    corpus, out = f"{bucket}/corpus", f"{bucket}/scores"
    for i in range(2):
        write_shard(f"{corpus}/part-{i}.parquet", [f"t{i}{j}" for j in range(4)], so)
    plan = plan_rescore(corpus, out, "v1", so)
    assert len(plan.new) == 2 and all(fi.etag for fi in plan.new)
    record_all(plan, "v1", out, so)
    assert plan_rescore(corpus, out, "v1", so).nothing_to_do
    write_shard(f"{corpus}/part-0.parquet", [f"T0{j}" for j in range(4)], so)  # same size, new bytes
    plan = plan_rescore(corpus, out, "v1", so)
    assert [fi.url for fi in plan.changed] == [f"{corpus}/part-0.parquet"]
    assert plan.reasons[f"{corpus}/part-0.parquet"] == REASON_CONTENT
