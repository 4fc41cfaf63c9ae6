"""The written contracts between stages: column names and Arrow types of every file they exchange.

Stages meet only in these files, under one run location (see ``al_ray.layout``):

score shard (scoring -> selection), one per corpus shard, Parquet:
    id: string                    corpus id (cast to string) or derived "<shard path relative to the corpus root>:<row>"
    p_<label>: float64            one per label, renormalised over the label set, sums to 1
    predicted_label: string       argmax label
    entropy: float64              nats
    entropy_norm: float64         entropy / log K, in [0, 1]
    margin: float64               p_(1) - p_(2), in [0, 1]
    least_confidence: float64     1 - p_(1)
    label_mass: float64           probability on label tokens before renormalising (1.0 for classifiers)
    truncated: bool               text was cut to the configured max tokens
    empty_text: bool              text was null/empty (scored as "" and flagged)
    model_id: string              model path/name
    model_version: string         version id of the weights (base or round adapter)
    scored_at: timestamp[us, UTC]
    shard: string                 corpus shard URL the row came from
    row: int64                    row number within that shard
    schema metadata ``al_ray.task``: the task as JSON (``with_task``), read back by ``task_from_schema``

id sidecar (scoring internal), ``<score file>.ids.npy``: uint64 hash of each row's id (duplicate check)

candidate sidecar (scoring -> selection), ``<score file>.cand.pq`` (Parquet; written by the scoring
actor before the ``.done`` marker when ``candidates_per_shard`` K > 0; ``al_ray.scoring.topk``):
    the score shard's columns, for the union over MEASURES of the shard's top K rows by priority
    (margin ascending, the others descending; ties by position), overall and per predicted_label;
    rows with a NaN measure or empty_text are never kept
    _score_row: int64             the row's position in the score file (the pool's tie-break key)
    schema metadata ``al_ray.task`` (as the score shard) and ``al_ray.candidates``, JSON:
        version, k, rows (the score file's row count), nan / empty_text (rows never kept, per
        measure), model_versions (rows per version, whole file), cutoffs[measure]["all" | "labels"
        [label]] = [priority, position] of the K-th kept row (every unkept row ranks after it) or
        null (at most K rows: all kept), unkept_best[measure][...] = the best threshold-column value
        (entropy_norm for entropy) among the unkept rows, or null

candidates (selection internal), Parquet: score columns + text + embedding (fixed_size_list<float32>)

labelling batch (selection -> labeling), Parquet ``batch.parquet`` (+ JSONL twin ``batch.jsonl``):
    id, text, p_<label>..., predicted_label, entropy, margin, least_confidence, label_mass,
    cluster_id: int64, pair_id: int64 (null when not in a pair), reason: string, round: int64
    schema metadata ``al_ray.task``, as on score shards

dedup groups (selection -> labeling), Parquet ``dedup_groups.parquet``:
    id: string (the dropped item), representative_id: string (the batch item it duplicates),
    kind: string ("exact" | "near" | "semantic"), similarity: float64,
    text: string (the dropped item's own text, so a propagated label trains on the right text)

annotations (labeling), Parquet: id, annotator_id, label, note, round, source_file
adjudications (labeling), Parquet ``adjudications.parquet``: id, label, adjudicator, note, round, source_file
resolved labels (labeling -> finetune/driver), Parquet ``labels.parquet``:
    id: string, text: string, label: string, round: int64,
    source: string ("adjudicated" | "majority" | "unanimous" | "single" | "propagated"),
    n_annotations: int64, propagated_from: string (null unless propagated)

gold (data -> driver/simulator), Parquet ``gold.parquet`` (``gold_schema``):
    id, label, n_annotators, votes_<label>..., tie, split ("train" | "test"), source columns
test ids (data -> driver), Parquet ``test_ids.parquet``: id
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import pyarrow as pa

ID = "id"
TEXT = "text"
PREDICTED = "predicted_label"
UNCERTAINTY_COLUMNS = ("entropy", "entropy_norm", "margin", "least_confidence", "label_mass")
MEASURES = ("entropy", "margin", "least_confidence")


def prob_column(label: str) -> str:
    return f"p_{label}"


def prob_columns(labels: list[str]) -> list[str]:
    return [prob_column(lab) for lab in labels]


def labels_from_score_schema(schema: pa.Schema) -> list[str]:
    """Recover the label order from a score file's p_<label> columns."""
    return [name[2:] for name in schema.names if name.startswith("p_")]


# Score files and batches carry the task they were made for (labels, descriptions, text and id
# columns, positive label) as JSON under this Parquet schema-metadata key, so the stages after
# scoring (`al-ray select`, `al-ray labels ...`) need nothing repeated on their command lines.
TASK_METADATA_KEY = b"al_ray.task"


def with_task(schema: pa.Schema, task: Mapping[str, Any] | None) -> pa.Schema:
    """``schema`` carrying ``task`` (a ``TaskConfig.model_dump(mode="json")``) in its metadata."""
    if not task:
        return schema
    meta = dict(schema.metadata or {})
    meta[TASK_METADATA_KEY] = json.dumps(dict(task), sort_keys=True).encode("utf-8")
    return schema.with_metadata(meta)


