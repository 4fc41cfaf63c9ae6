"""The demo corpus: deterministic, right proportions, gold consistent with votes, hard where it should be."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from al_ray.data.demo_corpus import demo_task, write_demo_corpus
from al_ray.data import demo_text as T
from al_ray.data.layout import default_gold_url, read_gold, read_test_ids
from al_ray.errors import ConfigError
from al_ray.storage import list_files


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.parquet"))}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    ds = write_demo_corpus(str(root / "corpus"))
    corpus = pa.concat_tables(pq.read_table(u) for u in ds.shard_urls)
    gold = read_gold(ds.gold_url)
    return root, ds, corpus, gold


def test_layout_and_shards(demo):
    root, ds, corpus, gold = demo
    assert ds.n_shards == 8 and len(ds.shard_urls) == 8
    listed = list_files(str(root / "corpus"))
    assert [f.url for f in listed] == list(ds.shard_urls)  # _dataset.json is not a shard
    assert [Path(u).name for u in ds.shard_urls] == [f"part-{i:05d}.parquet" for i in range(8)]
    assert ds.gold_url == str(root / "gold")
    assert corpus.schema.names == ["id", "text"]  # the model never sees labels
    assert corpus.num_rows == 20000 == gold.num_rows
    ids = corpus.column("id").to_pylist()
    assert len(set(ids)) == len(ids)
    assert ids[:2] == ["demo-000000", "demo-000001"]
    assert gold.column("id").to_pylist() == ids


def test_determinism_byte_identical(tmp_path, demo):
    root, _, _, _ = demo
    again = tmp_path / "again"
    write_demo_corpus(str(again / "corpus"))
    assert _digest(again / "corpus") == _digest(root / "corpus")
    assert _digest(again / "gold") == _digest(root / "gold")
    other = tmp_path / "other"
    write_demo_corpus(str(other / "corpus"), seed=1)
    assert _digest(other / "corpus") != _digest(root / "corpus")


def test_rates(demo):
    _, ds, corpus, gold = demo
    labels = np.asarray(gold.column("label").to_pylist())
    assert abs(np.mean(labels == "violating") - 0.05) < 0.01
    assert ds.positive_rate == pytest.approx(np.mean(labels == "violating"))
    amb = np.asarray(gold.column("ambiguous").to_pylist())
    assert 0.09 < amb.mean() < 0.15
    kinds = set(gold.column("kind").to_pylist())
    assert {k.name for k in T.KINDS} == kinds
    texts = corpus.column("text").to_pylist()
    n_words = np.array([len(t.split()) for t in texts])
    assert n_words.min() >= 3 and n_words.max() <= 60 and np.percentile(n_words, 95) > 20
    assert len(set(texts)) > 15000  # thousands of distinct texts ...
    assert len(set(texts)) < len(texts)  # ... and some exact duplicates
    assert sum(t.startswith("RT @") for t in texts) > 100  # retweet near-duplicates
    dup_of = gold.column("dup_of").to_pylist()
    lab = dict(zip(gold.column("id").to_pylist(), labels))
    assert all(lab[d] == lab[i] for i, d in zip(gold.column("id").to_pylist(), dup_of) if d)


def test_votes_consistent_with_gold(demo):
    _, _, _, gold = demo
    n = np.asarray(gold.column("n_annotators"))
    v_n = np.asarray(gold.column("votes_neither"))
    v_v = np.asarray(gold.column("votes_violating"))
    labels = np.asarray(gold.column("label").to_pylist())
    tie = np.asarray(gold.column("tie"))
    assert np.all(v_n + v_v == n) and set(np.unique(n)) <= {3, 4, 5}
    majority = np.where(v_v > v_n, "violating", "neither")
    assert np.all((majority == labels) | tie)
    assert np.array_equal(tie, v_v == v_n)
    amb = np.asarray(gold.column("ambiguous"))
    unanimous = (v_n == 0) | (v_v == 0)
    assert unanimous[~amb].mean() > 0.85  # clear items: annotators agree
    assert unanimous[amb].mean() < 0.6  # ambiguous items: experts split


def test_test_split(demo):
    _, ds, _, gold = demo
    test_ids = read_test_ids(ds.gold_url)
    assert len(test_ids) == ds.n_test and abs(ds.n_test / 20000 - 0.2) < 0.02
    split = dict(zip(gold.column("id").to_pylist(), gold.column("split").to_pylist()))
    assert all(split[i] == "test" for i in test_ids)
    # duplicates stay on the side of their original (no retweet leakage into test)
    for i, d in zip(gold.column("id").to_pylist(), gold.column("dup_of").to_pylist()):
        if d:
            assert split[i] == split[d]


def test_ambiguous_cases_are_hard_for_simple_models(demo):
    _, _, corpus, gold = demo
    texts = np.asarray(corpus.column("text").to_pylist(), dtype=object)
    labels = np.asarray(gold.column("label").to_pylist())
    amb = np.asarray(gold.column("ambiguous"))
    # A keyword filter: right on clear items, wrong on about half of the ambiguous ones.
    words = set(T.INSULT_ADJ + T.INSULT_NOUN) | {"trash", "garbage", "dumbest", "f***ing", "damn"}
    kw = np.array(["violating" if set(re.findall(r"[\w*]+", t.lower())) & words else "neither" for t in texts])
    ok = kw == labels
    assert ok[~amb].mean() > 0.95 and ok[amb].mean() < 0.6
    # A bag-of-words classifier on 500 random labels: much worse on ambiguous items.
    sklearn = pytest.importorskip("sklearn")
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    is_test = np.asarray(gold.column("split").to_pylist()) == "test"
    rng = np.random.default_rng(0)
    train = rng.choice(np.flatnonzero(~is_test), 500, replace=False)
    vec = CountVectorizer(binary=True)
    model = LogisticRegression(max_iter=1000, class_weight="balanced").fit(vec.fit_transform(texts[train]), labels[train])
    ok = model.predict(vec.transform(texts[is_test])) == labels[is_test]
    assert ok[~amb[is_test]].mean() - ok[amb[is_test]].mean() > 0.1
    del sklearn


def test_task_config():
    task = demo_task()
    assert task.labels == ["neither", "violating"] and task.positive_label == "violating"
    assert set(task.label_descriptions) == {"neither", "violating"}


def test_bad_arguments(tmp_path):
    with pytest.raises(ConfigError):
        write_demo_corpus(str(tmp_path / "c"), n_rows=100, positive_rate=0.7)
    with pytest.raises(ConfigError):
        write_demo_corpus(str(tmp_path / "c"), n_rows=5, n_shards=8)
    with pytest.raises(ConfigError):
        default_gold_url("s3://bucket")
    assert default_gold_url("s3://bucket/x/corpus/") == "s3://bucket/x/gold"
    assert default_gold_url("/a/corpus") == "/a/gold"


def test_small_custom_gold_url(tmp_path):
    ds = write_demo_corpus(str(tmp_path / "c"), n_rows=300, n_shards=3, gold_url=str(tmp_path / "elsewhere"))
    assert read_gold(ds.gold_url).num_rows == 300
    assert (tmp_path / "elsewhere" / "gold.parquet").exists() and not (tmp_path / "gold").exists()


@pytest.mark.slow
def test_demo_corpus_on_s3(s3, tmp_path):
    s3.create_bucket("demo-data")
    ds = write_demo_corpus("s3://demo-data/demo/corpus", n_rows=2000, n_shards=8,
                           storage_options=s3.storage_options)
    assert ds.gold_url == "s3://demo-data/demo/gold"
    listed = list_files("s3://demo-data/demo/corpus", storage_options=s3.storage_options)
    assert [f.url for f in listed] == list(ds.shard_urls)
    local = write_demo_corpus(str(tmp_path / "corpus"), n_rows=2000, n_shards=8)
    fs = s3.filesystem()
    for remote, loc in zip(ds.shard_urls, local.shard_urls):
        assert fs.cat_file(remote) == Path(loc).read_bytes()
    gold = read_gold(ds.gold_url, s3.storage_options)
    assert gold.num_rows == 2000
    assert len(read_test_ids(ds.gold_url, s3.storage_options)) == ds.n_test
