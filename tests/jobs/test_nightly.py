"""Nightly incremental rescoring end to end on a real S3 server (moto) and a real Ray cluster."""

from __future__ import annotations

import pyarrow as pa
import pytest
import yaml

from al_ray import storage
from al_ray.nightly import NightlyState, run_nightly
from al_ray.scoring.config import ScoringConfig
from al_ray.task import TaskConfig

TEXTS = ["have a lovely day", "you are a worthless idiot", "thanks for the help", "I hate you, moron"]


def write_shard(url: str, n: int, so, salt: str = "") -> None:
    table = pa.table({"id": [f"{url.rsplit('/', 1)[-1]}-{i}" for i in range(n)],
                      "text": [f"{TEXTS[i % 4]}{salt}" for i in range(n)]})
    storage.write_parquet_atomic(table, url, so)


def names(urls) -> list[str]:
    return sorted(u.rsplit("/", 1)[-1] for u in urls)


@pytest.mark.slow
def test_nightly_scores_exactly_new_and_changed_shards(s3, ray_cluster, minilm_classifier_dir, tmp_path, capsys):
    bucket = s3.create_bucket("nightly-e2e")
    so = s3.storage_options
    corpus, out = f"{bucket}/corpus", f"{bucket}/scores"
    for i in range(3):
        write_shard(f"{corpus}/part-{i}.parquet", 6, so)
    config = ScoringConfig(task=TaskConfig(labels=["neither", "violating"]), model=str(minilm_classifier_dir),
                           mode="classifier", backend="transformers", workers=1, model_version="v1",
                           storage_options=so)

    # night 1: everything is new
    s1 = run_nightly(config, corpus, out, gpu_hour_price=3.0)
    assert (s1.shards_new, s1.shards_changed, s1.shards_scored, s1.shards_failed) == (3, 0, 3, 0)
    assert s1.rows_scored == 18 and s1.rows_per_second > 0 and s1.failures == []
    assert s1.gpus_per_worker == 0 and s1.gpu_hours > 0  # CPU cluster: one unit per worker
    assert s1.estimated_cost == pytest.approx(s1.scoring_seconds / 3600 * 3.0, rel=0.01, abs=1e-6)
    state = NightlyState.load(out, so)
    assert names(state.shards) == ["part-0.parquet", "part-1.parquet", "part-2.parquet"]
    etag_before = {fi.url: fi.etag for fi in storage.list_files(out, ".parquet", so)}

    # night 2: one shard added, one rewritten (same size: only the ETag tells)
    write_shard(f"{corpus}/part-3.parquet", 4, so)
    write_shard(f"{corpus}/part-1.parquet", 6, so, salt="!")
    s2 = run_nightly(config, corpus, out, gpu_hour_price=3.0)
    assert (s2.shards_new, s2.shards_changed, s2.shards_unchanged) == (1, 1, 2)
    assert names(s2.scored) == ["part-1.parquet", "part-3.parquet"] and s2.rows_scored == 10
    storage.resolve(out, so)[0].invalidate_cache()
    etag_after = {fi.url: fi.etag for fi in storage.list_files(out, ".parquet", so)}
    untouched = [u for u in etag_before if u.endswith(("part-0.parquet", "part-2.parquet"))]
    assert all(etag_after[u] == etag_before[u] for u in untouched)  # not rewritten
    assert etag_after[f"{out}/part-1.parquet"] != etag_before[f"{out}/part-1.parquet"]
    texts = storage.read_parquet(f"{out}/part-1.parquet", so).num_rows
    assert texts == 6

    # night 3, through the job entry point: nothing changed, nothing scored, exit 0, no secrets
    from jobs import nightly
    from jobs.common import parse_summary_line

    cfg = tmp_path / "scoring.yaml"
    cfg.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    code = nightly.main(["--config", str(cfg), "--corpus", corpus, "--scores-out", out, "--gpu-hour-price", "3",
                         "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-3000:]
    doc = parse_summary_line(captured.out)
    assert doc["result"]["shards_scored"] == 0 and doc["result"]["rows_scored"] == 0
    assert doc["result"]["shards_unchanged"] == 4 and doc["result"]["estimated_cost"] == 0
    assert "could not write" not in captured.err, captured.err[-2000:]
    storage.resolve(out, so)[0].invalidate_cache()  # written through another s3fs instance
    written = storage.read_json(f"{out}/_job_summary_nightly.json", so)
    assert written == doc
    assert s3.secret not in captured.out + captured.err + str(written)

    # night 4: a new model version rescoring everything
    s4 = run_nightly(config.model_copy(update={"model_version": "v2"}), corpus, out, gpu_hour_price=3.0)
    assert s4.model_version_changed and (s4.shards_changed, s4.shards_scored) == (4, 4)
    versions = storage.read_parquet(f"{out}/part-0.parquet", so, columns=["model_version"]).column(0).to_pylist()
    assert set(versions) == {"v2"}
    assert run_nightly(config.model_copy(update={"model_version": "v2"}), corpus, out,
                       gpu_hour_price=3.0).shards_scored == 0


@pytest.mark.slow
def test_failed_shard_is_not_recorded_and_is_retried(s3, ray_cluster, minilm_classifier_dir):
    bucket = s3.create_bucket("nightly-fail")
    so = s3.storage_options
    corpus, out = f"{bucket}/corpus", f"{bucket}/scores"
    storage.write_bytes_atomic(f"{corpus}/broken.parquet", b"this is not parquet", so)
    config = ScoringConfig(task=TaskConfig(labels=["neither", "violating"]), model=str(minilm_classifier_dir),
                           mode="classifier", backend="transformers", workers=1, model_version="v1",
                           storage_options=so)
    s1 = run_nightly(config, corpus, out, gpu_hour_price=1.0)
    assert (s1.shards_new, s1.shards_scored, s1.shards_failed) == (1, 0, 1) and not s1.ok
    assert s1.failures[0]["shard"].endswith("broken.parquet") and s1.failures[0]["kind"] == "quarantined"
    assert NightlyState.load(out, so).shards == {}
    # next night: the broken shard is tried again (it was never recorded)
    s2 = run_nightly(config, corpus, out, gpu_hour_price=1.0)
    assert (s2.shards_new, s2.shards_scored, s2.shards_failed) == (1, 0, 1)
    # fixed upstream: scored and recorded, and the night after is quiet
    write_shard(f"{corpus}/broken.parquet", 2, so)
    s3_ = run_nightly(config, corpus, out, gpu_hour_price=1.0)
    assert (s3_.shards_scored, s3_.shards_failed, s3_.rows_scored) == (1, 0, 2) and s3_.ok
    assert names(NightlyState.load(out, so).shards) == ["broken.parquet"]
    assert run_nightly(config, corpus, out, gpu_hour_price=1.0).shards_scored == 0
