"""The proxy's per-(method, kind) request counter: what the S3 driver benchmark counts with."""

from __future__ import annotations

import threading

import pytest

from al_ray.testing.s3_proxy import FaultProxy, request_kind

from .conftest import new_bucket, proxied_options


@pytest.mark.parametrize("method,target,kind", [
    ("GET", "/b?list-type=2&prefix=x%2F&delimiter=%2F", "list"),
    ("GET", "/b/?list-type=2&continuation-token=abc", "list"),
    ("GET", "/b", "list"),  # ListObjects v1
    ("GET", "/b?prefix=x&marker=y&max-keys=1000", "list"),
    ("GET", "/", "list"),  # ListBuckets
    ("GET", "/b?location", "get"),  # a bucket sub-resource, not a listing
    ("GET", "/b?acl", "get"),
    ("GET", "/b/k/part-0.parquet", "get"),
    ("GET", "/b/prefix-list-type/k", "get"),  # the words in a key are no query
    ("HEAD", "/b/k.done", "head"),
    ("HEAD", "/b", "head"),
    ("PUT", "/b/k", "put"),
    ("POST", "/b?delete", "post"),
    ("DELETE", "/b/k", "delete"),
])
def test_request_kind(method, target, kind):
    assert request_kind(method, target) == kind


def test_counter_is_thread_safe_and_reset():
    proxy = FaultProxy("http://127.0.0.1:9")  # nothing is forwarded: the counter is fed directly
    try:
        def hammer():
            for _ in range(2000):
                proxy._count("GET", "/b/k")
                proxy._count("GET", "/b?list-type=2")

        threads = [threading.Thread(target=hammer) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert proxy.counts() == {("GET", "get"): 16000, ("GET", "list"): 16000}
        assert proxy.reset_counts() == {("GET", "get"): 16000, ("GET", "list"): 16000}
        assert proxy.counts() == {}
        proxy._count("PUT", "/b/k")
        proxy.reset()
        assert proxy.counts() == {}
    finally:
        proxy.close()


@pytest.mark.slow
def test_counter_counts_what_s3fs_sends_through_moto(s3, proxy):
    from al_ray import storage

    bucket = new_bucket(s3, "counts")
    so = proxied_options(s3, proxy)
    proxy.reset()
    for i in range(3):
        storage.write_bytes_atomic(f"{bucket}/d/f{i}.bin", b"x", so)
    puts = proxy.reset_counts()
    assert puts.get(("PUT", "put")) == 3 and not any(kind == "list" for _, kind in puts)
    assert sorted(fi.url for fi in storage.iter_files(f"{bucket}/d", so)) == [f"{bucket}/d/f{i}.bin" for i in range(3)]
    listed = proxy.reset_counts()
    assert listed.get(("GET", "list"), 0) >= 1 and ("GET", "get") not in listed
    assert storage.read_bytes(f"{bucket}/d/f0.bin", so) == b"x"
    got = proxy.counts()
    assert got == {("GET", "get"): 1}  # one GET, no HEAD for the size first (s3fs's default)
