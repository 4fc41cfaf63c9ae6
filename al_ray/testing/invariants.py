"""The no-row-lost invariant every fault scenario ends with (support code for the test suite and
the benchmarks, not used by the pipeline).

    output ids == input ids - quarantined rows (each with a recorded reason)

checked as multisets (so a row scored twice shows up as ``duplicated``, a missing one as ``lost``),
plus: no temp/partial file is visible in the output listing, every score file has its ``.done``
marker and every marker its score file, each score file holds exactly its own shard's ids, and its
sidecars agree with it: the id-hash sidecar hashes exactly its ids in order, and the candidate
sidecar (when written) holds only its rows, each at the position it claims.

Quarantined rows are (a) every row of a shard listed in ``_summary.json``'s ``failed_shards`` (with
a non-empty reason) and (b) rows without an id (``rows_skipped``), which the summary counts.
"""

from __future__ import annotations

import io
import posixpath
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import pyarrow.parquet as pq

from al_ray import storage

TEMP_MARKERS = (".tmp", "tmp-", "_tmp", ".partial", ".inprogress", "_temporary", ".part")


@dataclass
class Outcome:
    rows_in: int
    rows_out: int
    quarantined: int
    lost: int
    duplicated: int
    failed_shards: dict[str, str] = field(default_factory=dict)  # shard url -> reason
    problems: list[str] = field(default_factory=list)

    def as_row(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("problems")
        return d


def _all_files(url: str, so: Mapping[str, Any] | None) -> list[str]:
    fs, path = storage.resolve(url, so)
    if not storage.is_local(fs):
        fs.invalidate_cache()
    if not fs.exists(path):
        return []
    return sorted(storage.unstrip(fs, p, url) for p in fs.find(path))


def read_corpus(corpus: str, so: Mapping[str, Any] | None = None, id_column: str = "id") -> dict[str, list]:
    """{shard url: ids (None for a missing id)} of every readable ``*.parquet`` under ``corpus``."""
    out: dict[str, list] = {}
    for url in _all_files(corpus, so):
        if not url.endswith(".parquet"):
            continue
        fs, path = storage.resolve(url, so)
        try:
            with fs.open(path, "rb") as f:
                out[url] = pq.read_table(f, columns=[id_column]).column(id_column).to_pylist()
        except Exception:
            out[url] = None  # unreadable: the job must list it as failed/quarantined
    return out


def check(corpus: str, out: str, so: Mapping[str, Any] | None = None, *, expected: dict[str, list] | None = None,
          summary: Mapping[str, Any] | None = None) -> Outcome:
    """Check the invariant for a finished job; ``expected`` defaults to reading the corpus back."""
    corpus, out = corpus.rstrip("/"), out.rstrip("/")
    expected = read_corpus(corpus, so) if expected is None else expected
    if summary is None:
        summary = storage.read_json(storage.join(out, "_summary.json"), so)
    problems: list[str] = []
    failed = {f["shard"]: f["reason"] for f in summary.get("failed_shards", [])}
    for shard, reason in failed.items():
        if not reason or not reason.strip():
            problems.append(f"failed shard {shard} has no recorded reason")

    files = _all_files(out, so)
    names = [posixpath.basename(u) for u in files]
    for u, n in zip(files, names):
        if any(m in n for m in TEMP_MARKERS):
            problems.append(f"temp/partial file visible in the output: {u}")
    scores = {u for u in files if u.endswith(".parquet")}
    dones = {u[: -len(".done")] for u in files if u.endswith(".parquet.done")}
    for u in sorted(scores - dones):
        problems.append(f"score file without .done marker: {u}")
    for u in sorted(dones - scores):
        problems.append(f".done marker without score file: {u}")

    want: Counter = Counter()
    got: Counter = Counter()
    rows_in = quarantined = 0
    for shard, ids in sorted(expected.items()):
        n = len(ids) if ids is not None else 0
        rows_in += n
        rel = shard[len(corpus) + 1:] if shard.startswith(corpus + "/") else posixpath.basename(shard)
        score = storage.join(out, rel)
        if shard in failed:
            quarantined += n
            if score in scores:
                problems.append(f"failed shard {shard} nevertheless has a score file {score}")
            continue
        if ids is None:
            problems.append(f"unreadable shard {shard} is not listed as failed")
            continue
        present = [str(i) for i in ids if i is not None]  # score files hold ids as strings
        quarantined += n - len(present)
        want.update(present)
        if score not in scores:
            problems.append(f"shard {shard} neither scored nor listed as failed")
            continue
        fs, path = storage.resolve(score, so)
        with fs.open(path, "rb") as f:
            mine = pq.read_table(f, columns=["id"]).column("id").to_pylist()
        got.update(mine)
        if Counter(mine) != Counter(present):
            problems.append(f"score file {score} does not hold exactly the ids of {shard}")
        problems += sidecar_problems(score, mine, so)
    lost = sum((want - got).values())
    dup = sum((got - want).values())
    out_rows = sum(got.values())
    if lost:
        problems.append(f"{lost} row(s) lost, e.g. {list((want - got))[:5]}")
    if dup:
        problems.append(f"{dup} row(s) duplicated or foreign, e.g. {list((got - want))[:5]}")
    return Outcome(rows_in=rows_in, rows_out=out_rows, quarantined=quarantined, lost=lost, duplicated=dup,
                   failed_shards=failed, problems=problems)


def sidecar_problems(score: str, ids: list, so: Mapping[str, Any] | None = None) -> list[str]:
    """What is wrong with the sidecars of the score file ``score`` (whose ids, in order, are ``ids``)."""
    import numpy as np
    import pyarrow as pa

    from al_ray.scoring.shard import hash_ids
    from al_ray.scoring.topk import POSITION_COLUMN, candidates_sidecar_url
    from al_ray.scoring.writer import ids_sidecar_url

    problems: list[str] = []
    side = ids_sidecar_url(score)
    if not storage.exists(side, so):
        problems.append(f"score file {score} has no id sidecar")
    else:
        got = np.load(io.BytesIO(storage.read_bytes(side, so)), allow_pickle=False)
        if not np.array_equal(got, hash_ids(pa.array(ids, pa.string()))):
            problems.append(f"id sidecar {side} does not hash the ids of {score}")
    cand = candidates_sidecar_url(score)
    if storage.exists(cand, so):
        t = storage.read_parquet(cand, so, columns=["id", POSITION_COLUMN])
        for i, pos in zip(t.column("id").to_pylist(), t.column(POSITION_COLUMN).to_pylist()):
            if not (0 <= pos < len(ids)) or ids[pos] != i:
                problems.append(f"candidate sidecar {cand} row {i!r} is not row {pos} of {score}")
                break
    return problems


def assert_invariant(corpus: str, out: str, so: Mapping[str, Any] | None = None, **kw) -> Outcome:
    res = check(corpus, out, so, **kw)
    assert not res.problems, "\n".join(res.problems)
    assert res.rows_out + res.quarantined == res.rows_in
    return res
