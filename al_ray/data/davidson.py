"""Prepare the Davidson et al. (2017) tweets as an al_ray corpus for two moderation tasks.

The CSV (``../shared/datasets/davidson-hate-offensive/labeled_data.csv``) has an unnamed first
column (the original row index, used as the stable id), per-item CrowdFlower vote counts
(``count``, ``hate_speech``, ``offensive_language``, ``neither``), the 3-way majority ``class``
and the ``tweet``. Tweets contain quoted newlines, doubled quotes, HTML entities and emoji, so it is
parsed with pyarrow's CSV reader with ``newlines_in_values=True`` and the record count is checked
against Python's ``csv`` module (a physical line count would be wrong: 18,805 lines hold 17,311
records).

Text cleaning, deliberately minimal: ``html.unescape`` only (``&amp;`` -> ``&``, ``&#128514;`` ->
the emoji), because the tweets were HTML-escaped by the scraper, not by their authors. Mentions,
"RT", URLs and casing are kept: they are what a production scorer would see.

Tasks (two labels each; the vote counts are folded into the task's labels):
    violating: votes_violating = hate_speech + offensive_language, votes_neither = neither
    hate:      votes_hate = hate_speech, votes_not_hate = offensive_language + neither
The gold label is the majority of the folded votes. With an even number of annotators the votes can
tie (11 items for "violating", 7 for "hate" in the shared file); a tie is resolved by a seeded draw
and recorded (``tie=True``) so evaluations can drop or weight those items.
"""

from __future__ import annotations

import csv
import html
import io
from typing import Any, Literal, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from al_ray.errors import ConfigError, InputError
from al_ray.security import scrub
from al_ray.storage import read_bytes
from al_ray.task import TaskConfig
from al_ray.data.importer import write_prepared
from al_ray.data.layout import PreparedDataset

TaskName = Literal["violating", "hate"]
VOTE_COLUMNS = ("count", "hate_speech", "offensive_language", "neither", "class")
EXPECTED_COLUMNS = ("", *VOTE_COLUMNS, "tweet")
PREPARER_VERSION = 1

TASKS: dict[str, TaskConfig] = {
    "violating": TaskConfig(
        name="davidson-violating",
        labels=["neither", "violating"],
        positive_label="violating",
        label_descriptions={
            "neither": "a friendly, harmless everyday message",
            "violating": "an abusive, offensive or hateful message",
        },
    ),
    "hate": TaskConfig(
        name="davidson-hate",
        labels=["not_hate", "hate"],
        positive_label="hate",
        label_descriptions={
            "not_hate": "a message that is not hate speech: harmless, or rude and profane without "
                        "attacking a group",
            "hate": "hate speech: a message that attacks or demeans people for their race, "
                    "religion, ethnicity, gender or sexual orientation",
        },
    ),
}


def davidson_task(task: TaskName) -> TaskConfig:
    """The TaskConfig for one of the two Davidson tasks (a fresh copy)."""
    if task not in TASKS:
        raise ConfigError(f"unknown Davidson task {task!r}; choose one of {sorted(TASKS)}")
    return TASKS[task].model_copy(deep=True)


def count_csv_records(data: bytes) -> int:
    """Records (excluding the header) by Python's reference CSV parser: an independent check."""
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    return sum(1 for _ in reader) - 1


def read_davidson_csv(csv_path: str, storage_options: Mapping[str, Any] | None = None) -> pa.Table:
    """Parse and validate the CSV; returns columns id (string), the vote columns (int64), text.

    Raises ``InputError`` naming the file (and the id/record) for missing columns, unparsable
    numbers, vote counts that do not add up, duplicate ids, or a record count that disagrees with
    Python's csv module.
    """
    where = scrub(csv_path)
    try:
        data = read_bytes(csv_path, storage_options)
    except FileNotFoundError as exc:
        raise InputError("Davidson CSV not found", location=where) from exc
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, double_quote=True),
            convert_options=pacsv.ConvertOptions(
                column_types={"": pa.string(), **{c: pa.int64() for c in VOTE_COLUMNS}, "tweet": pa.string()},
                strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError) as exc:
        raise InputError(f"cannot parse CSV: {exc}", location=where) from exc
    if tuple(table.schema.names) != EXPECTED_COLUMNS:
        raise InputError(f"expected columns {list(EXPECTED_COLUMNS)}, found {table.schema.names}",
                         location=where)
    expected = count_csv_records(data)
    if table.num_rows != expected:
        raise InputError(f"parsed {table.num_rows} records but Python's csv module reads {expected}; "
                         "check quoting", location=where)
    ids = table.column("")
    if pc.any(pc.equal(pc.utf8_length(ids), 0)).as_py():
        row = pc.index(pc.utf8_length(ids), 0).as_py()
        raise InputError(f"record {row + 1}: empty id", location=where)
    if pc.count_distinct(ids).as_py() != table.num_rows:
        counts = pc.value_counts(ids)
        dup = [v["values"] for v in counts.to_pylist() if v["counts"] > 1][:5]
        raise InputError(f"duplicate ids {dup}", location=where)
    votes = {c: table.column(c).to_numpy() for c in VOTE_COLUMNS}
    for c in VOTE_COLUMNS:
        bad = np.flatnonzero(votes[c] < 0)
        if bad.size:
            raise InputError(f"id {ids[int(bad[0])].as_py()}: field {c!r} is negative", location=where)
    total = votes["hate_speech"] + votes["offensive_language"] + votes["neither"]
    bad = np.flatnonzero((total != votes["count"]) | (votes["count"] < 1))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"id {ids[i].as_py()}: votes add up to {int(total[i])} but count is "
                         f"{int(votes['count'][i])} ({bad.size} such records)", location=where)
    bad = np.flatnonzero(~np.isin(votes["class"], (0, 1, 2)))
    if bad.size:
        raise InputError(f"id {ids[int(bad[0])].as_py()}: field 'class' must be 0, 1 or 2", location=where)
    text = pa.array([html.unescape(t) for t in table.column("tweet").to_pylist()], pa.string())
    return pa.table({"id": ids, **{c: table.column(c) for c in VOTE_COLUMNS}, "text": text})


