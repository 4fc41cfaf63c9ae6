"""Fixtures for the fault-injection suite: a session-wide fault proxy in front of moto, tiny corpora.

The scoring jobs here use the classifier mode with the transformers backend (MiniLM starts in a
few seconds); only the "engine process killed" scenario needs vLLM's EngineCore.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.faults.s3_proxy import FaultProxy
from tests.scoring.conftest import clf_config, make_texts

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

_bucket_seq = itertools.count()


@pytest.fixture(scope="session")
def fault_proxy(s3):
    proxy = FaultProxy(s3.endpoint_url)
    try:
        yield proxy
    finally:
        proxy.close()


@pytest.fixture
def proxy(fault_proxy):
    """The session proxy with an empty plan (and an empty plan again after the test)."""
    fault_proxy.reset()
    yield fault_proxy
    fault_proxy.reset()


def proxied_options(s3, proxy: FaultProxy, max_attempts: int = 4, timeout: float = 3.0) -> dict:
    """s3fs options through the proxy: botocore's standard retry mode with bounded timeouts."""
    return {"key": s3.key, "secret": s3.secret, "endpoint_url": proxy.url,
            "config_kwargs": {"retries": {"max_attempts": max_attempts, "mode": "standard"},
                              "read_timeout": timeout, "connect_timeout": timeout}}


def new_bucket(s3, stem: str) -> str:
    return s3.create_bucket(f"{stem}-{os.getpid()}-{next(_bucket_seq)}")


def write_corpus_s3(s3, prefix: str, n_shards: int, rows: int, seed: int = 0) -> dict[str, list[str]]:
    """Write shards straight to moto (not through the proxy); returns {shard url: ids}."""
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
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for k in range(n_shards):
        p = root / f"part-{k}.parquet"
        ids = [f"l{k}-{i}" for i in range(rows)]
        pq.write_table(pa.table({"id": ids, "text": make_texts(rows, seed * 100 + k)}), p, row_group_size=64)
        out[str(p)] = ids
    return out


def fast_config(model_dir, **kw):
    """Classifier + transformers, small batches, few retries: faults show up quickly."""
    base = dict(backend="transformers", workers=1, batch_rows=64, max_shard_attempts=2)
    base.update(kw)
    return clf_config(model_dir, **base)
