"""Sorted UTF-8 keys in numpy arrays: how the driver looks up 100K relative paths at once.

The output listing (``listing``) and the corpus listing (``shard_table``) both hold their paths as
one sorted numpy ``S`` array and answer "where is each of these paths" with one ``searchsorted``
rather than a Python dict of 100K strings. Numpy rather than Arrow: building a first Arrow array
from Python objects imports pandas into the driver (~40 MiB), which otherwise never needs it.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np


def utf8_keys(values: Sequence[str] | np.ndarray) -> np.ndarray:
    """``values`` as a numpy ``S`` array of their UTF-8 bytes (returned as is when it is one)."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "S":
        return values
    return np.array([v.encode("utf-8") for v in values], dtype=bytes) if len(values) else np.zeros(0, "S1")


def index_in(keys: np.ndarray, query: Iterable[str] | np.ndarray) -> np.ndarray:
    """Position of each of ``query`` in the sorted ``keys``, -1 where it is not there."""
    q = utf8_keys(query if isinstance(query, np.ndarray) else list(query))
    if not len(keys) or not len(q):
        return np.full(len(q), -1, np.int64)
    pos = np.searchsorted(keys, q)
    hit = keys[np.minimum(pos, len(keys) - 1)] == q
    return np.where(hit, pos, -1).astype(np.int64)
