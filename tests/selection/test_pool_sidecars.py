"""The candidate pool from the scoring actors' sidecars equals the full scan's, row for row."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from al_ray import storage
from al_ray.errors import EmptyPoolError, InputError
from al_ray.scoring import topk
from al_ray.scoring.writer import publish
from al_ray.selection import SelectionConfig, extract_pool
from al_ray.selection.pool import list_score_files
from tests.selection.synth import score_table

LABELS = ["neg", "neu", "pos"]


def _probs(rng, n, quantize=None, labels=LABELS):
    p = rng.dirichlet(np.ones(len(labels)) * 0.6, size=n)
    if quantize:  # many ties: the (priority, file, row) order decides
        p = np.round(p * quantize) / quantize
        p = p / p.sum(1, keepdims=True)
    return p


def _write(root, probs_per_file, k, *, sidecar=None, row_group_size=40, labels=LABELS, version="v1",
           empty=None):
    """Score files through the scoring writer (``publish``): sidecars of K=k for the files where
    ``sidecar[f]`` is true (all by default), none for the others (files scored before sidecars)."""
    for f, probs in enumerate(probs_per_file):
        ids = [f"f{f}r{i}" for i in range(len(probs))]
        t = score_table(ids, probs, labels, f"{root}/corpus/s{f}.parquet", np.arange(len(probs)),
                        version=version if isinstance(version, str) else version[f])
        if empty is not None and f in empty:
            e = np.zeros(len(probs), bool)
            e[empty[f]] = True
            t = t.set_column(t.schema.get_field_index("empty_text"), "empty_text", pa.array(e))
        url = f"{root}/scores/s{f:03d}.parquet"
        on = True if sidecar is None else bool(sidecar[f])
        publish(t, url, {}, None, candidates_per_shard=k if on else 0)
        if row_group_size:  # several row groups per score file, as large shards have
            storage.write_parquet_atomic(t, url, row_group_size=row_group_size)
    return f"{root}/scores"


def _both(scores, cfg, **kw):
    side = extract_pool(scores, cfg, **kw)
    full = extract_pool(scores, cfg, sidecars=False, **kw)
    assert full.stats["sidecars"]["used"] is False
    assert side.table.column("id").to_pylist() == full.table.column("id").to_pylist()
    assert side.table.to_pylist() == full.table.to_pylist()  # every column, same order
    assert side.rows_scanned == full.rows_scanned
    assert side.model_versions.keys() == full.model_versions.keys()  # (the file named: whichever came first)
    return side, full


@pytest.fixture
def corpus(tmp_path):
    rng = np.random.default_rng(3)
    sizes = (200, 7, 350, 90, 1, 260)
    return _write(str(tmp_path), [_probs(rng, n, quantize=12) for n in sizes], k=12), sum(sizes)


@pytest.mark.parametrize("measure", ["entropy", "margin", "least_confidence"])
@pytest.mark.parametrize("stratify", [False, True])
@pytest.mark.parametrize("workers", [1, 3])
def test_sidecar_pool_equals_full_scan(corpus, measure, stratify, workers):
    scores, rows = corpus
    pool = 30 if stratify else 12  # per stratum 10 or 12: at most K, so no shard needs reading in full
    cfg = SelectionConfig(pool_size=pool, measure=measure, stratify=stratify, io_workers=workers,
                          read_batch_size=1024)
    side, full = _both(scores, cfg)
    st_ = side.stats["sidecars"]
    assert st_["used"] and st_["from_sidecars"] == 6 and st_["read_in_full"] == 0
    assert side.rows_scanned == rows == full.stats["sidecars"]["rows_read"]
    assert st_["rows_read"] < rows / 2  # the point: K x shards rows, not every row
    assert not side.warnings
    if stratify:
        labs = side.table.column("predicted_label").to_pylist()
        assert {lab: labs.count(lab) for lab in LABELS} == {lab: 10 for lab in LABELS}


@pytest.mark.parametrize("stratify", [False, True])
def test_pool_larger_than_k_reads_some_shards_in_full(corpus, stratify):
    scores, _ = corpus
    cfg = SelectionConfig(pool_size=90, measure="entropy", stratify=stratify, io_workers=2)
    side, _ = _both(scores, cfg)
    why = side.stats["sidecars"]["read_in_full_why"]
    assert why.get("k_below_pool", 0) > 0 and "missing" not in why


@pytest.mark.parametrize("measure", ["entropy", "margin"])
@pytest.mark.parametrize("stratify", [False, True])
def test_exclusions_that_empty_a_shards_sidecar_force_its_rescan(tmp_path, measure, stratify):
    rng = np.random.default_rng(8)
    confident = lambda n: rng.dirichlet(np.ones(3) * 0.2, size=n)  # noqa: E731
    uncertain = rng.dirichlet(np.ones(3) * 30, size=300)  # the corpus's most uncertain rows, all in s001
    scores = _write(str(tmp_path), [confident(200), uncertain, confident(150)], k=12)
    cfg = SelectionConfig(pool_size=24 if stratify else 8, measure=measure, stratify=stratify, io_workers=2)
    # labelled already: every sidecar row of s001, so its unkept rows now compete for the pool
    side_rows = storage.read_parquet(topk.candidates_sidecar_url(f"{scores}/s001.parquet"), None, ["id"])
    exclude = set(side_rows.column("id").to_pylist())
    side, full = _both(scores, cfg, exclude_ids=exclude)
    assert side.stats["sidecars"]["read_in_full_why"] == {"cutoff": 1}
    assert side.stats["sidecars"]["from_sidecars"] == 2
    ids = side.table.column("id").to_pylist()
    assert not set(ids) & exclude
    assert any(i.startswith("f1r") for i in ids)  # the rescan found the shard's next rows
    # without the exclusions the sidecars alone make the pool
    side, _ = _both(scores, cfg)
    assert side.stats["sidecars"]["read_in_full"] == 0


@pytest.mark.parametrize("measure, threshold", [("least_confidence", 0.55), ("margin", 0.08), ("entropy", 0.9),
                                                ("entropy", 0.999)])
@pytest.mark.parametrize("stratify", [False, True])
def test_thresholds(corpus, measure, threshold, stratify):
    scores, _ = corpus
    cfg = SelectionConfig(pool_size=30, measure=measure, threshold=threshold, stratify=stratify, io_workers=2)
    try:
        side, full = _both(scores, cfg)
    except EmptyPoolError:
        with pytest.raises(EmptyPoolError):
            extract_pool(scores, cfg, sidecars=False)
        return
    assert side.stats["sidecars"]["used"]


def test_old_score_files_without_sidecars_are_read_in_full_with_a_warning(tmp_path):
    rng = np.random.default_rng(4)
    scores = _write(str(tmp_path), [_probs(rng, n) for n in (120, 80, 150, 60)], k=10,
                    sidecar=[True, False, True, False])
    cfg = SelectionConfig(pool_size=10, measure="margin")
    side, full = _both(scores, cfg)
    st_ = side.stats["sidecars"]
    assert st_["read_in_full_why"] == {"missing": 2} and st_["from_sidecars"] == 2
    assert [w for w in side.warnings if "no candidate sidecar" in w] == [
        f"2 of 4 score files have no candidate sidecar (<score file>{topk.candidates_sidecar_url('')}: scored "
        "before sidecars existed, or with candidates_per_shard 0); they were read in full"]
    assert not any("sidecar" in w for w in full.warnings)  # a full scan asked for: nothing to say


def test_unreadable_sidecar_falls_back(tmp_path):
    rng = np.random.default_rng(5)
    scores = _write(str(tmp_path), [_probs(rng, 100), _probs(rng, 100)], k=5)
    storage.write_bytes_atomic(topk.candidates_sidecar_url(f"{scores}/s001.parquet"), b"not parquet")
    side, _ = _both(scores, SelectionConfig(pool_size=5))
    assert side.stats["sidecars"]["read_in_full_why"] == {"unreadable": 1}
    assert any("could not be used" in w and "s001.parquet" in w for w in side.warnings)


def test_random_pool_and_empty_texts_kept_read_in_full(corpus):
    scores, _ = corpus
    res = extract_pool(scores, SelectionConfig(pool_size=20, pool_order="random", seed=3))
    assert res.stats["sidecars"]["used"] is False and "random" in res.stats["sidecars"]["off_reason"]
    assert res.stats["sidecars"]["rows_read"] == res.rows_scanned
    res = extract_pool(scores, SelectionConfig(pool_size=20, exclude_empty_text=False))
    assert res.stats["sidecars"]["used"] is False and "exclude_empty_text" in res.stats["sidecars"]["off_reason"]


def test_empty_texts_nan_and_versions_are_reported_as_by_the_full_scan(tmp_path):
    rng = np.random.default_rng(6)
    probs = [_probs(rng, 90), _probs(rng, 90), _probs(rng, 90)]
    probs[1][[3, 50]] = np.nan
    scores = _write(str(tmp_path), probs, k=6, empty={0: [1, 2, 5], 2: list(range(0, 90, 2))})
    side, full = _both(scores, SelectionConfig(pool_size=8))
    for name in ("rows", "nan_rows", "empty_text"):
        assert side.stats[name] == full.stats[name]
    assert side.stats["empty_text"] == 3 + 45 and side.stats["nan_rows"] == 2
    assert [w for w in side.warnings if "NaN" in w] == [w for w in full.warnings if "NaN" in w]
    with pytest.raises(InputError, match="s001.parquet"):
        extract_pool(scores, SelectionConfig(pool_size=8, nan_policy="error"))
    mixed = _write(str(tmp_path / "m"), [_probs(rng, 40), _probs(rng, 40)], k=4, version=["r1", "r2"])
    with pytest.raises(InputError, match="different model versions"):
        extract_pool(mixed, SelectionConfig(pool_size=5, io_workers=1))


def test_embedding_column_travels_in_the_sidecar(tmp_path):
    rng = np.random.default_rng(7)
    root = str(tmp_path)
    for f in range(3):
        n = 70
        t = score_table([f"f{f}r{i}" for i in range(n)], _probs(rng, n), LABELS, "s", np.arange(n))
        emb = rng.normal(size=(n, 4)).astype(np.float32)
        t = t.append_column("embedding", pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1)), 4))
        publish(t, f"{root}/scores/s{f}.parquet", {}, None, candidates_per_shard=5)
    cfg = SelectionConfig(pool_size=5, embedding={"source": "scores"})
    side, _ = _both(f"{root}/scores", cfg)
    assert side.stats["embedding_in_scores"] and "embedding" in side.table.column_names


def test_sidecars_are_not_score_files(corpus):
    scores, _ = corpus
    listed = list_score_files(scores)
    assert len(listed) == 6 and all(u.endswith(".parquet") for u in listed)
    assert all(storage.exists(topk.candidates_sidecar_url(u)) for u in listed)


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(1, 90), min_size=1, max_size=5), k=st.integers(1, 20),
       pool=st.integers(1, 40), q=st.sampled_from([None, 3, 8]), seed=st.integers(0, 1000),
       stratify=st.booleans(), measure=st.sampled_from(["entropy", "margin", "least_confidence"]),
       n_exclude=st.integers(0, 30), threshold=st.sampled_from([None, 0.3, 0.7]))
def test_property_sidecar_pool_is_the_full_scan_pool(tmp_path_factory, sizes, k, pool, q, seed, stratify,
                                                     measure, n_exclude, threshold):
    root = str(tmp_path_factory.mktemp("prop"))
    rng = np.random.default_rng(seed)
    labels = LABELS[:2] if seed % 2 else LABELS
    scores = _write(root, [_probs(rng, n, q, labels) for n in sizes], k, row_group_size=16, labels=labels,
                    sidecar=[(seed >> i) % 5 != 0 for i in range(len(sizes))])
    all_ids = [f"f{f}r{i}" for f, n in enumerate(sizes) for i in range(n)]
    exclude = set(rng.choice(all_ids, size=min(n_exclude, len(all_ids)), replace=False).tolist())
    if measure == "margin" and threshold is not None:
        threshold = 1 - threshold
    cfg = SelectionConfig(pool_size=pool, measure=measure, stratify=stratify, threshold=threshold, io_workers=2)
    try:
        full = extract_pool(scores, cfg, exclude_ids=exclude, sidecars=False)
    except EmptyPoolError:
        with pytest.raises(EmptyPoolError):
            extract_pool(scores, cfg, exclude_ids=exclude)
        return
    side = extract_pool(scores, cfg, exclude_ids=exclude)
    assert side.table.to_pylist() == full.table.to_pylist()


def test_stratified_cutoff_of_a_file_seen_in_one_stratum_so_far(tmp_path):
    """Regression (full scan too): a file whose first row groups hold only one predicted label used
    to prune its local pool to cut-off arrays of one stratum, which numpy broadcast onto every
    stratum, so the other label's rows were dropped against the first label's cut-off."""
    p_pos = np.r_[0.45, 0.40, 0.35, 0.9, 0.8]  # rows 0-2 "neg" (one row group each), then "pos"
    t = score_table([f"r{i}" for i in range(5)], np.column_stack([1 - p_pos, p_pos]), ["neg", "pos"], "s",
                    np.arange(5))
    storage.write_parquet_atomic(t, f"{tmp_path}/scores/a.parquet", row_group_size=1)
    for sidecars in (False, True):
        res = extract_pool(f"{tmp_path}/scores", SelectionConfig(pool_size=2, stratify=True, io_workers=1),
                           sidecars=sidecars)
        assert res.table.column("id").to_pylist() == ["r0", "r4"]


@pytest.mark.parametrize("measure, threshold, pool", [("least_confidence", 0.3, 10), ("margin", 0.5, 10),
                                                      ("entropy", 0.6, 10), ("least_confidence", 0.64, 50)])
def test_threshold_counts_still_tell_a_capped_pool(tmp_path, measure, threshold, pool):
    """past_threshold from sidecars is a lower bound, but it still says whether pool_size capped the
    pool (what the shortfall advice of select_batch reads) and the 'rows pass threshold' warning."""
    from al_ray.selection.api import _eligible_rows

    rng = np.random.default_rng(9)
    scores = _write(str(tmp_path), [_probs(rng, n) for n in (150, 90, 200)], k=6)
    cfg = SelectionConfig(pool_size=pool, measure=measure, threshold=threshold)
    side, full = _both(scores, cfg)
    capped = [_eligible_rows(r, cfg) > len(r.table) for r in (side, full)]
    assert capped[0] == capped[1]
    assert side.stats["past_threshold"] <= full.stats["past_threshold"]
    warned = [any("pass threshold" in w for w in r.warnings) for r in (side, full)]
    assert warned[0] == warned[1]
    if not side.stats["sidecars"]["past_threshold_exact"]:
        assert any("at least" in w for w in side.warnings)
