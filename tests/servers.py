"""Real servers the tests start on loopback: moto's S3 HTTP server, a Ray head node, Label Studio.

Each is started once per pytest session (see conftest.py) and torn down by terminating the one
process we started, so concurrent test sessions on the same machine do not stop each other's.
moto's server (``moto_server``, ``free_port``) lives in ``al_ray.testing.servers``, which the
benchmarks use too, and is re-exported here; the rest is the test suite's own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from al_ray.testing.servers import S3Server, free_port, moto_server, terminate, wait_http

__all__ = ["S3Server", "free_port", "moto_server", "RayCluster", "ray_head", "engine_core_children",
           "LABEL_STUDIO_VERSION", "label_studio_venv", "ensure_label_studio", "LabelStudioUser",
           "LabelStudioServer", "label_studio_server"]

VENV_BIN = Path(sys.executable).parent


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
        wait_http(f"{dashboard_url}/api/version", 120, proc)
        yield RayCluster(address=f"127.0.0.1:{port}", dashboard_url=dashboard_url, temp_dir=temp_dir, proc=proc)
    finally:
        # Ray drains for up to 30 s on SIGTERM; nothing of a test session needs draining.
        terminate(proc, timeout=8)
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
    from filelock import FileLock

    venv = venv or label_studio_venv()
    exe, stamp = venv / "bin" / "label-studio", venv / _LS_STAMP
    if stamp.is_file() and stamp.read_text().strip() == LABEL_STUDIO_VERSION and exe.exists():
        return exe
    venv.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(venv.parent / f".{venv.name}.lock"):
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
            wait_http(f"{url}/health", start_timeout, proc)
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
        terminate(proc, timeout=15)


if __name__ == "__main__":  # `make labelstudio`: python -m tests.servers install-label-studio
    if sys.argv[1:] != ["install-label-studio"]:
        sys.exit("usage: python -m tests.servers install-label-studio")
    t0 = time.monotonic()
    print(f"label-studio {LABEL_STUDIO_VERSION}: {ensure_label_studio()} ({time.monotonic() - t0:.1f} s)")
