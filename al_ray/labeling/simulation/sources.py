"""Where a simulator's truth comes from: the Davidson CSV, gold files, vote and gold columns.

Why a module of its own: the simulators take plain tables and mappings; this is the thin layer
that produces them. It reads nothing itself: the Davidson CSV and the gold files are read by
``al_ray.data``'s readers (``read_davidson_csv``, ``layout.read_gold``), exactly as the corpus was
prepared, and the task -> vote-column table is the preparer's ``VOTE_FOLDING``.
"""

from __future__ import annotations

from typing import Any, Mapping

import pyarrow as pa

from al_ray.data.davidson import VOTE_FOLDING, read_davidson_csv
from al_ray.data.layout import read_gold as _read_gold
from al_ray.schemas import VOTE_PREFIX

# Davidson et al. (2017) columns -> task labels (sums of vote columns): the preparer's table
DAVIDSON_TASKS: dict[str, dict[str, tuple[str, ...]]] = VOTE_FOLDING


def load_davidson(csv_url: str, storage_options: Mapping[str, Any] | None = None) -> pa.Table:
    """The Davidson CSV as a table: id (string of the unnamed first column), the vote columns, text.

    The preparer's reader (``al_ray.data.davidson.read_davidson_csv``): quoting honoured, every
    record validated, tweets ``html.unescape``-d — the simulator sees the texts the corpus holds.
    """
    return read_davidson_csv(csv_url, storage_options)


def derive_votes(table: pa.Table, mapping: Mapping[str, Any]) -> pa.Table:
    """id, text and ``votes_<label>`` per task label; each mapping value is a column name, a
    sequence of column names (summed), or a polars expression."""
    import polars as pl

    df = pl.from_arrow(table)
    exprs = []
    for label, spec in mapping.items():
        if isinstance(spec, str):
            expr = pl.col(spec)
        elif isinstance(spec, pl.Expr):
            expr = spec
        else:
            expr = pl.sum_horizontal([pl.col(c) for c in spec])
        exprs.append(expr.cast(pl.Int64).alias(VOTE_PREFIX + label))
    keep = [c for c in ("id", "text") if c in df.columns]
    out = df.select([pl.col(c) for c in keep] + exprs).to_arrow()
    return out.cast(pa.schema([
        pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type) for f in out.schema
    ]))


def gold_from_table(table: pa.Table, column: str, id_column: str = "id") -> dict[str, str]:
    pairs = zip(table[id_column].to_pylist(), table[column].to_pylist())
    return {str(i): str(g) for i, g in pairs if g is not None}


def read_gold(gold_url: str, storage_options: Mapping[str, Any] | None = None) -> pa.Table:
    """A gold folder (``<gold_url>/gold.parquet``) or the Parquet file itself: id, label, votes_<label>...

    ``al_ray.data.layout.read_gold``, asking only for ``id`` (the simulator needs votes or a label,
    not the prepared file's split and tie columns)."""
    return _read_gold(gold_url, storage_options, required=("id",))
