"""The output listing joined with the shards as it is walked: what is done, sidecars and score files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from al_ray.scoring import listing as listing_mod
from al_ray.scoring.duplicates import sources_from_listing
from al_ray.scoring.listing import list_outputs


def _write(path, data: bytes = b"x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_listing_finds_markers_sidecars_and_score_files_of_each_shard(tmp_path):
    out = tmp_path / "scores"
    # a: done with a sidecar; b (non-ASCII, nested): done, no sidecar (an old score file);
    # c: scored but its marker is missing (killed before the marker); _summary.json and .tmp are skipped;
    # gone: outputs of a shard no longer in the corpus
    _write(out / "a.parquet", b"1234")
    _write(out / "a.parquet.ids.npy", b"h" * (128 + 8 * 3))
    (out / "a.parquet.done").write_text(json.dumps({"rows": 3}))
    _write(out / "deep" / "bü.parquet", b"12345678" * 5)
    (out / "deep" / "bü.parquet.done").write_text("{}")
    _write(out / "c.parquet")
    _write(out / "gone.parquet")
    (out / "gone.parquet.done").write_text("{}")
    _write(out / "_summary.json")
    _write(out / ".a.parquet.tmp")

    rels = sorted(["a.parquet", "deep/bü.parquet", "c.parquet", "missing.parquet"])
    listing = list_outputs(str(out), rels)
    assert len(listing) == 4 and dict(zip(rels, listing.done.tolist())) == {
        "a.parquet": True, "deep/bü.parquet": True, "c.parquet": False, "missing.parquet": False}
    assert listing.sidecar("a.parquet")[0] == 128 + 24
    assert listing.sidecar("deep/bü.parquet") is None
    assert listing.score_file("deep/bü.parquet")[0] == 40
    assert listing.score_file("missing.parquet") is None and listing.score_file("nope") is None
    assert (listing.score_sizes >= 0).sum() == 3  # a, deep/bü, c; never _summary.json or a temp file
    assert listing.unmatched == 2  # gone.parquet and its marker
    assert listing.keys.tolist() == [r.encode() for r in rels]

    sources = {s.rel: s for s in sources_from_listing(str(out), listing)}
    assert set(sources) == {"a.parquet", "deep/bü.parquet"}  # c has no marker: not a done shard
    a, b = sources["a.parquet"], sources["deep/bü.parquet"]
    assert (a.sidecar, a.rows, a.score_url) == (True, 3, f"{out}/a.parquet")
    assert (b.sidecar, b.rows) == (False, 40 // 8)  # read from its score file, size/8 rows at most
    assert a.fingerprint == listing.sidecar("a.parquet")[1] != ""
    assert b.fingerprint == listing.score_file("deep/bü.parquet")[1] != ""


def test_every_shard_done_from_its_sidecar_shares_the_listing_columns(tmp_path):
    out = tmp_path / "scores"
    rels = [f"p{k}.parquet" for k in range(3)]
    for rel in rels:
        _write(out / rel)
        _write(out / f"{rel}.ids.npy", b"h" * (128 + 8))
        (out / f"{rel}.done").write_text("{}")
    listing = list_outputs(str(out), rels)
    sources = sources_from_listing(str(out), listing)
    assert [s.rel for s in sources] == rels and all(s.sidecar and s.rows == 1 for s in sources)
    assert sources.rels is listing.keys and sources.fingerprints is listing.sidecar_fps  # no copies


def test_lookups_of_longer_or_prefix_names_never_match_a_shorter_key(tmp_path):
    out = tmp_path / "scores"
    for rel in ("p.parquet", "p.parquet2", "q/p.parquet"):
        _write(out / rel)
        (out / f"{rel}.done").write_text("{}")
    asks = sorted(["p.parquet", "p.parquet2", "p.parquet22", "p.parque", "q/p.parquet", "", "q"])
    listing = list_outputs(str(out), asks)
    assert {a for a, d in zip(asks, listing.done) if d} == {"p.parquet", "p.parquet2", "q/p.parquet"}
    assert list_outputs(str(out), np.array([b"p.parquet2"])).done.tolist() == [True]


def test_a_fingerprint_longer_than_those_before_it_widens_its_column(tmp_path, monkeypatch):
    from al_ray import storage

    out = tmp_path / "scores"
    rels = ["a.parquet", "b.parquet"]
    for rel in rels:
        _write(out / rel)
    real = storage.iter_files

    def long_second(url, so=None):
        for k, fi in enumerate(sorted(real(url, so), key=lambda f: f.url)):
            yield type(fi)(fi.url, fi.size, (fi.etag or "") + "x" * 40 * k, fi.mtime)

    monkeypatch.setattr(storage, "iter_files", long_second)
    monkeypatch.setattr(listing_mod, "_BATCH", 1)  # one file per lookup: the second must widen the first's column
    listing = list_outputs(str(out), rels)
    assert "x" * 40 in listing.score_file("b.parquet")[1]
    assert "x" not in listing.score_file("a.parquet")[1]


def test_the_keys_must_be_sorted(tmp_path):
    with pytest.raises(ValueError, match="sorted"):
        list_outputs(str(tmp_path), ["b.parquet", "a.parquet"])


def test_an_output_prefix_that_does_not_exist_lists_nothing(tmp_path):
    listing = list_outputs(str(tmp_path / "never-written"), ["a.parquet"])
    assert listing.done.tolist() == [False] and listing.unmatched == 0
    assert len(sources_from_listing(str(tmp_path), listing)) == 0
