"""Helpers of the fault scenarios: small corpora, the fast scoring config, processes, a full disk.

Support code for the test suite (tests/faults) and the benchmarks (benchmarks/bench_faults.py), not
used by the pipeline. The scoring jobs use the classifier mode with the transformers backend
(MiniLM starts in a few seconds); only the "engine process killed" scenario needs vLLM's EngineCore.
"""

from __future__ import annotations

import errno
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from al_ray.scoring.config import ScoringConfig
    from al_ray.testing.s3_proxy import FaultProxy
    from al_ray.testing.servers import S3Server

# The same words and draws as tests/scoring/conftest.py's make_texts, so a corpus here holds the
# texts it always held.
WORDS = ("good great nice kind lovely fine happy calm bad awful idiot hate stupid ugly angry rude "
         "the a of to and in is you we they this that movie food day weather friend").split()


def make_texts(n: int, seed: int) -> list[str]:
    """``n`` short texts of 3-25 random words, reproducible from ``seed``."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 25))) for _ in range(n)]


def write_corpus_s3(s3: S3Server, prefix: str, n_shards: int, rows: int,
                    seed: int = 0) -> dict[str, list[str]]:
    """Write shards straight to moto (not through the proxy); returns {shard url: ids}."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    fs = s3.filesystem()
    out = {}
    for k in range(n_shards):
        url = f"{prefix.rstrip('/')}/part-{k}.parquet"
        ids = [f"s{k}-{i}" for i in range(rows)]
        table = pa.table({"id": ids, "text": make_texts(rows, seed * 100 + k)})
        with fs.open(url[5:], "wb") as f:
            pq.write_table(table, f, row_group_size=64)
        out[url] = ids
    fs.invalidate_cache()
    return out


def write_corpus_local(root: Path, n_shards: int, rows: int, seed: int = 0) -> dict[str, list[str]]:
    """Write shards under the local directory ``root``; returns {shard path: ids}."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for k in range(n_shards):
        p = root / f"part-{k}.parquet"
        ids = [f"l{k}-{i}" for i in range(rows)]
        pq.write_table(pa.table({"id": ids, "text": make_texts(rows, seed * 100 + k)}), p, row_group_size=64)
        out[str(p)] = ids
    return out


def proxied_options(s3: S3Server, proxy: FaultProxy, max_attempts: int = 4, timeout: float = 3.0) -> dict:
    """s3fs options through the proxy: botocore's standard retry mode with bounded timeouts."""
    return {"key": s3.key, "secret": s3.secret, "endpoint_url": proxy.url,
            "config_kwargs": {"retries": {"max_attempts": max_attempts, "mode": "standard"},
                              "read_timeout": timeout, "connect_timeout": timeout}}


def fast_config(model_dir: Any, **kw: Any) -> ScoringConfig:
    """Classifier + transformers, small batches, few retries: faults show up quickly.

    The classifier settings are tests/scoring/conftest.py's ``clf_config`` (labels neither/violating,
    float32, 64 input tokens); ``kw`` overrides any of them.
    """
    from al_ray.scoring.config import ScoringConfig
    from al_ray.task import TaskConfig

    base: dict[str, Any] = dict(task=TaskConfig(labels=["neither", "violating"]), model=str(model_dir),
                                mode="classifier", dtype="float32", max_input_tokens=64,
                                backend="transformers", workers=1, batch_rows=64, max_shard_attempts=2)
    base.update(kw)
    return ScoringConfig(**base)


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, name) of the direct and indirect children of ``pid``; [] once it is gone."""
    import psutil

    try:
        procs = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    out = []
    for p in procs:
        try:
            out.append((p.pid, p.name()))
        except psutil.Error:  # exited meanwhile
            continue
    return out


def fill_disk(path: Path) -> None:
    """Write zeros to ``path`` until its file system is full (ENOSPC), the last partial page too."""
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    with open(path, "ab", buffering=0) as f:  # the last partial page too
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass
