"""Planted exact, near and semantic duplicates are dropped and mapped to their representative."""

from __future__ import annotations

import numpy as np

from al_ray.selection.config import DedupConfig
from al_ray.selection.dedup import deduplicate, normalise_text
from tests.selection.synth import unit

BASE = [
    "The quick brown fox jumps over the lazy dog near the river bank today",
    "Completely unrelated sentence about baking sourdough bread at home",
    "Stock markets fell sharply after the central bank raised interest rates",
    "A long message about football, the weather and a trip to the mountains",
    "Totally different words: violin, orchestra, concert hall, symphony",
]


def test_normalise_text():
    assert normalise_text("  Héllo,   WORLD!! ") == normalise_text("héllo world")


def test_planted_duplicates_removed_and_mapped():
    texts = list(BASE)
    texts.append("the QUICK brown fox jumps over the lazy dog, near the river bank today!")  # 5: exact of 0
    texts.append("Stock markets fell sharply after the central bank raised interest rates again")  # 6: near of 2
    texts.append("A semantic twin with entirely different wording of item three")  # 7: semantic of 3
    texts.append("the quick brown fox jumps over the lazy dog near the river bank today")  # 8: exact of 0
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(len(texts), 16))
    emb[7] = emb[3] + 0.01 * rng.normal(size=16)
    emb = unit(emb)
    clusters = np.zeros(len(texts), dtype=np.int64)
    res, _ = deduplicate(texts, DedupConfig(), embeddings=emb, clusters=clusters)
    assert res.duplicate_of.tolist() == [-1, -1, -1, -1, -1, 0, 2, 3, 0]
    assert res.kind[5] == "exact" and res.kind[6] == "near" and res.kind[7] == "semantic"
    assert res.counts == {"exact": 2, "near": 1, "semantic": 1}
    ids = np.array([f"i{i}" for i in range(len(texts))], dtype=object)
    groups = res.groups_table(ids, representatives=np.array([0, 2, 3]), texts=texts)
    assert groups.column("text").to_pylist()[0] == texts[int(groups.column("id")[0].as_py()[1:])]
    assert sorted(zip(groups.column("id").to_pylist(), groups.column("representative_id").to_pylist())) == \
        [("i5", "i0"), ("i6", "i2"), ("i7", "i3"), ("i8", "i0")]
    assert all(0.8 <= s <= 1.0 for s in groups.column("similarity").to_pylist())
    # only duplicates of batch items are listed when the batch holds only item 2
    assert res.groups_table(ids, representatives=np.array([2])).column("id").to_pylist() == ["i6"]


def test_semantic_only_within_a_cluster():
    emb = unit(np.array([[1.0, 0.0], [1.0, 0.001]]))
    res, _ = deduplicate(["a b c", "x y z"], DedupConfig(), embeddings=emb, clusters=np.array([0, 1]))
    assert (res.duplicate_of == -1).all()
    res, _ = deduplicate(["a b c", "x y z"], DedupConfig(), embeddings=emb, clusters=np.array([0, 0]))
    assert res.duplicate_of.tolist() == [-1, 0]


def test_chains_resolve_to_a_kept_root():
    texts = ["alpha beta gamma delta epsilon zeta eta theta", "ALPHA beta gamma delta epsilon zeta eta theta",
             "omega psi chi phi upsilon tau sigma rho"]
    emb = unit(np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0001]]))
    # 1 is an exact copy of 0; 0 is a semantic duplicate of nothing earlier; 2 semantic dup of 0
    res, _ = deduplicate(texts, DedupConfig(), embeddings=emb, clusters=np.zeros(3, dtype=np.int64))
    assert res.duplicate_of.tolist() == [-1, 0, 0]
    assert res.kind == [None, "exact", "semantic"]


def test_disabled_kinds_and_no_false_positives():
    texts = BASE + [BASE[0].upper()]
    res, _ = deduplicate(texts, DedupConfig(exact=False, near=False, semantic=False))
    assert (res.duplicate_of == -1).all()
    res, _ = deduplicate(BASE, DedupConfig(semantic=False))
    assert (res.duplicate_of == -1).all()


def test_near_duplicate_word_shingles():
    a = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen"
    b = a.replace("seven", "SEVEN!") + " sixteen"
    res, _ = deduplicate([a, b], DedupConfig(shingle="word", shingle_size=2, jaccard_threshold=0.7, semantic=False))
    assert res.duplicate_of.tolist() == [-1, 0]


def test_large_cluster_blocks():
    rng = np.random.default_rng(1)
    base = unit(rng.normal(size=(3000, 8)))
    emb = np.vstack([base, unit(base[:100] + 1e-4)])
    texts = [f"t{i}" for i in range(len(emb))]
    res, _ = deduplicate(texts, DedupConfig(exact=False, near=False, semantic_threshold=0.99999),
                         embeddings=emb, clusters=np.zeros(len(emb), dtype=np.int64))
    assert res.duplicate_of[3000:].tolist() == list(range(100))


def test_vectorised_minhash_matches_datasketch():
    from datasketch import MinHash

    from al_ray.selection.dedup import minhash_signatures, shingle_hashes

    cfg = DedupConfig(num_perm=64)
    texts = [normalise_text(t) for t in BASE] + ["ab"]
    sigs, has, _ = minhash_signatures(texts, cfg)
    assert has.all()
    for t, sig in zip(texts, sigs):
        m = MinHash(num_perm=64, seed=1, hashfunc=int)
        m.update_batch([int(h) for h in shingle_hashes(t, "char", 5)])
        assert np.array_equal(m.hashvalues, sig)
