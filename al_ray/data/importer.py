"""Bring your own labelled data: a CSV/TSV/JSONL/Parquet file -> the prepared-data layout.

``import_labelled`` reads a file with a text column and the labels in one of three shapes:

    (a) label column   one gold label per row (n_annotators = 1, votes_<label> = 1 for that label)
    (b) vote columns   per-label vote counts, e.g. {"neither": "n_neither", "violating": "n_viol"}
                       (labels left out default to the column ``votes_<label>``)
    (c) share column   the share of annotators who said ``positive_label`` plus their number (a
                       constant or a column): votes = round(share * N); binary tasks only

and writes corpus shards (id, text), ``gold/gold.parquet``, ``gold/test_ids.parquet`` and
``gold/dataset.json`` exactly like the built-in preparers (``al_ray.data.layout``).

The file is validated in full before anything is written. Every problem is an ``InputError`` that
names the file, the first offending record (1-based, header not counted; its id when known), the
column, and how many records share the problem. Texts are kept exactly as given (no cleaning); an
empty or whitespace-only text is an error.

``write_prepared`` is the shared back half (tie draws, optional subsample, stratified test split,
gold/shard writing) that ``al_ray.data.davidson`` uses too. Its random stream is fixed: one coin
per row for ties first, then the subsample (only when ``max_rows`` cuts rows), then the test split,
all from ``numpy.random.default_rng(seed)``; so the same inputs and seed give byte-identical files.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

from al_ray.errors import ConfigError, InputError
from al_ray.security import scrub
from al_ray.storage import read_bytes
from al_ray.data.layout import PreparedDataset, default_gold_url, gold_schema, votes_column
from al_ray.data.writer import split_column, stratified_test_mask, write_corpus_info, write_gold_files, write_shards

PREPARER = "al_ray.data.importer"
PREPARER_VERSION = 1
FORMATS = ("csv", "tsv", "jsonl", "parquet")
_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
             ".parquet": "parquet", ".pq": "parquet"}
TIES_NOTE = ("votes tied; label drawn with a seeded coin (seed above) among the tied labels, "
             "positive label first")


# ----------------------------------------------------------------------------- shared core


def decide_labels(votes: np.ndarray, labels: Sequence[str], positive_label: str,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Majority label per row (as strings) and the tie flags; ``votes`` is (rows, labels).

    One uniform draw per row is taken for every row (a fixed stream, whatever the ties), and used
    only where the top vote count is shared: the label is then ``tied[floor(u * k)]`` with the
    tied labels ordered positive label first, then task order. For two labels that is "positive
    when u < 0.5", the rule the Davidson preparation has always used.
    """
    n, k = votes.shape
    draw = rng.random(n)
    top = votes.max(axis=1, initial=0) if n else np.zeros(0, dtype=votes.dtype)
    at_top = votes == top[:, None]
    n_top = at_top.sum(axis=1)
    tie = n_top > 1
    winner = np.argmax(votes, axis=1) if n else np.zeros(0, dtype=np.int64)
    if tie.any():
        order = [labels.index(positive_label)] + [j for j in range(k) if labels[j] != positive_label]
        for i in np.flatnonzero(tie):
            tied = [j for j in order if at_top[i, j]]
            winner[i] = tied[min(int(draw[i] * len(tied)), len(tied) - 1)]
    names = np.asarray(list(labels))
    return names[winner] if n else np.asarray([], dtype=names.dtype), tie


