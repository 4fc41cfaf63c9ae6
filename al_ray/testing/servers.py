"""Servers started on loopback for the tests and the benchmarks: moto's S3 HTTP server.

Support code for the test suite and the benchmarks, not used by the pipeline. A server is torn
down by terminating the one process group we started, so concurrent sessions on the same machine
do not stop each other's. (The Ray head node and the Label Studio server of the tests are in
tests/servers.py, which re-exports these.)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator


def free_port() -> int:
    """A TCP port free on loopback now (the OS's pick)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen) -> None:
    """Poll ``url`` until it answers, ``proc`` (the server) exits, or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited early with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not come up in {timeout}s")


def terminate(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM the process group we started, then SIGKILL whatever is left of it after ``timeout``."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # stragglers (workers) of this group only
    except ProcessLookupError:
        pass
    if proc.poll() is None:
        proc.wait()


@dataclass
class S3Server:
    """A running moto S3 server and the credentials it accepts (any: moto checks no signatures)."""

    endpoint_url: str
    key: str = "al-ray-test-key"
    secret: str = "al-ray-test-secret-do-not-log"

    @property
    def storage_options(self) -> dict:
        return {"key": self.key, "secret": self.secret, "endpoint_url": self.endpoint_url}

    def filesystem(self):
        import s3fs

        return s3fs.S3FileSystem(**self.storage_options, skip_instance_cache=True)

    def create_bucket(self, name: str) -> str:
        fs = self.filesystem()
        try:
            fs.call_s3("create_bucket", Bucket=name)
        except Exception as exc:  # already exists
            if "BucketAlready" not in type(exc).__name__ and "BucketAlready" not in str(exc):
                raise
        fs.invalidate_cache()
        return f"s3://{name}"


@contextmanager
def moto_server() -> Iterator[S3Server]:
    """moto's S3 HTTP server on a free loopback port, stopped (its process group only) on exit."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url, 30, proc)
        yield S3Server(endpoint_url=url)
    finally:
        terminate(proc)
