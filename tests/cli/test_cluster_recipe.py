"""docs/CLUSTER.md section 1, the local ``ray job submit`` rehearsal, run as the document writes it.

The two bash blocks of the section are run in one bash process from the repository root, with a
``PATH`` that does not contain the virtual environment (a fresh terminal: the recipe itself must
activate it; before it did, the job's ``python`` was the system one and the job failed with
``ModuleNotFoundError``). Three things differ from the page, each replacement asserted to match so
an edit of the page cannot silently skip it: a 200-row corpus instead of 2,000, the Ray head on
free ports with ``--block`` in the background (other Ray instances on a shared machine keep
theirs), and no ``ray stop``, which would stop every Ray instance of this user: the test
terminates the process group of the head it started instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.servers import free_port

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "CLUSTER.md"
VENV = REPO / ".venv"


def stop_group(pgid: int, timeout: float = 20) -> None:
    """SIGTERM the process group (``ray start --block`` then stops the nodes it started), SIGKILL the rest."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def section_blocks(text: str, heading: str = "## 1. On the laptop") -> list[str]:
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, re.S)


def replace_once(script: str, old: str, new: str) -> str:
    assert script.count(old) == 1, f"docs/CLUSTER.md §1 no longer contains {old!r} exactly once"
    return script.replace(old, new)


def test_section_1_activates_the_venv_before_anything_runs():
    """Cheap guard: the recipe's first command activates the venv, and nothing calls .venv/bin/python."""
    blocks = section_blocks(DOC.read_text())
    setup = blocks[1].strip().splitlines()
    assert setup[0].startswith("source .venv/bin/activate")
    assert ".venv/bin/python" not in "".join(blocks) and "python -c" not in "".join(blocks)
    assert "al-ray model init" in blocks[1]


@pytest.mark.slow
def test_cluster_md_local_job_submit_recipe_as_written(tmp_path):
    blocks = section_blocks(DOC.read_text())
    assert blocks[0].strip().startswith("make demo") and len(blocks) >= 3
    script = blocks[1] + blocks[2]
    work = tmp_path / "al"
    ray_tmp = tempfile.mkdtemp(prefix="alray-doc-")  # short: Ray's socket paths have a length limit
    dash = free_port()
    ports = " ".join(f"{flag} {free_port()}" for flag in (
        "--port", "--ray-client-server-port", "--dashboard-agent-listen-port", "--metrics-export-port",
        "--runtime-env-agent-port", "--node-manager-port", "--object-manager-port"))
    script = replace_once(script, "/tmp/al/corpus --rows 2000 --shards 4", "/tmp/al/corpus --rows 200 --shards 2")
    script = script.replace("/tmp/al", str(work))
    script = replace_once(
        script, "ray start --head --dashboard-host 127.0.0.1\n",
        f"ray start --head --dashboard-host 127.0.0.1 --block --dashboard-port {dash} {ports} --num-cpus 2 "
        f"--num-gpus 0 --temp-dir {ray_tmp} --disable-usage-stats > {tmp_path}/head.log 2>&1 &\n"
        f"for i in $(seq 180); do python -c \"import urllib.request as u; "
        f"u.urlopen('http://127.0.0.1:{dash}/api/version', timeout=1)\" 2>/dev/null && break; sleep 1; done\n")
    script = replace_once(script, "--address http://127.0.0.1:8265", f"--address http://127.0.0.1:{dash}")
    stop = [ln for ln in script.splitlines() if re.match(r"\s*(\S*/)?ray stop\b", ln)]
    assert len(stop) == 1
    script = script.replace(stop[0], "")

    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "RAY_ADDRESS", "PYTHONPATH",
                                                            "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p and not Path(p).resolve().is_relative_to(VENV.resolve()))
    env["RAY_AUTH_MODE"] = "disabled"  # the page's token note: this head is loopback-only
    system_python = shutil.which("python", path=env["PATH"])
    assert system_python is None or not Path(system_python).resolve().is_relative_to(VENV.resolve())

    proc = subprocess.Popen(["bash", "-e", "-o", "pipefail", "-c", script], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=480)
    except subprocess.TimeoutExpired:
        output = "timed out"
    finally:
        stop_group(proc.pid)  # the recipe's head runs in this process group: it stops with it
        proc.wait()
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert proc.returncode == 0, output[-6000:] + (tmp_path / "head.log").read_text()[-2000:]
    assert "MISSING" not in output and "newly initialized" not in output
    assert "ModuleNotFoundError" not in output
    summary = json.loads((work / "scores" / "_summary.json").read_text())
    assert summary["rows_scored"] == 200 and summary["shards_scored"] == 2, summary
    ids = [i for s in sorted((work / "scores").glob("*.parquet")) for i in pq.read_table(s).column("id").to_pylist()]
    assert len(ids) == 200 and len(set(ids)) == 200
    assert "AL_RAY_JOB_SUMMARY" in output
