"""bench_scoring_driver_s3: how request counts are summarised and judged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import bench_scoring_driver_s3 as bench

REPO = Path(__file__).resolve().parents[2]


def _phase(counts: dict, shards: int, seconds: float = 1.0) -> dict:
    return {"requests": bench.count_summary(counts, shards), "seconds": seconds, "peak_rss_bytes": 200 << 20}


def test_count_summary():
    c = bench.count_summary({("GET", "list"): 4, ("GET", "get"): 16, ("HEAD", "head"): 1}, 200)
    assert c["by_method_kind"] == {"GET get": 16, "GET list": 4, "HEAD head": 1}
    assert c["by_kind"] == {"get": 16, "head": 1, "list": 4}
    assert c["total"] == 21 and c["per_shard"] == 0.105 and c["non_list_per_shard"] == 0.085


def test_listing_bound_is_pages_per_folder():
    # 10 folders of 3,000 keys: 3 pages each (+1 slack), and the root
    assert bench.listing_bound(10_000, 3, 10) == 10 * 4 + 2
    assert bench.listing_bound(200, 1, 1) == 1 * 2 + 2


def test_verdict_passes_a_driver_that_lists_once():
    n = 10_000
    plan = {("GET", "list"): 42, ("GET", "get"): 16, ("HEAD", "head"): 1}
    resume = {("GET", "list"): 42, ("GET", "get"): 16 + n, ("HEAD", "head"): 1 + n, ("PUT", "put"): 1}
    again = {("GET", "list"): 42, ("GET", "get"): 17, ("HEAD", "head"): 1, ("PUT", "put"): 1}
    one = {("GET", "list"): 42, ("GET", "get"): 16 + n, ("HEAD", "head"): 1, ("PUT", "put"): 1}
    # one sidecar and the saved state read, the state written again: O(partitions)
    changed = {("GET", "list"): 43, ("GET", "get"): 22, ("HEAD", "head"): 3, ("PUT", "put"): 4, ("DELETE", "delete"): 3}
    v = bench.verdict({"plan": _phase(plan, n), "resume": _phase(resume, n, 131.0), "resume_again": _phase(again, n),
                       "resume_changed": {**_phase(changed, n), "duplicate_check": {"partitions": 1}},
                       "resume_one_request_reads": _phase(one, n), "plan_half": _phase(plan, n)}, n, 16)
    assert v["requests_ok"], v
    assert v["resume_changed_no_request_per_shard"] and v["resume_changed_requests_beyond_plan"] == 16
    # an incremental check that read every sidecar again would fail
    every = {**changed, ("GET", "get"): 16 + n}
    assert not bench.verdict({"plan": _phase(plan, n), "resume_changed": {**_phase(every, n),
                                                                           "duplicate_check": {"partitions": 1}}},
                             n, 16)["requests_ok"]
    assert v["resume_requests_beyond_plan_per_shard"] == 2.0
    assert v["one_request_reads_beyond_plan_per_shard"] == 1.0
    assert v["seconds_within_goal"] == {"plan": True, "resume": False, "resume_again": True, "resume_changed": True,
                                        "resume_one_request_reads": True, "plan_half": True}
    assert v["peak_rss_within_goal"]


def test_verdict_fails_a_request_per_shard_or_a_listing_per_shard():
    n = 10_000
    per_shard_head = {("GET", "list"): 42, ("GET", "get"): 16, ("HEAD", "head"): n}
    v = bench.verdict({"plan": _phase(per_shard_head, n)}, n, 16)
    assert v["plan_one_listing"] and not v["plan_no_request_per_shard"] and not v["requests_ok"]
    per_shard_list = {("GET", "list"): n, ("GET", "get"): 16}
    v = bench.verdict({"plan": _phase(per_shard_list, n)}, n, 16)
    assert not v["plan_one_listing"] and not v["requests_ok"]


@pytest.mark.slow
def test_script_on_a_tiny_corpus(tmp_path):
    out = tmp_path / "s3.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_scoring_driver_s3", "--shards", "20",
                           "--one-request-reads", "--out", str(out), "--workdir", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    res = json.loads(out.read_text())
    assert res["verdict"]["requests_ok"], res["verdict"]
    ph = res["phases"]
    assert ph["plan"]["done"] == 20 and ph["plan_half"]["todo"] == 10
    assert ph["resume"]["duplicate_check"]["from_sidecars"] == 20 and ph["resume_again"]["duplicate_check"]["reused"]
    assert ph["resume_one_request_reads"]["duplicate_check"]["from_sidecars"] == 20  # a full check
    ch = ph["resume_changed"]["duplicate_check"]
    assert (ch["from_sidecars"], ch["shards_from_saved"], ch["reused"]) == (1, 19, False)
    assert {"date", "command", "machine"} <= set(res)
