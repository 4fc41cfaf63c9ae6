"""Corpus-wide calibration (issue 13): one label prior for the whole corpus, so the same text gets the
same probabilities whichever shard it is in; per-shard ('batch') calibration does not."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from al_ray.scoring.job import CALIBRATION_NAME, run_scoring
from al_ray.scoring.uncertainty import calibrate
from tests.scoring.conftest import clf_config, write_shard

pytestmark = pytest.mark.slow

SHARED = "the meeting moved to thursday, bring the report"
HOSTILE = [f"you are a worthless idiot number {i}, shut up and get lost" for i in range(40)]
CALM = [f"thanks for the lovely dinner on day {i}, see you soon" for i in range(40)]


def _corpus(root):
    # shard a leans one way, shard b the other: a per-shard prior differs between them
    write_shard(root / "a.parquet", [f"a{i}" for i in range(41)], HOSTILE + [SHARED])
    write_shard(root / "b.parquet", [f"b{i}" for i in range(41)], CALM + [SHARED])
    return root


def _p(out, shard: str, row_id: str) -> np.ndarray:
    t = pq.read_table(out / shard).to_pydict()
    i = t["id"].index(row_id)
    return np.array([t["p_neither"][i], t["p_violating"][i]])


def _run(minilm_classifier_dir, corpus, out, calibration: str):
    cfg = clf_config(minilm_classifier_dir, backend="transformers", calibration=calibration)
    s = run_scoring(cfg, str(corpus), str(out), progress=False)
    assert s.ok
    return s


def test_same_text_same_probabilities_in_two_shards(ray_cluster, tmp_path, minilm_classifier_dir):
    corpus = _corpus(tmp_path / "corpus")
    _run(minilm_classifier_dir, corpus, tmp_path / "raw", "none")
    _run(minilm_classifier_dir, corpus, tmp_path / "batch", "batch")
    s = _run(minilm_classifier_dir, corpus, tmp_path / "corpus_cal", "corpus")

    # per-shard prior: the shared text scores differently in the two shards
    assert np.abs(_p(tmp_path / "batch", "a.parquet", "a40") - _p(tmp_path / "batch", "b.parquet", "b40")).max() > 1e-3
    # one prior: identical in both shards
    pa_, pb = _p(tmp_path / "corpus_cal", "a.parquet", "a40"), _p(tmp_path / "corpus_cal", "b.parquet", "b40")
    np.testing.assert_allclose(pa_, pb, rtol=0, atol=1e-12)

    # the prior is the corpus mean of the raw probabilities (the corpus is smaller than the sample)
    raw = np.concatenate([np.stack([pq.read_table(tmp_path / "raw" / f).column(c).to_numpy()
                                    for c in ("p_neither", "p_violating")], axis=1) for f in ("a.parquet", "b.parquet")])
    np.testing.assert_allclose(s.calibration_prior, raw.mean(axis=0), rtol=1e-6)
    assert s.calibration_rows == 82 and s.calibration == "corpus"
    np.testing.assert_allclose(pa_, calibrate(_p(tmp_path / "raw", "a.parquet", "a40")[None], raw.mean(axis=0))[0],
                               rtol=1e-6)
    # and it moved the probabilities (the scout leans to one label on this corpus)
    assert np.abs(pa_ - _p(tmp_path / "raw", "a.parquet", "a40")).max() > 1e-3
    meta = json.loads((tmp_path / "corpus_cal" / "a.parquet.done").read_text())
    assert meta["calibration"] == "corpus" and meta["calibration_prior"] == s.calibration_prior


def test_resume_reuses_the_recorded_prior(ray_cluster, tmp_path, minilm_classifier_dir):
    corpus = _corpus(tmp_path / "corpus")
    out = tmp_path / "out"
    first = _run(minilm_classifier_dir, corpus, out, "corpus")
    recorded = json.loads((out / CALIBRATION_NAME).read_text())
    before = _p(out, "b.parquet", "b40")
    # shard b is rescored on the resume; shard a stays; the prior must not be re-estimated
    (out / "b.parquet.done").unlink()
    (corpus / "c.parquet").parent.mkdir(exist_ok=True)
    write_shard(corpus / "c.parquet", [f"c{i}" for i in range(40)], HOSTILE)  # would move a fresh estimate
    again = _run(minilm_classifier_dir, corpus, out, "corpus")
    assert again.shards_scored == 2 and again.shards_skipped_done == 1
    assert again.calibration_prior == first.calibration_prior
    assert json.loads((out / CALIBRATION_NAME).read_text())["estimated_at"] == recorded["estimated_at"]
    np.testing.assert_allclose(_p(out, "b.parquet", "b40"), before, rtol=0, atol=1e-12)
    # everything done: the summary still reports the prior the shards used
    done = _run(minilm_classifier_dir, corpus, out, "corpus")
    assert done.shards_scored == 0 and done.calibration_prior == first.calibration_prior