def stratified_subsample(labels: np.ndarray, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted row indices of a seeded subsample of ``max_rows`` rows keeping each label's share.

    Quotas by largest remainder (so they add up to ``max_rows`` exactly); a label present in the
    input keeps at least one row when ``max_rows`` allows it.
    """
    n = len(labels)
    if max_rows >= n:
        return np.arange(n)
    uniq, counts = np.unique(labels, return_counts=True)
    exact = max_rows * counts / n
    quota = np.floor(exact).astype(np.int64)
    for j in np.argsort(-(exact - quota), kind="stable")[: max_rows - int(quota.sum())]:
        quota[j] += 1
    if max_rows >= len(uniq):
        for j in np.flatnonzero(quota == 0):
            quota[int(np.argmax(quota))] -= 1
            quota[j] = 1
    keep = []
    for lab, q in zip(uniq, quota):
        members = np.flatnonzero(labels == lab)
        keep.append(members[rng.permutation(len(members))[:q]])
    return np.sort(np.concatenate(keep))


def write_prepared(
    out_url: str,
    *,
    ids: Sequence[str] | pa.Array | pa.ChunkedArray,
    texts: Sequence[str] | pa.Array | pa.ChunkedArray,
    votes_by_label: Mapping[str, np.ndarray],
    labels: Sequence[str],
    positive_label: str,
    n_annotators: np.ndarray | pa.Array | pa.ChunkedArray | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    n_shards: int = 1,
    gold_url: str | None = None,
    max_rows: int | None = None,
    extra_columns: Mapping[str, pa.Array | pa.ChunkedArray] | None = None,
    corpus_info: Mapping[str, Any] | None = None,
    info: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    location: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> PreparedDataset:
    """Decide labels from votes (seeded ties), subsample, split, and write the prepared layout.

    ``votes_by_label`` maps every task label to an int array (one count per row, validated by the
    caller); ``n_annotators`` defaults to their row sums. ``extra_columns`` are appended to the gold
    file after the standard columns. ``corpus_info`` goes to the corpus's ``_dataset.json`` and is
    also the base of the gold ``dataset.json``, whose computed figures (n_rows, positive_rate,
    n_test, n_ties, ...) come next and ``info`` last (it may override, e.g. ``ties_note``).
    ``location`` names the input in errors. Nothing is written unless every check passes.
    """
    labels = list(labels)
    if sorted(votes_by_label) != sorted(labels):
        raise ValueError(f"votes_by_label has labels {sorted(votes_by_label)}, task has {labels}")
    if positive_label not in labels:
        raise ConfigError(f"positive_label {positive_label!r} is not one of labels {labels}")
    ids_arr = ids if isinstance(ids, (pa.Array, pa.ChunkedArray)) else pa.array(list(ids), pa.string())
    texts_arr = texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else pa.array(list(texts), pa.string())
    votes = np.stack([np.asarray(votes_by_label[lab], dtype=np.int64) for lab in labels], axis=1)
    n_source = len(ids_arr)
    if len(texts_arr) != n_source or votes.shape[0] != n_source:
        raise ValueError("ids, texts and votes differ in length")
    if n_annotators is None:
        n_annotators = pa.array(votes.sum(axis=1), pa.int64())
    elif not isinstance(n_annotators, (pa.Array, pa.ChunkedArray)):
        n_annotators = pa.array(np.asarray(n_annotators, dtype=np.int64), pa.int64())
    extra_columns = dict(extra_columns or {})
    if max_rows is not None and max_rows < 1:
        raise ConfigError(f"max_rows must be >= 1, got {max_rows}")

    rng = np.random.default_rng(seed)
    label_arr, tie = decide_labels(votes, labels, positive_label, rng)
    if max_rows is not None and max_rows < n_source:
        keep = stratified_subsample(label_arr, max_rows, rng)
        take = pa.array(keep)
        ids_arr, texts_arr, n_annotators = ids_arr.take(take), texts_arr.take(take), n_annotators.take(take)
        extra_columns = {name: col.take(take) for name, col in extra_columns.items()}
        votes, label_arr, tie = votes[keep], label_arr[keep], tie[keep]
    n = len(label_arr)
    present = sorted(set(label_arr.tolist()))
    if len(present) < 2:
        counts = f"{present[0]!r} ({n:,} rows)" if present else "none (no rows)"
        raise InputError(f"only one class present: {counts}; a task needs at least two of {labels}",
                         location=location)
    if n_shards < 1 or n_shards > n:
        raise ConfigError(f"n_shards={n_shards} must be between 1 and the {n:,} rows"
                          + (f" of {location}" if location else ""))
    test_mask = stratified_test_mask(label_arr, test_fraction, rng)

    columns: dict[str, Any] = {
        "id": ids_arr,
        "label": pa.array(label_arr.tolist(), pa.string()),
        "n_annotators": n_annotators,
    }
    for j, lab in enumerate(labels):
        columns[votes_column(lab)] = pa.array(votes[:, j], pa.int64())
    columns["tie"] = pa.array(tie)
    columns["split"] = split_column(test_mask)
    extra_fields = []
    for name, col in extra_columns.items():
        columns[name] = col
        extra_fields.append(pa.field(name, col.type))
    gold = pa.table(columns, schema=gold_schema(labels, extra_fields))

    is_pos = label_arr == positive_label
    pos_rate = float(is_pos.mean())
    n_ties = int(tie.sum())
    unanimous = float(np.mean((votes > 0).sum(axis=1) <= 1))
    corpus_info = dict(corpus_info or {})
    gold_info = dict(corpus_info)
    gold_info.update({
        "labels": labels, "positive_label": positive_label, "n_rows": n, "positive_rate": pos_rate,
        "positive_rate_test": float(is_pos[test_mask].mean()) if test_mask.any() else None,
        "n_test": int(test_mask.sum()), "n_ties": n_ties, "ties_note": TIES_NOTE,
        "unanimous_rate": unanimous, "corpus_url": out_url,
    })
    ds_extra: dict[str, Any] = {"unanimous_rate": unanimous}
    if n != n_source:
        gold_info.update({"n_rows_source": n_source,
                          "subsample": f"{n:,} of {n_source:,} rows, label-stratified, seeded (seed above)"})
        ds_extra["n_rows_source"] = n_source
    gold_info.update(info or {})
    ds_extra.update(extra or {})

    gold_url = gold_url or default_gold_url(out_url)
    shard_urls = write_shards(out_url, ids_arr.to_pylist(), texts_arr.to_pylist(), n_shards, storage_options)
    write_gold_files(gold_url, gold, gold_info, storage_options)
    write_corpus_info(out_url, corpus_info, storage_options)
    return PreparedDataset(
        corpus_url=out_url, gold_url=gold_url, n_rows=n, n_shards=n_shards, labels=tuple(labels),
        positive_label=positive_label, positive_rate=pos_rate, n_test=int(test_mask.sum()), n_ties=n_ties,
        shard_urls=tuple(shard_urls), extra=ds_extra,
    )


# ----------------------------------------------------------------------------- reading


def detect_format(path: str) -> str:
    """csv | tsv | jsonl | parquet from the file name's suffix."""
    name = str(path).lower().rsplit("/", 1)[-1]
    for suffix, fmt in _SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    raise ConfigError(f"cannot tell the format of {scrub(str(path))!r} from its name; expected a suffix of "
                      f"{sorted(_SUFFIXES)} or pass fmt= / --format {'|'.join(FORMATS)}")


def default_vote_columns(labels: Sequence[str]) -> dict[str, str]:
    """label -> ``votes_<label>``, the gold file's own naming."""
    return {lab: votes_column(lab) for lab in labels}


def count_records(data: bytes, delimiter: str, quote_char: str | bool) -> int:
    """Non-empty records after the header, by Python's reference csv parser (an independent check)."""
    kwargs: dict[str, Any] = {"delimiter": delimiter}
    if quote_char is False:
        kwargs["quoting"] = csv.QUOTE_NONE
    else:
        kwargs.update(quotechar=quote_char, doublequote=True)
    old = csv.field_size_limit()
    csv.field_size_limit(1 << 30)
    try:
        reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), **kwargs)
        return max(0, sum(1 for row in reader if row) - 1)
    finally:
        csv.field_size_limit(old)


