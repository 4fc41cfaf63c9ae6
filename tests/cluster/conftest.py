from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def ray_version() -> str:
    """The Ray version pinned in pyproject.toml (``ray[...]==X.Y.Z``)."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = [d.split("==", 1)[1].strip() for d in deps if d.replace(" ", "").startswith("ray[") and "==" in d]
    assert len(pins) == 1, deps
    return pins[0]