def task_from_schema(schema: pa.Schema) -> dict[str, Any]:
    """The task a score file or batch was written for: its metadata when present (files written
    before it existed have none), else only the label order from the ``p_<label>`` columns."""
    raw = (schema.metadata or {}).get(TASK_METADATA_KEY)
    if raw:
        try:
            task = json.loads(raw)
        except ValueError:
            task = None
        if isinstance(task, dict) and task.get("labels"):
            return task
    labels = labels_from_score_schema(schema)
    return {"labels": labels} if labels else {}


def score_schema(labels: list[str]) -> pa.Schema:
    fields = [pa.field(ID, pa.string(), nullable=False)]
    fields += [pa.field(prob_column(lab), pa.float64()) for lab in labels]
    fields += [
        pa.field(PREDICTED, pa.string()),
        pa.field("entropy", pa.float64()),
        pa.field("entropy_norm", pa.float64()),
        pa.field("margin", pa.float64()),
        pa.field("least_confidence", pa.float64()),
        pa.field("label_mass", pa.float64()),
        pa.field("truncated", pa.bool_()),
        pa.field("empty_text", pa.bool_()),
        pa.field("model_id", pa.string()),
        pa.field("model_version", pa.string()),
        pa.field("scored_at", pa.timestamp("us", tz="UTC")),
        pa.field("shard", pa.string()),
        pa.field("row", pa.int64()),
    ]
    return pa.schema(fields)


def batch_schema(labels: list[str]) -> pa.Schema:
    fields = [pa.field(ID, pa.string(), nullable=False), pa.field(TEXT, pa.string())]
    fields += [pa.field(prob_column(lab), pa.float64()) for lab in labels]
    fields += [
        pa.field(PREDICTED, pa.string()),
        pa.field("entropy", pa.float64()),
        pa.field("margin", pa.float64()),
        pa.field("least_confidence", pa.float64()),
        pa.field("label_mass", pa.float64()),
        pa.field("cluster_id", pa.int64()),
        pa.field("pair_id", pa.int64()),
        pa.field("reason", pa.string()),
        pa.field("round", pa.int64()),
    ]
    return pa.schema(fields)


DEDUP_GROUPS_SCHEMA = pa.schema([
    pa.field(ID, pa.string(), nullable=False),
    pa.field("representative_id", pa.string(), nullable=False),
    pa.field("kind", pa.string()),
    pa.field("similarity", pa.float64()),
    pa.field(TEXT, pa.string()),
])

ANNOTATIONS_SCHEMA = pa.schema([
    pa.field(ID, pa.string(), nullable=False),
    pa.field("annotator_id", pa.string(), nullable=False),
    pa.field("label", pa.string(), nullable=False),
    pa.field("note", pa.string()),
    pa.field("round", pa.int64()),
    pa.field("source_file", pa.string()),
])

LABELS_SCHEMA = pa.schema([
    pa.field(ID, pa.string(), nullable=False),
    pa.field(TEXT, pa.string()),
    pa.field("label", pa.string(), nullable=False),
    pa.field("round", pa.int64()),
    pa.field("source", pa.string()),
    pa.field("n_annotations", pa.int64()),
    pa.field("propagated_from", pa.string()),
])

ADJUDICATIONS_SCHEMA = pa.schema([
    pa.field(ID, pa.string(), nullable=False),
    pa.field("label", pa.string(), nullable=False),
    pa.field("adjudicator", pa.string()),
    pa.field("note", pa.string()),
    pa.field("round", pa.int64()),
    pa.field("source_file", pa.string()),
])

# -- gold and test-split files of a prepared data set (al_ray.data)

SPLIT_TRAIN = "train"
SPLIT_TEST = "test"
VOTE_PREFIX = "votes_"
GOLD_CORE_COLUMNS = (ID, "label", "n_annotators", "tie", "split")


def votes_column(label: str) -> str:
    return f"{VOTE_PREFIX}{label}"


def gold_schema(labels: list[str], extra: list[pa.Field] | None = None) -> pa.Schema:
    """The gold file's columns.

    id: string                 corpus id
    label: string              the gold (expert-majority) label
    n_annotators: int64        simulated/real annotators who voted on the item
    votes_<label>: int64       one column per task label; they sum to n_annotators
    tie: bool                  the votes were tied; ``label`` was then decided by a documented rule
                               (demo) or a seeded draw (Davidson), see dataset.json
    split: string              "train" (selectable) or "test" (held out for evaluation)
    ... source-specific columns after these (``extra``)
    """
    fields = [
        pa.field(ID, pa.string(), nullable=False),
        pa.field("label", pa.string(), nullable=False),
        pa.field("n_annotators", pa.int64()),
    ]
    fields += [pa.field(votes_column(lab), pa.int64()) for lab in labels]
    fields += [pa.field("tie", pa.bool_()), pa.field("split", pa.string())]
    fields += list(extra or [])
    return pa.schema(fields)


TEST_IDS_SCHEMA = pa.schema([pa.field(ID, pa.string(), nullable=False)])