def _missing_columns(shown: str, wanted: Mapping[str, str], present: Sequence[str]) -> None:
    """Raise for the first wanted column the file lacks, listing what it has."""
    missing = [(role, col) for role, col in wanted.items() if col not in present]
    if not missing:
        return
    role, col = missing[0]
    hint = ""
    if role == "id column":
        hint = " (pass id_column=None / --id-column '' to number the records instead)"
    others = f"; also missing: {[c for _, c in missing[1:]]}" if len(missing) > 1 else ""
    raise InputError(f"no column {col!r} (the {role}){hint}{others}; columns present: {list(present)}",
                     location=shown)


def read_labelled_table(path: str, fmt: str, wanted: Mapping[str, str], *,
                        quote_char: str | bool | None = None,
                        storage_options: Mapping[str, Any] | None = None) -> pa.Table:
    """Parse ``path`` with pyarrow and return only the ``wanted`` columns (role -> column name).

    CSV/TSV columns are read as strings (ids like "007" and labels like "0" stay as written;
    numbers are converted later, row by row errors included). Quoting: CSV uses ``"`` with doubled
    quotes inside quoted fields; TSV has no quoting by default (``quote_char=False``), because TSV
    texts often hold stray ``"`` characters: pyarrow would read the SMS Spam Collection's 5,574
    messages as 5,572 records, silently gluing the text between two quotes into one field.
    """
    shown = scrub(str(path))
    try:
        data = read_bytes(path, storage_options)
    except FileNotFoundError as exc:
        raise InputError("file not found", location=shown) from exc
    cols = list(dict.fromkeys(wanted.values()))
    try:
        if fmt in ("csv", "tsv"):
            delimiter = "," if fmt == "csv" else "\t"
            quote = quote_char if quote_char is not None else ('"' if fmt == "csv" else False)
            parse = pacsv.ParseOptions(delimiter=delimiter, quote_char=quote, double_quote=True,
                                       newlines_in_values=True)
            try:
                table = pacsv.read_csv(io.BytesIO(data), parse_options=parse, convert_options=pacsv.ConvertOptions(
                    include_columns=cols, column_types={c: pa.string() for c in cols}, strings_can_be_null=False))
            except pa.ArrowKeyError:
                names = pacsv.open_csv(io.BytesIO(data), parse_options=parse).schema.names
                _missing_columns(shown, wanted, names)
                raise
            try:
                expected = count_records(data, delimiter, quote)
            except (UnicodeDecodeError, csv.Error) as exc:
                raise InputError(f"Python's csv module cannot read the file: {exc}", location=shown) from exc
            if table.num_rows != expected:
                raise InputError(
                    f"pyarrow parsed {table.num_rows:,} records but Python's csv module reads {expected:,}; "
                    "check the quoting (quote_char= / --quoting, --no-quoting)", location=shown)
            return table
        if fmt == "jsonl":
            block = max(1 << 20, min(len(data) + 1, (1 << 31) - 1))
            table = pajson.read_json(io.BytesIO(data), read_options=pajson.ReadOptions(block_size=block))
            _missing_columns(shown, wanted, table.schema.names)
            expected = sum(1 for line in data.splitlines() if line.strip())
            if table.num_rows != expected:
                raise InputError(f"pyarrow parsed {table.num_rows:,} records from {expected:,} non-empty lines; "
                                 "JSONL needs one JSON object per line", location=shown)
            return table.select(cols)
        if fmt == "parquet":
            names = pq.read_schema(io.BytesIO(data)).names
            _missing_columns(shown, wanted, names)
            return pq.read_table(io.BytesIO(data), columns=cols)
    except (pa.ArrowInvalid, pa.ArrowKeyError, pa.ArrowTypeError) as exc:
        raise InputError(f"cannot parse as {fmt}: {exc}", location=shown) from exc
    raise ConfigError(f"unknown format {fmt!r}; expected one of {list(FORMATS)}")


