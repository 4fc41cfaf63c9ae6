"""Real servers the tests start on loopback: moto's S3 HTTP server and a Ray head node.

Each is started once per pytest session (see conftest.py) and torn down by terminating the one
process we started, so concurrent test sessions on the same machine do not stop each other's.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float, proc: subprocess.Popen) -> None:
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


def _terminate(proc: subprocess.Popen, timeout: float = 30) -> None:
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
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_http(url, 30, proc)
        yield S3Server(endpoint_url=url)
    finally:
        _terminate(proc)


@dataclass
class RayCluster:
    address: str
    dashboard_url: str
    temp_dir: str
    proc: subprocess.Popen = field(repr=False)


@contextmanager
def ray_head(num_cpus: int = 4) -> Iterator[RayCluster]:
    """``ray start --head --block`` on loopback; terminating that process stops this cluster only."""
    port, dash = free_port(), free_port()
    temp_dir = tempfile.mkdtemp(prefix="alray-")  # short path: Ray's socket names have a length limit
    # Token auth turns itself on once ~/.ray/auth_token exists (a local ray.init() writes one); a
    # loopback-only test head does not need it, and the dashboard would answer 401 to our probes.
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_DEDUP_LOGS="0", RAY_AUTH_MODE="disabled")
    cmd = [
        str(VENV_BIN / "ray"), "start", "--head", "--block",
        "--node-ip-address", "127.0.0.1", "--port", str(port),
        "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dash),
        "--include-dashboard", "true", "--num-cpus", str(num_cpus), "--num-gpus", "0",
        "--temp-dir", temp_dir, "--disable-usage-stats",
        "--ray-client-server-port", str(free_port()),
        "--dashboard-agent-listen-port", str(free_port()),
        "--metrics-export-port", str(free_port()),
        "--runtime-env-agent-port", str(free_port()),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        dashboard_url = f"http://127.0.0.1:{dash}"
        _wait_http(f"{dashboard_url}/api/version", 120, proc)
        yield RayCluster(address=f"127.0.0.1:{port}", dashboard_url=dashboard_url, temp_dir=temp_dir, proc=proc)
    finally:
        # Ray drains for up to 30 s on SIGTERM; nothing of a test session needs draining.
        _terminate(proc, timeout=8)
        shutil.rmtree(temp_dir, ignore_errors=True)


def engine_core_children() -> list:
    """vLLM ``EngineCore`` processes below this process (psutil.Process objects)."""
    import psutil

    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if "EngineCore" in p.name() or "EngineCore" in " ".join(p.cmdline()):
                out.append(p)
        except psutil.Error:
            continue
    return out
