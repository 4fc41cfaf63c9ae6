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


# ----------------------------------------------------------------------------- Label Studio

LABEL_STUDIO_VERSION = "1.23.2"
_LS_STAMP = ".al-ray-installed"


def label_studio_venv() -> Path:
    """Where Label Studio's own virtual environment lives: never inside the project's .venv.

    ``AL_RAY_LABEL_STUDIO_VENV`` overrides the default, a per-version folder of the user's cache, so
    the ~1 GB install is made once per machine and reused by every later test session and CI run.
    """
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "al_ray" / (
        f"label-studio-{LABEL_STUDIO_VERSION}")
    return Path(os.environ.get("AL_RAY_LABEL_STUDIO_VENV") or default)


def ensure_label_studio(venv: Path | None = None) -> Path:
    """Install ``label-studio`` into its own venv unless that was done already; return its executable.

    Idempotent and safe to call from concurrent sessions: a stamp file (written last) says the install
    finished, and an exclusive lock on a file beside the venv serialises installers. The venv is made
    from the interpreter running the tests (Python 3.11, which Label Studio 1.23 supports), so
    nothing of Label Studio's dependency tree (Django, its own pydantic pins ...) touches the project's
    .venv. A failure raises with the tail of pip's output: the live tests must fail loudly, not skip.
    """
    import fcntl

    venv = venv or label_studio_venv()
    exe, stamp = venv / "bin" / "label-studio", venv / _LS_STAMP
    if stamp.is_file() and stamp.read_text().strip() == LABEL_STUDIO_VERSION and exe.exists():
        return exe
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.is_file() and stamp.read_text().strip() == LABEL_STUDIO_VERSION and exe.exists():
            return exe
        base = getattr(sys, "_base_executable", None) or sys.executable
        steps = []
        if not (venv / "bin" / "python").exists():
            steps.append([base, "-m", "venv", str(venv)])
        steps.append([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                      f"label-studio=={LABEL_STUDIO_VERSION}"])
        for cmd in steps:
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                tail = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines()
                                 if not line.startswith("WARNING: Location"))[-3000:]
                raise RuntimeError(f"installing Label Studio {LABEL_STUDIO_VERSION} into {venv} failed "
                                   f"({' '.join(cmd[:4])} ... exited {proc.returncode}):\n{tail}")
        if not exe.exists():
            raise RuntimeError(f"{exe} missing after installing label-studio=={LABEL_STUDIO_VERSION}")
        stamp.write_text(LABEL_STUDIO_VERSION + "\n")
    return exe


@dataclass
class LabelStudioUser:
    email: str
    password: str
    token: str  # personal access token (a JWT refresh token), as a user creates it in the web UI


@dataclass
class LabelStudioServer:
    """A running Label Studio Community server (SQLite) with an admin and two annotators."""

    url: str
    data_dir: str
    admin: LabelStudioUser
    annotators: dict[str, LabelStudioUser]
    log_path: str
    proc: subprocess.Popen = field(repr=False)

    def access_headers(self, user: LabelStudioUser) -> dict:
        """``Authorization: Bearer <access>`` for ``user``: its PAT exchanged at /api/token/refresh/."""
        import requests

        r = requests.post(f"{self.url}/api/token/refresh/", json={"refresh": user.token}, timeout=30)
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['access']}"}


def _ls_session_pat(url: str, email: str, password: str, *, signup: bool) -> str:
    """Sign up (or log in) through Label Studio's own forms, then create a personal access token.

    This is what a person does in the browser (sign-up page, Account & Settings -> Personal Access
    Token); in 1.23 the legacy ``Token`` keys are disabled by default, so PATs are what users have.
    """
    import requests

    page = "/user/signup/" if signup else "/user/login/"
    with requests.Session() as s:
        s.get(url + page, timeout=30).raise_for_status()
        r = s.post(url + page, data={"email": email, "password": password,
                                     "csrfmiddlewaretoken": s.cookies.get("csrftoken")},
                   headers={"Referer": url + page}, allow_redirects=False, timeout=30)
        if r.status_code != 302:
            raise RuntimeError(f"Label Studio {page} for {email} answered {r.status_code}, not a redirect")
        r = s.post(url + "/api/token/", headers={"X-CSRFToken": s.cookies.get("csrftoken", ""),
                                                 "Referer": url + "/"}, timeout=30)
        if r.status_code != 201:
            raise RuntimeError(f"creating a personal access token for {email}: {r.status_code} {r.text[:300]}")
        return r.json()["token"]


@contextmanager
def label_studio_server(data_dir: str, start_timeout: float = 300.0) -> Iterator[LabelStudioServer]:
    """``label-studio start`` on loopback with a fresh SQLite database under ``data_dir``.

    Start-up (migrations on an empty database) takes ~50 s on 2 cores. The admin is created by the
    start command itself (``--username/--password``); the annotators sign up through the web forms.
    """
    exe = ensure_label_studio()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = os.path.join(data_dir, "label-studio.log")
    env = dict(os.environ, LABEL_STUDIO_BASE_DATA_DIR=data_dir, LATEST_VERSION_CHECK="false",
               COLLECT_ANALYTICS="false", SENTRY_DSN="", FRONTEND_SENTRY_DSN="", LOG_LEVEL="WARNING")
    env.pop("DJANGO_SETTINGS_MODULE", None)
    admin = LabelStudioUser("admin@al-ray.test", "admin-pass-1234", "")
    cmd = [str(exe), "start", "--no-browser", "--port", str(port), "--internal-host", "127.0.0.1",
           "--username", admin.email, "--password", admin.password]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=data_dir, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        try:
            _wait_http(f"{url}/health", start_timeout, proc)
        except (RuntimeError, TimeoutError) as exc:
            tail = Path(log_path).read_text(errors="replace")[-3000:]
            raise RuntimeError(f"Label Studio did not start ({exc}); its log {log_path} ends:\n{tail}") from exc
        admin.token = _ls_session_pat(url, admin.email, admin.password, signup=False)
        annotators = {}
        for name in ("alice", "bob"):
            u = LabelStudioUser(f"{name}@al-ray.test", f"{name}-pass-1234", "")
            u.token = _ls_session_pat(url, u.email, u.password, signup=True)
            annotators[name] = u
        yield LabelStudioServer(url=url, data_dir=data_dir, admin=admin, annotators=annotators,
                                log_path=log_path, proc=proc)
    finally:
        _terminate(proc, timeout=15)


if __name__ == "__main__":  # `make labelstudio`: python -m tests.servers install-label-studio
    if sys.argv[1:] != ["install-label-studio"]:
        sys.exit("usage: python -m tests.servers install-label-studio")
    t0 = time.monotonic()
    print(f"label-studio {LABEL_STUDIO_VERSION}: {ensure_label_studio()} ({time.monotonic() - t0:.1f} s)")
