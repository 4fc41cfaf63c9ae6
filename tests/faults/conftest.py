"""Fixtures for the fault-injection suite: a session-wide fault proxy in front of moto, tiny corpora.

The scoring jobs here use the classifier mode with the transformers backend (MiniLM starts in a
few seconds); only the "engine process killed" scenario needs vLLM's EngineCore. The proxy, the
corpus writers and ``fast_config`` live in ``al_ray.testing`` (benchmarks/bench_faults.py uses them
too) and are re-exported here.
"""

from __future__ import annotations

import itertools
import os

import pytest

from al_ray.testing.faults import fast_config, proxied_options, write_corpus_local, write_corpus_s3
from al_ray.testing.s3_proxy import FaultProxy

__all__ = ["fast_config", "proxied_options", "write_corpus_local", "write_corpus_s3", "new_bucket"]

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


def new_bucket(s3, stem: str) -> str:
    return s3.create_bucket(f"{stem}-{os.getpid()}-{next(_bucket_seq)}")
