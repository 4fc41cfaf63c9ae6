"""The output listing held as numpy columns: what is done, sidecars and score files, looked up at once."""

from __future__ import annotations

import json

import numpy as np

from al_ray.scoring.duplicates import sources_from_listing
from al_ray.scoring.listing import list_outputs


def _write(path, data: bytes = b"x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_listing_finds_markers_sidecars_and_score_files_by_relative_path(tmp_path):
    out = tmp_path / "scores"
    # a: done with a sidecar; b (non-ASCII, nested): done, no sidecar (an old score file);
    # c: scored but its marker is missing (killed before the marker); _summary.json and .tmp are skipped
    _write(out / "a.parquet", b"1234")
    _write(out / "a.parquet.ids.npy", b"h" * (128 + 8 * 3))
    (out / "a.parquet.done").write_text(json.dumps({"rows": 3}))
    _write(out / "deep" / "bü.parquet", b"12345678" * 5)
    (out / "deep" / "bü.parquet.done").write_text("{}")
    _write(out / "c.parquet")
    _write(out / "_summary.json")
    _write(out / ".a.parquet.tmp")

    listing = list_outputs(str(out))
    rels = ["a.parquet", "deep/bü.parquet", "c.parquet", "missing.parquet"]
    assert listing.done_mask(rels).tolist() == [True, True, False, False]
    assert listing.sidecars.get("a.parquet")[0] == 128 + 24
    assert listing.sidecars.get("deep/bü.parquet") is None
    assert listing.scores.get("deep/bü.parquet")[0] == 40
    assert listing.scores.index_of(["c.parquet", "nope", "a.parquet"]).tolist()[1] == -1
    assert len(listing.scores) == 3  # a, deep/bü, c; never _summary.json or a temp file

    sources = {s.rel: s for s in sources_from_listing(str(out), rels, listing)}
    assert set(sources) == {"a.parquet", "deep/bü.parquet"}  # c has no marker: not a done shard
    a, b = sources["a.parquet"], sources["deep/bü.parquet"]
    assert (a.sidecar, a.rows, a.score_url) == (True, 3, f"{out}/a.parquet")
    assert (b.sidecar, b.rows) == (False, 40 // 8)  # read from its score file, size/8 rows at most
    assert a.fingerprint == listing.sidecars.get("a.parquet")[1] != ""


def test_lookups_of_longer_or_prefix_names_never_match_a_shorter_key(tmp_path):
    out = tmp_path / "scores"
    for rel in ("p.parquet", "p.parquet2", "q/p.parquet"):
        _write(out / rel)
        (out / f"{rel}.done").write_text("{}")
    listing = list_outputs(str(out))
    asks = ["p.parquet", "p.parquet2", "p.parquet22", "p.parque", "q/p.parquet", "", "q"]
    assert listing.done_mask(asks).tolist() == [True, True, False, False, True, False, False]
    assert listing.done_mask(np.array([b"p.parquet2"])).tolist() == [True]


def test_an_output_prefix_that_does_not_exist_lists_nothing(tmp_path):
    listing = list_outputs(str(tmp_path / "never-written"))
    assert listing.done_mask(["a.parquet"]).tolist() == [False]
    assert len(sources_from_listing(str(tmp_path), ["a.parquet"], listing)) == 0