# ----------------------------------------------------------------------------- validation


class _Rows:
    """Builds errors that name the file, the first offending record (and id), the column, the count."""

    def __init__(self, shown: str, ids: list[str] | None = None) -> None:
        self.shown = shown
        self.ids = ids

    def error(self, bad: np.ndarray, column: str, problem: str, hint: str = "") -> InputError:
        i = int(bad[0])
        where = f"{self.shown}, record {i + 1}"
        if self.ids is not None:
            where += f" (id {self.ids[i]!r})"
        where += f", column {column!r}"
        tally = (f" ({len(bad):,} records have this problem; this is the first)" if len(bad) > 1
                 else " (the only record with this problem)")
        return InputError(problem + tally + (f"; {hint}" if hint else ""), location=where)


def _strings(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Any scalar column as strings (ints 0/1 -> "0"/"1", dictionary-encoded -> plain)."""
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    return col.cast(pa.string())


def _blank(col: pa.ChunkedArray) -> np.ndarray:
    """True where a string value is null, empty or whitespace only."""
    length = pc.utf8_length(pc.utf8_trim_whitespace(col)).to_numpy(zero_copy_only=False)
    return np.asarray(pc.is_null(col)) | (np.nan_to_num(length.astype(float), nan=0.0) == 0)


def _ids(table: pa.Table, id_column: str | None, shown: str) -> list[str]:
    if id_column is None:
        return [f"row-{i}" for i in range(table.num_rows)]
    col = table.column(id_column)
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type) or pa.types.is_integer(col.type)
            or pa.types.is_dictionary(col.type)):
        raise InputError(f"id column holds {col.type}; ids must be strings or integers", location=f"{shown}, column {id_column!r}")
    col = _strings(col)
    rows = _Rows(shown)
    bad = np.flatnonzero(_blank(col))
    if bad.size:
        raise rows.error(bad, id_column, "empty id")
    ids = col.to_pylist()
    if pc.count_distinct(col).as_py() != len(ids):
        first: dict[str, int] = {}
        dups = []
        for i, v in enumerate(ids):
            if v in first:
                dups.append(i)
            else:
                first[v] = i
        i = dups[0]
        raise _Rows(shown, ids).error(np.asarray(dups), id_column,
                                      f"duplicate id {ids[i]!r}: record {i + 1} repeats record {first[ids[i]] + 1}")
    return ids


def _texts(table: pa.Table, text_column: str, rows: _Rows) -> pa.ChunkedArray:
    col = table.column(text_column)
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        raise InputError(f"text column holds {col.type}, not text", location=f"{rows.shown}, column {text_column!r}")
    col = col.cast(pa.string())
    bad = np.flatnonzero(_blank(col))
    if bad.size:
        raise rows.error(bad, text_column, "empty text (null, empty or whitespace only)")
    return col


def _numbers(table: pa.Table, column: str, rows: _Rows) -> np.ndarray:
    """A numeric column as float64, every value present, finite and parsable (or an error)."""
    col = table.column(column)
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        blank = _blank(col)
        if blank.any():
            raise rows.error(np.flatnonzero(blank), column, "missing value (a number is needed)")
        trimmed = pc.utf8_trim_whitespace(col)
        try:
            col = trimmed.cast(pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            bad = []
            for i, v in enumerate(trimmed.to_pylist()):
                try:
                    float(v)
                except ValueError:
                    bad.append(i)
            if not bad:
                raise
            raise rows.error(np.asarray(bad), column, f"not a number: {trimmed[bad[0]].as_py()!r}") from None
    elif not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_decimal(col.type)):
        raise InputError(f"column holds {col.type}, not numbers", location=f"{rows.shown}, column {column!r}")
    values = col.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
    null = np.asarray(pc.is_null(col)) if col.null_count else np.zeros(len(values), dtype=bool)
    bad = np.flatnonzero(null | np.isnan(values))
    if bad.size:
        raise rows.error(bad, column, "missing value (a number is needed)")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise rows.error(bad, column, f"not a finite number: {values[bad[0]]}")
    return values


def _counts(values: np.ndarray, column: str, rows: _Rows, what: str, minimum: int = 0) -> np.ndarray:
    bad = np.flatnonzero(values < minimum)
    if bad.size:
        raise rows.error(bad, column, f"{what} must be >= {minimum}, got {values[bad[0]]:g}")
    bad = np.flatnonzero(values != np.round(values))
    if bad.size:
        raise rows.error(bad, column, f"{what} must be a whole number, got {values[bad[0]]:g}")
    return values.astype(np.int64)


def _check_task(labels: Sequence[str], positive_label: str | None) -> tuple[list[str], str]:
    from pydantic import ValidationError

    from al_ray.task import TaskConfig

    if isinstance(labels, str):
        raise ConfigError(f"labels must be a list of label names, got the string {labels!r}")
    try:
        task = TaskConfig(labels=list(labels), positive_label=positive_label)
    except ValidationError as exc:
        msgs = "; ".join(e["msg"] for e in exc.errors())
        raise ConfigError(f"invalid task labels {list(labels)}: {msgs}") from exc
    return list(task.labels), str(task.positive_label)


# ----------------------------------------------------------------------------- the importer


LABEL_SOURCES = {"label_column": "label", "vote_columns": "votes", "share_column": "share"}


def _label_votes(table: pa.Table, mode: str, labels: list[str], positive_label: str, rows: _Rows,
                 label_column: Any, label_map: Mapping[str, str], vote_columns: Mapping[str, str] | None,
                 share_column: Any, annotators: Any, annotators_column: str | None
                 ) -> tuple[dict[str, np.ndarray], np.ndarray, int | None]:
    """Per-label vote counts of every record, its annotator count, and (share column) how many shares
    were not a whole number of votes; an ``InputError`` naming the first bad record otherwise."""
    n = table.num_rows
    n_share_inexact = None
    if mode == "label":
        col = table.column(str(label_column))
        raw = pc.utf8_trim_whitespace(_strings(col)).to_pylist()
        mapped = [label_map.get(v, v) if v is not None else None for v in raw]
        allowed = set(labels)
        bad = np.asarray([i for i, v in enumerate(mapped) if v not in allowed], dtype=np.int64)
        if bad.size:
            first = raw[int(bad[0])]
            tally: dict[str, int] = {}
            for i in bad:
                key = repr(raw[int(i)]) if raw[int(i)] not in (None, "") else "(empty)"
                tally[key] = tally.get(key, 0) + 1
            seen = ", ".join(f"{k} x{v:,}" for k, v in sorted(tally.items(), key=lambda kv: -kv[1])[:5])
            what = "empty label" if first in (None, "") else f"label {first!r} is not a task label"
            raise rows.error(bad, str(label_column), f"{what} (allowed: {labels})",
                             f"values outside the task: {seen}; map raw values to task labels with "
                             "label_map / --label-map raw=label,...")
        names = np.asarray(mapped)
        votes = {lab: (names == lab).astype(np.int64) for lab in labels}
        n_annot = np.ones(n, dtype=np.int64)
    elif mode == "votes":
        assert vote_columns is not None
        votes = {lab: _counts(_numbers(table, col, rows), col, rows, "a vote count")
                 for lab, col in vote_columns.items()}
        total = np.sum([votes[lab] for lab in labels], axis=0)
        vote_cols = ", ".join(vote_columns[lab] for lab in labels)
        bad = np.flatnonzero(total == 0)
        if bad.size:
            raise rows.error(bad, vote_cols, "no votes (every vote count is 0)")
        if annotators_column is not None or annotators is not None:
            if annotators_column is not None:
                expect = _counts(_numbers(table, annotators_column, rows), annotators_column, rows,
                                 "the annotator count", 1)
                where = annotators_column
            else:
                expect, where = np.full(n, int(annotators), dtype=np.int64), vote_cols  # type: ignore[arg-type]
            bad = np.flatnonzero(total != expect)
            if bad.size:
                i = int(bad[0])
                raise rows.error(bad, where, f"votes ({vote_cols}) add up to {int(total[i])} but the "
                                 f"annotator count is {int(expect[i])}")
        n_annot = total
    else:
        share = _numbers(table, str(share_column), rows)
        bad = np.flatnonzero((share < 0) | (share > 1))
        if bad.size:
            raise rows.error(bad, str(share_column), f"share {share[bad[0]]:g} is outside [0, 1]")
        if annotators_column is not None:
            n_annot = _counts(_numbers(table, annotators_column, rows), annotators_column, rows,
                              "the annotator count", 1)
        else:
            n_annot = np.full(n, int(annotators), dtype=np.int64)  # type: ignore[arg-type]
        exact = share * n_annot
        pos_votes = np.floor(exact + 0.5).astype(np.int64)  # round half up: 0.5 of 3 -> 2 of 3
        n_share_inexact = int(np.sum(np.abs(exact - pos_votes) > 1e-6))
        neg_label = next(lab for lab in labels if lab != positive_label)
        votes = {positive_label: pos_votes, neg_label: n_annot - pos_votes}

    return votes, n_annot, n_share_inexact


def label_source(label_column: Any, vote_columns: Any, share_column: Any,
                 spelling: Mapping[str, str] | None = None) -> str:
    """Which of the three ways to give labels was chosen ("label", "votes" or "share"); exactly one
    must be. ``spelling`` names them in the error as the caller's user typed them (the CLI's flags)."""
    name = {k: k for k in LABEL_SOURCES} | dict(spelling or {})
    given = [k for k, value in (("label_column", label_column), ("vote_columns", vote_columns),
                                ("share_column", share_column)) if value is not None]
    if len(given) != 1:
        raise ConfigError(f"give exactly one of {name['label_column']} (one gold label per row), "
                          f"{name['vote_columns']} (per-label vote counts) or {name['share_column']} (share of "
                          f"annotators saying the positive label); got {', '.join(name[k] for k in given) or 'none'}")
    return LABEL_SOURCES[given[0]]


def import_labelled(
    path: str,
    out_url: str,
    *,
    labels: Sequence[str],
    text_column: str = "text",
    id_column: str | None = "id",
    label_column: str | None = None,
    vote_columns: Mapping[str, str] | None = None,
    share_column: str | None = None,
    annotators: int | None = None,
    annotators_column: str | None = None,
    label_map: Mapping[str, str] | None = None,
    positive_label: str | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    n_shards: int = 1,
    gold_url: str | None = None,
    fmt: str | None = None,
    max_rows: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
    quote_char: str | bool | None = None,
) -> PreparedDataset:
    """Turn a labelled CSV/TSV/JSONL/Parquet file into corpus shards + gold folder.

    Give exactly one of ``label_column`` (one gold label per row), ``vote_columns`` (label ->
    vote-count column; ``{}`` or missing labels mean ``votes_<label>``) or ``share_column`` (share
    of ``annotators`` / ``annotators_column`` who said ``positive_label``; binary tasks only).
    ``annotators_column`` (or ``annotators``) with vote columns checks each row's total.
    ``label_map`` maps raw label values (as text: ``0`` -> ``"0"``; surrounding whitespace
    stripped) to task labels; unmapped values must already be task labels. ``id_column=None``
    derives ids ``row-<n>`` from the 0-based record index. ``positive_label`` defaults to the last
    label. ``max_rows`` keeps a seeded, label-stratified subsample before the test split.
    ``fmt`` defaults from the suffix (.csv .tsv .jsonl/.ndjson .parquet); ``quote_char`` overrides
    the CSV/TSV quoting (default ``"`` for CSV, none for TSV). ``gold_url`` defaults to the sibling
    ``gold`` of ``out_url``. Raises ``ConfigError`` for bad arguments and ``InputError`` for bad
    data, before writing anything.
    """
    labels, positive_label = _check_task(labels, positive_label)
    mode = label_source(label_column, vote_columns, share_column)
    if not 0.0 <= test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in [0, 1), got {test_fraction}")
    if n_shards < 1:
        raise ConfigError(f"n_shards must be >= 1, got {n_shards}")
    if max_rows is not None and max_rows < 2:
        raise ConfigError(f"max_rows must be >= 2 (two classes), got {max_rows}")
    if annotators is not None and (isinstance(annotators, bool) or int(annotators) != annotators or annotators < 1):
        raise ConfigError(f"annotators must be a whole number >= 1, got {annotators!r}")
    if annotators is not None and annotators_column is not None:
        raise ConfigError("give annotators (one count for every row) or annotators_column, not both")
    if mode == "label" and (annotators is not None or annotators_column is not None):
        raise ConfigError("annotators / annotators_column go with vote_columns or share_column; "
                          "a label column means one annotator per row")
    if mode == "share":
        if len(labels) != 2:
            raise ConfigError(f"share_column needs a binary task (two labels), got {labels}")
        if annotators is None and annotators_column is None:
            raise ConfigError("share_column needs the number of annotators: annotators=N or annotators_column")
    label_map = {str(k): str(v) for k, v in (label_map or {}).items()}
    if label_map and mode != "label":
        raise ConfigError("label_map applies to a label column only")
    bad_targets = sorted({v for v in label_map.values() if v not in labels})
    if bad_targets:
        raise ConfigError(f"label_map maps to {bad_targets}, which are not task labels {labels}")
    if id_column == "":
        id_column = None
    fmt = (fmt or detect_format(path)).lower()
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; expected one of {list(FORMATS)}")

    wanted: dict[str, str] = {"text column": text_column}
    if id_column is not None:
        wanted["id column"] = id_column
    if mode == "label":
        wanted["label column"] = str(label_column)
    elif mode == "votes":
        unknown = sorted(set(vote_columns or {}) - set(labels))
        if unknown:
            raise ConfigError(f"vote_columns names {unknown}, which are not task labels {labels}")
        vote_columns = {lab: (vote_columns or {}).get(lab, votes_column(lab)) for lab in labels}
        for lab, col in vote_columns.items():
            wanted[f"vote column of {lab!r}"] = col
    else:
        wanted["share column"] = str(share_column)
    if annotators_column is not None:
        wanted["annotators column"] = annotators_column
    used = list(wanted.values())
    if len(set(used)) != len(used):
        dup = sorted({c for c in used if used.count(c) > 1})
        raise ConfigError(f"column(s) {dup} given for more than one role: {wanted}")

    shown = scrub(str(path))
    table = read_labelled_table(path, fmt, wanted, quote_char=quote_char, storage_options=storage_options)
    n = table.num_rows
    if n == 0:
        raise InputError("no records", location=shown)
    # Each kind of problem (ids, texts, labels or votes) is checked even when an earlier one failed,
    # and all of them are raised together: one run tells the user everything to fix in the file.
    problems: list[InputError] = []
    try:
        ids: list[str] | None = _ids(table, id_column, shown)
    except InputError as exc:
        problems.append(exc)
        ids = None
    rows = _Rows(shown, ids)
    try:
        texts = _texts(table, text_column, rows)
    except InputError as exc:
        problems.append(exc)
    try:
        votes, n_annot, n_share_inexact = _label_votes(table, mode, labels, positive_label, rows, label_column,
                                                       label_map, vote_columns, share_column, annotators,
                                                       annotators_column)
    except InputError as exc:
        problems.append(exc)
    if problems:
        raise problems[0] if len(problems) == 1 else InputError(
            f"{len(problems)} kinds of problem:\n  " + "\n  ".join(str(p) for p in problems))
    assert ids is not None

    columns: dict[str, Any] = {"text": text_column, "id": id_column}
    if mode == "label":
        columns["label"] = label_column
    elif mode == "votes":
        columns["votes"] = dict(vote_columns or {})
    else:
        columns["share"] = share_column
    if annotators_column is not None:
        columns["annotators"] = annotators_column
    params = {"preparer": PREPARER, "version": PREPARER_VERSION, "source": shown, "format": fmt,
              "seed": seed, "n_shards": n_shards, "test_fraction": test_fraction, "max_rows": max_rows}
    info: dict[str, Any] = {
        "mode": mode, "columns": columns, "label_map": label_map or None,
        "annotators": annotators if mode != "label" else 1,
        "text_cleaning": "none: texts kept exactly as given",
        "id_note": "ids from the id column" if id_column else "ids derived as row-<n> (0-based record index)",
    }
    if mode == "label":
        info["ties_note"] = "no ties: one gold label per row"
    if n_share_inexact is not None:
        info["n_share_inexact"] = n_share_inexact
        info["share_rounding"] = "votes_<positive> = round(share * annotators), halves up"
    label_counts = {lab: int(v.sum()) for lab, v in votes.items()} if mode == "label" else None
    if label_counts:
        info["label_counts_source"] = label_counts
    location = f"{shown}, column {label_column!r}" if mode == "label" else \
        f"{shown}, columns {', '.join(wanted[k] for k in wanted if k.startswith('vote') or k == 'share column')}"
    return write_prepared(
        out_url, ids=ids, texts=texts, votes_by_label=votes, labels=labels, positive_label=positive_label,
        n_annotators=n_annot, test_fraction=test_fraction, seed=seed, n_shards=n_shards, gold_url=gold_url,
        max_rows=max_rows, corpus_info=params, info=info, extra={"mode": mode, "format": fmt},
        location=location, storage_options=storage_options,
    )
