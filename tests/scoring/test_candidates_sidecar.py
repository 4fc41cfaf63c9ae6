"""The candidate sidecar a scoring actor writes beside each score file (al_ray.scoring.topk)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from al_ray import schemas, storage
from al_ray.scoring import topk
from al_ray.scoring.writer import build_score_table, publish
from al_ray.selection.pool import list_score_files

LABELS = ["a", "b", "c"]


def _table(n: int, seed: int = 0, quantize: int | None = None, empty_every: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(len(LABELS)) * 0.7, size=n)
    if quantize:  # many equal measures: the cut-off's tie-break by position matters
        probs = np.round(probs * quantize) / quantize + 1e-9
    empty = np.zeros(n, bool)
    if empty_every:
        empty[::empty_every] = True
    return build_score_table(ids=pa.array([f"id{i}" for i in range(n)]), rows=np.arange(n) + 7, label_probs=probs,
                             truncated=np.zeros(n, bool), empty=empty, labels=LABELS, model_id="m",
                             model_version="v1", shard="s3://c/part-0.parquet", task={"labels": LABELS})


def _brute(table: pa.Table, k: int):
    """Per (measure, scope): the top-k positions by (priority desc, position asc) among non-empty rows."""
    empty = table.column("empty_text").to_numpy(zero_copy_only=False)
    pred = np.array(table.column(schemas.PREDICTED).to_pylist(), dtype=object)
    out = {}
    for m in schemas.MEASURES:
        p = topk.priority(m, table.column(m).to_numpy())
        for scope in [topk.ALL, *sorted(set(pred))]:
            rows = [i for i in range(len(p)) if not empty[i] and not np.isnan(p[i]) and (scope == topk.ALL or pred[i] == scope)]
            rows.sort(key=lambda i: (-p[i], i))
            out[m, scope] = (rows[:k], rows[k:], p)
    return out


@pytest.mark.parametrize("quantize, empty_every", [(None, 0), (6, 0), (None, 5)])
def test_sidecar_holds_each_scopes_top_k_and_its_cutoff(tmp_path, quantize, empty_every):
    table = _table(300, seed=1, quantize=quantize, empty_every=empty_every)
    k = 17
    url = str(tmp_path / "scores" / "part-00000.parquet")
    publish(table, url, {"rows": 300}, None, candidates_per_shard=k)
    assert storage.is_done(url)
    side = pq.read_table(topk.candidates_sidecar_url(url))
    meta = topk.read_meta(side.schema)
    assert meta["k"] == k and meta["rows"] == 300
    assert meta["model_versions"] == {"v1": 300}
    n_empty = int(table.column("empty_text").to_numpy(zero_copy_only=False).sum())
    assert meta["empty_text"] == {m: n_empty for m in schemas.MEASURES}
    assert meta["nan"] == {m: 0 for m in schemas.MEASURES}
    # the task metadata of the score file travels along
    assert schemas.task_from_schema(side.schema) == {"labels": LABELS} == schemas.task_from_schema(table.schema)

    brute = _brute(table, k)
    expected = sorted({i for (kept, _, _) in brute.values() for i in kept})
    positions = side.column(topk.POSITION_COLUMN).to_pylist()
    assert positions == expected  # the union of every scope's top k, in score-file order
    # the kept rows are the score file's rows, column for column
    assert side.drop_columns([topk.POSITION_COLUMN]).to_pylist() == table.take(pa.array(positions)).to_pylist()
    kept = set(positions)
    for (m, scope), (top, rest, p) in brute.items():
        cut = meta["cutoffs"][m][topk.ALL] if scope == topk.ALL else meta["cutoffs"][m]["labels"][scope]
        best = meta["unkept_best"][m][topk.ALL] if scope == topk.ALL else meta["unkept_best"][m]["labels"][scope]
        if not rest:
            assert cut is None and best is None
            continue
        assert cut == [float(p[top[-1]]), top[-1]]
        # every row of the scope that is not in the sidecar ranks strictly after the cut-off
        for i in rest:
            if i not in kept:
                assert (p[i] < cut[0]) or (p[i] == cut[0] and i > cut[1])
        tv = table.column(topk.threshold_column(m)).to_numpy()
        unkept = [tv[i] for i in rest if i not in kept]
        assert best == (None if not unkept else float(min(unkept) if m == "margin" else max(unkept)))
    assert not set(np.flatnonzero(table.column("empty_text").to_numpy(zero_copy_only=False))) & kept


def test_at_most_k_rows_keeps_every_row(tmp_path):
    table = _table(40, seed=2)
    url = str(tmp_path / "part-00000.parquet")
    publish(table, url, {}, None, candidates_per_shard=40)
    side = pq.read_table(topk.candidates_sidecar_url(url))
    meta = topk.read_meta(side.schema)
    assert side.column(topk.POSITION_COLUMN).to_pylist() == list(range(40))
    for m in schemas.MEASURES:
        assert meta["cutoffs"][m][topk.ALL] is None
        assert all(c is None for c in meta["cutoffs"][m]["labels"].values())
        assert meta["unkept_best"][m][topk.ALL] is None


def test_k_zero_writes_none_and_removes_a_stale_one(tmp_path):
    url = str(tmp_path / "part-00000.parquet")
    publish(_table(50, seed=3), url, {}, None, candidates_per_shard=4)
    side = topk.candidates_sidecar_url(url)
    assert storage.exists(side)
    publish(_table(50, seed=4), url, {}, None, candidates_per_shard=0)  # a rescore with sidecars off
    assert not storage.exists(side) and storage.is_done(url)
    publish(_table(50, seed=5), url, {}, None)  # publish's default: none
    assert not storage.exists(side)


def test_empty_shard_and_nan_measures():
    empty = _table(0)
    positions, meta = topk.select_candidates(empty, 8)
    assert len(positions) == 0 and meta["rows"] == 0
    assert all(meta["cutoffs"][m][topk.ALL] is None for m in schemas.MEASURES)
    t = _table(30, seed=6)
    ent = t.column("entropy").to_numpy().copy()
    ent[[0, 3, 4]] = np.nan
    t = t.set_column(t.schema.get_field_index("entropy"), "entropy", pa.array(ent))
    positions, meta = topk.select_candidates(t, 5)
    assert meta["nan"]["entropy"] == 3 and meta["nan"]["margin"] == 0
    cut = meta["cutoffs"]["entropy"][topk.ALL]
    assert not np.isnan(cut[0])


def test_a_sidecar_is_not_a_score_file(tmp_path):
    url = str(tmp_path / "scores" / "part-00000.parquet")
    publish(_table(20), url, {}, None, candidates_per_shard=3)
    assert list_score_files(str(tmp_path / "scores")) == [url]
    assert not topk.candidates_sidecar_url(url).endswith(".parquet")


def test_read_meta_rejects_other_files():
    with pytest.raises(ValueError, match="not a candidate sidecar"):
        topk.read_meta(pa.schema([pa.field("id", pa.string())]))
    bad = pa.schema([pa.field(topk.POSITION_COLUMN, pa.int64())],
                    metadata={topk.METADATA_KEY: json.dumps({"version": 99}).encode()})
    with pytest.raises(ValueError, match="format 99"):
        topk.read_meta(bad)


class _FakeEngine:
    """What score_shard needs of an engine: labels and score_texts (no model)."""

    labels = LABELS

    def score_texts(self, texts):
        from al_ray.scoring.engines.base import EngineOutput

        h = np.array([[(hash((t, j)) % 1000) + 1 for j in range(len(LABELS))] for t in texts], np.float64)
        return EngineOutput(label_probs=h / h.sum(1, keepdims=True), truncated=np.zeros(len(texts), bool))


def test_score_shard_writes_the_sidecar_before_the_marker(tmp_path):
    from al_ray.scoring.config import ScoringConfig
    from al_ray.scoring.shard import ShardResult, score_shard
    from al_ray.task import TaskConfig

    shard = tmp_path / "corpus" / "part-00000.parquet"
    shard.parent.mkdir()
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(120)], "text": [f"text {i}" for i in range(120)]}),
                   shard, row_group_size=50)
    cfg = ScoringConfig(task=TaskConfig(labels=LABELS), model=str(tmp_path / "model"), candidates_per_shard=9,
                        batch_rows=32)
    out = str(tmp_path / "scores" / "part-00000.parquet")
    results = list(score_shard(_FakeEngine(), cfg, shard_url=str(shard), rel="part-00000.parquet", out_url=out,
                               model_id="fake", model_version="v1"))
    assert isinstance(results[-1], ShardResult) and results[-1].status == "scored"
    assert storage.is_done(out)
    side = pq.read_table(topk.candidates_sidecar_url(out))
    meta = topk.read_meta(side.schema)
    assert meta["k"] == 9 and meta["rows"] == 120
    positions, _ = topk.select_candidates(pq.read_table(out), 9)
    assert side.column(topk.POSITION_COLUMN).to_pylist() == positions.tolist()
