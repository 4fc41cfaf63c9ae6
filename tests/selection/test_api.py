"""select_batch end to end on local files (embeddings carried in the score files: no model)."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from al_ray import schemas, storage
from al_ray.errors import InputError, PoolExhaustedError
from al_ray.selection import SelectionConfig, select_batch
from al_ray.selection.embed import is_local_encoder
from al_ray.task import TaskConfig
from tests.selection.synth import score_table, unit

LABELS = ["neither", "violating"]
TASK = TaskConfig(labels=LABELS)


def _world(root: str, n: int = 400, seed: int = 0, dup_of: dict[int, int] | None = None):
    """Corpus + score files with an embedding column; ``dup_of`` plants exact copies (copy -> original)."""
    rng = np.random.default_rng(seed)
    texts = [f"item {i}: " + " ".join(rng.choice(["red", "blue", "green", "cat", "dog", "sun", "rain", "sky"], 10))
             for i in range(n)]
    emb = unit(rng.normal(size=(n, 24)))
    for c, o in (dup_of or {}).items():
        texts[c] = texts[o].upper() + " !!"
        emb[c] = emb[o]
    p = rng.uniform(0.2, 0.8, n)
    for c, o in (dup_of or {}).items():
        p[c] = p[o]  # same text, same score: the original ranks first (earlier file/row)
    probs = np.column_stack([1 - p, p])
    half = n // 2
    for s, (lo, hi) in enumerate(((0, half), (half, n))):
        ids = [f"doc{i}" for i in range(lo, hi)]
        shard = f"{root}/corpus/part-{s}.parquet"
        storage.write_parquet_atomic(pa.table({"id": ids, "text": texts[lo:hi]}), shard, row_group_size=64)
        t = score_table(ids, probs[lo:hi], LABELS, shard, np.arange(hi - lo))
        t = t.append_column("embedding", pa.FixedSizeListArray.from_arrays(pa.array(emb[lo:hi].reshape(-1)), 24))
        storage.write_parquet_atomic(t, f"{root}/scores/part-{s}.parquet", row_group_size=64)
    return f"{root}/scores", f"{root}/corpus", texts, probs


@pytest.mark.parametrize("strategy", ["boundary_pairs", "cluster_margin", "entropy", "random"])
def test_batch_files(tmp_path, strategy):
    dup_of = {201: 3, 202: 3, 300: 10}
    scores, corpus, texts, probs = _world(str(tmp_path), dup_of=dup_of)
    out = str(tmp_path / "out")
    cfg = SelectionConfig(n=30, strategy=strategy, pool_size=400, seed=1)
    res = select_batch(cfg, TASK, scores, corpus, out, round=2)
    assert res.n_selected == 30 and res.pool_size == 400 and res.dropped_duplicates >= 3
    batch = pq.read_table(res.batch_url)
    assert batch.schema.equals(schemas.batch_schema(LABELS))
    ids = batch.column("id").to_pylist()
    assert len(set(ids)) == 30
    for row in batch.to_pylist():
        i = int(row["id"][3:])
        assert row["text"] == texts[i]
        assert row["p_violating"] == pytest.approx(probs[i, 1])
        assert row["reason"] and row["round"] == 2
    planted = {f"doc{c}" for c in dup_of}
    assert not planted & set(ids), "a planted copy is never sent: its original (more uncertain or equal) stands for it"
    jsonl = [json.loads(line) for line in storage.read_bytes(f"{out}/batch.jsonl").decode().splitlines()]
    assert jsonl == batch.to_pylist()
    groups = pq.read_table(f"{out}/dedup_groups.parquet")
    assert groups.schema.equals(schemas.DEDUP_GROUPS_SCHEMA)
    assert set(groups.column("representative_id").to_pylist()) <= set(ids)
    cands = pq.read_table(f"{out}/candidates.parquet")
    dup = dict(zip(cands.column("id").to_pylist(), cands.column("duplicate_of").to_pylist()))
    for c, o in dup_of.items():
        assert dup[f"doc{c}"] == f"doc{o}" and dup[f"doc{o}"] is None
    assert cands.column("selected").to_pylist().count(True) == 30
    summary = storage.read_json(f"{out}/selection_summary.json")
    assert summary["n_selected"] == 30 and summary["embedding_source"] == "scores:embedding"
    assert storage.is_done(res.batch_url)


def test_dedup_groups_map_dropped_copies_to_batch_items(tmp_path):
    scores, corpus, _, _ = _world(str(tmp_path), n=200, dup_of={150: 5, 151: 5})
    cfg = SelectionConfig(n=200 - 2, strategy="random", pool_size=200, dedup={"semantic": False})
    res = select_batch(cfg, TASK, scores, corpus, str(tmp_path / "out"))
    groups = pq.read_table(f"{tmp_path}/out/dedup_groups.parquet").to_pylist()
    assert sorted((g["id"], g["representative_id"], g["kind"]) for g in groups) == \
        [("doc150", "doc5", "exact"), ("doc151", "doc5", "exact")]
    assert all(g["text"].startswith("ITEM 5:") for g in groups)
    assert res.n_selected == 198


def test_rounds_exclude_earlier_batches_and_are_deterministic(tmp_path):
    scores, corpus, _, _ = _world(str(tmp_path))
    cfg = SelectionConfig(n=20, strategy="boundary_pairs", pool_size=100)
    r0 = select_batch(cfg, TASK, scores, corpus, str(tmp_path / "r0"), round=0)
    again = select_batch(cfg, TASK, scores, corpus, str(tmp_path / "r0b"), round=0)
    ids0 = pq.read_table(r0.batch_url).column("id").to_pylist()
    assert ids0 == pq.read_table(again.batch_url).column("id").to_pylist()
    r1 = select_batch(cfg, TASK, scores, corpus, str(tmp_path / "r1"), round=1, exclude_ids=ids0)
    ids1 = pq.read_table(r1.batch_url).column("id").to_pylist()
    assert not set(ids0) & set(ids1)
    assert storage.read_json(f"{tmp_path}/r1/selection_summary.json")["scan"]["excluded"] == 20


def test_pool_too_small(tmp_path):
    scores, corpus, _, _ = _world(str(tmp_path), n=60, dup_of={50: 1})
    with pytest.raises(PoolExhaustedError, match="59 unique"):
        select_batch(SelectionConfig(n=60, pool_size=60), TASK, scores, corpus, str(tmp_path / "o"))
    res = select_batch(SelectionConfig(n=60, pool_size=60, allow_partial=True), TASK, scores, corpus,
                       str(tmp_path / "o"))
    assert res.n_selected == 59 and any("allow_partial" in w for w in res.warnings)


def test_missing_embeddings(tmp_path):
    scores, corpus, _, _ = _world(str(tmp_path), n=50)
    with pytest.raises(InputError, match="needs candidate embeddings"):
        select_batch(SelectionConfig(n=5, embedding={"source": "none"}, dedup={"semantic": False}),
                     TASK, scores, corpus, str(tmp_path / "o"))
    res = select_batch(SelectionConfig(n=5, strategy="entropy", embedding={"source": "none"}), TASK, scores,
                       corpus, str(tmp_path / "o"))
    assert any("semantic dedup skipped" in w for w in res.warnings)
    # a score file without the embedding column while 'scores' is demanded: named error
    t = pq.read_table(f"{scores}/part-1.parquet").drop_columns(["embedding"])
    storage.write_parquet_atomic(t, f"{scores}/part-1.parquet")
    with pytest.raises(InputError, match="missing embeddings"):
        select_batch(SelectionConfig(n=5, embedding={"source": "scores"}), TASK, scores, corpus, str(tmp_path / "o"))


def test_task_label_mismatch(tmp_path):
    scores, corpus, _, _ = _world(str(tmp_path), n=50)
    with pytest.raises(InputError, match="labels"):
        select_batch(SelectionConfig(n=5), TaskConfig(labels=["a", "b"]), scores, corpus, str(tmp_path / "o"))


def test_config_rejects_unknown_strategy():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown strategy"):
        SelectionConfig(strategy="nope")


def test_is_local_encoder():
    from al_ray.models import minilm_path

    assert is_local_encoder(str(minilm_path()))
    assert not is_local_encoder("s3://bucket/model") and not is_local_encoder(None)


def test_thread_limit_restores_torch_threads(tmp_path):
    import torch

    before = torch.get_num_threads()
    scores, corpus, _, _ = _world(str(tmp_path), n=80)
    res = select_batch(SelectionConfig(n=5, strategy="cluster_margin", threads=1), TASK, scores, corpus,
                       str(tmp_path / "o"))
    assert res.n_selected == 5 and torch.get_num_threads() == before


def test_shortfall_advice_in_config_keys_and_before_embedding(tmp_path):
    """Library callers (the round driver) get the config keys; a pool that is already every row is
    not told to raise pool_size; the shortfall is known before any embedding (source 'minilm' here
    would load a model, and the error comes first)."""
    scores, corpus, _, _ = _world(str(tmp_path), n=60)
    cfg = SelectionConfig(n=100, embedding={"source": "minilm"})
    with pytest.raises(PoolExhaustedError) as ei:
        select_batch(cfg, TASK, scores, corpus, str(tmp_path / "o"))
    msg = str(ei.value)
    assert "only 60 candidates are in the pool" in msg and "cannot help" in msg
    assert "use allow_partial" in msg and "lower n" in msg and "raise pool_size" not in msg
    with pytest.raises(PoolExhaustedError, match="capped at 30 of 60 eligible rows by pool_size"):
        select_batch(SelectionConfig(n=40, pool_size=30), TASK, scores, corpus, str(tmp_path / "o"))
