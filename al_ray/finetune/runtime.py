"""Where and how a fine-tune runs: determinism, an isolated random stream, intra-op threads, the device.

Why a module of its own: these context managers wrap a whole training run (``train.py`` enters all
of them around building, training and saving), not any one step of it, and they are the only part
of the adapter that changes process-wide torch state, each restoring it on exit. torch is imported
inside each function, so importing this module costs nothing.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

from al_ray.errors import ConfigError


@contextlib.contextmanager
def deterministic(enabled: bool = True) -> Iterator[None]:
    """``torch.use_deterministic_algorithms`` for the block, restoring the previous setting after.

    ``warn_only``: on CPU every op we use has a deterministic kernel; on CUDA an op without one
    warns rather than fails (set CUBLAS_WORKSPACE_CONFIG=:4096:8 for bit-identical GPU runs).
    """
    import torch

    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    if enabled:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)


@contextlib.contextmanager
def isolated_rng(device: str = "cpu") -> Iterator[None]:
    """Seeding for training happens inside this block and does not leak into the caller's global
    torch random state (a driver or test process keeps its own stream)."""
    import torch

    devices = [] if device == "cpu" else list(range(torch.cuda.device_count()))
    with torch.random.fork_rng(devices=devices):
        yield


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` intra-op threads (None: unchanged), restoring the previous count."""
    import torch

    prev = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(prev)


def current_threads() -> int:
    import torch

    return torch.get_num_threads()


def pick_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("finetune.device is 'cuda' but no CUDA device is visible to this process")
    return device
