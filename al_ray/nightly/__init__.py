"""Nightly incremental rescoring: score only the corpus shards that are new or changed.

A corpus grows and changes between nights; rescoring all of it each night wastes GPU hours.
``plan_rescore`` compares the corpus listing (URL + size/ETag/mtime fingerprint) with a state file
kept beside the scores (``<scores_out>/_nightly_state.json``) and sorts every shard into new,
changed, unchanged or removed; a change of model version makes every shard scored with another
version "changed". ``run_nightly`` scores exactly the new and changed shards, then records the
shards that completed, so a failed shard is retried the next night and a rerun scores nothing.

    from al_ray.nightly import plan_rescore, run_nightly
    plan = plan_rescore("s3://corpus/", "s3://scores/", model_version="r003")
    summary = run_nightly(scoring_config, "s3://corpus/", "s3://scores/", gpu_hour_price=2.5)
"""

from al_ray.nightly.plan import RescorePlan, fingerprint, plan_rescore
from al_ray.nightly.run import NightlySummary, estimate_cost, run_nightly
from al_ray.nightly.state import STATE_FILE, NightlyState, ShardRecord, state_url

__all__ = [
    "NightlyState", "NightlySummary", "RescorePlan", "STATE_FILE", "ShardRecord", "estimate_cost",
    "fingerprint", "plan_rescore", "run_nightly", "state_url",
]
