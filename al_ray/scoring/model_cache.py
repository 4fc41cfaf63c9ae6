"""Fetch a remote checkpoint (any fsspec URL) into a local cache once per worker node.

Engines need a local directory. The cache key is the URL plus the model version, so a new round's
weights published at the same URL are fetched again; a file lock keeps concurrent actors on one
node from downloading the same checkpoint twice, and the directory is renamed into place only when
complete.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any, Mapping

from filelock import FileLock

from al_ray.errors import StorageError
from al_ray.security import scrub
from al_ray.storage import get_dir, is_local, resolve


def default_cache_dir() -> Path:
    return Path(os.environ.get("AL_RAY_MODEL_CACHE", Path.home() / ".cache" / "al_ray" / "models"))


def local_copy(url: str, version: str | None, storage_options: Mapping[str, Any] | None = None,
               cache_dir: str | None = None) -> str:
    """A local directory holding ``url``'s files; local paths are returned unchanged."""
    fs, path = resolve(url, storage_options)
    if is_local(fs):
        if not os.path.isdir(path):
            raise StorageError(f"model directory not found: {url}")
        return path
    root = Path(cache_dir) if cache_dir else default_cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(f"{url}\n{version or ''}".encode()).hexdigest()[:20]
    dest = root / key
    with FileLock(root / f".{key}.lock"):
        if (dest / ".complete").exists():
            return str(dest)
        tmp = root / f".{key}.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            get_dir(url, str(tmp), storage_options)
        except Exception as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, StorageError):
                raise
            raise StorageError(f"cannot fetch model {scrub(url)}: {scrub(str(exc))}") from exc
        (tmp / ".complete").write_text(url + "\n")
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
    return str(dest)
