"""Helpers for the CLI tests: the real ``al-ray`` command in a subprocess, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

# An address where no Ray listens: a command that reaches ``ray.init`` with it fails or hangs, so a
# test that passes with it set proves its error came before Ray was contacted.
NO_RAY = "127.0.0.1:9"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120, cwd=None) -> Result:
    """``python -m al_ray.cli ARGS`` with this interpreter; ``env`` entries are added (None removes)."""
    full = dict(os.environ)
    for k, v in (env or {}).items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = v
    p = subprocess.run([sys.executable, "-m", "al_ray.cli", *map(str, args)], capture_output=True, text=True,
                       env=full, timeout=timeout, cwd=cwd)
    return Result(p.returncode, p.stdout, p.stderr)


@pytest.fixture
def cli():
    return run_cli