# The one vote-folding table: task -> {task label: the CrowdFlower vote columns summed into it}.
VOTE_FOLDING: dict[str, dict[str, tuple[str, ...]]] = {
    "violating": {"neither": ("neither",), "violating": ("hate_speech", "offensive_language")},
    "hate": {"not_hate": ("offensive_language", "neither"), "hate": ("hate_speech",)},
}


def folded_votes(table: pa.Table, task: TaskName) -> dict[str, np.ndarray]:
    """{task label: the item's votes for it}, summed over its columns in ``VOTE_FOLDING``."""
    if task not in VOTE_FOLDING:
        raise ConfigError(f"unknown Davidson task {task!r}; choose one of {sorted(TASKS)}")
    return {label: sum(table.column(c).to_numpy() for c in cols) for label, cols in VOTE_FOLDING[task].items()}


def fold_votes(table: pa.Table, task: TaskName) -> tuple[np.ndarray, np.ndarray]:
    """(votes for the positive label, votes for the negative label) of each item."""
    folded = folded_votes(table, task)
    neg_label, pos_label = TASKS[task].labels
    return folded[pos_label], folded[neg_label]


def prepare_davidson(
    csv_path: str,
    out_url: str,
    *,
    task: TaskName,
    n_shards: int = 8,
    test_fraction: float = 0.2,
    seed: int = 0,
    gold_url: str | None = None,
    max_rows: int | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> PreparedDataset:
    """Write corpus shards (id, text) to ``out_url`` and gold/test split to ``gold_url``.

    ``gold_url`` defaults to the sibling ``gold`` folder of ``out_url``. The seed drives both the
    tie draws and the (label-stratified) test split, so a rerun reproduces the same files.
    ``max_rows`` keeps a seeded, label-stratified subsample (before the split). The split, tie and
    writing steps are the importer's (``al_ray.data.importer.write_prepared``), which every
    labelled-file import shares.
    """
    cfg = davidson_task(task)
    neg_label, pos_label = cfg.labels
    table = read_davidson_csv(csv_path, storage_options)
    n = table.num_rows
    if n_shards > n:
        raise ConfigError(f"n_shards={n_shards} exceeds the {n} records of {csv_path}")

    pos_votes, neg_votes = fold_votes(table, task)
    params: dict[str, Any] = {"preparer": "al_ray.data.davidson", "version": PREPARER_VERSION, "task": task,
                              "seed": seed, "n_shards": n_shards, "test_fraction": test_fraction,
                              "source_csv": csv_path}
    if max_rows is not None:
        params["max_rows"] = max_rows
    info = {
        "ties_note": "votes tied (even annotator count); label drawn with a seeded coin (seed above)",
        "text_cleaning": "html.unescape only (&amp; -> &, &#128514; -> emoji); nothing else changed",
        "vote_folding": ("violating = hate_speech + offensive_language vs neither" if task == "violating"
                         else "hate = hate_speech vs offensive_language + neither"),
    }
    return write_prepared(
        out_url,
        ids=table.column("id"), texts=table.column("text"),
        votes_by_label={neg_label: neg_votes, pos_label: pos_votes},
        labels=cfg.labels, positive_label=pos_label, n_annotators=table.column("count"),
        test_fraction=test_fraction, seed=seed, n_shards=n_shards, gold_url=gold_url, max_rows=max_rows,
        extra_columns={"raw_hate_speech": table.column("hate_speech"),
                       "raw_offensive_language": table.column("offensive_language"),
                       "raw_neither": table.column("neither"), "raw_class": table.column("class")},
        corpus_info=params, info=info, extra={"task": task}, location=csv_path,
        storage_options=storage_options,
    )
