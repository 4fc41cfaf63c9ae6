"""The round driver's simulated mode: answer a round's batch and its adjudication queue from gold.

Why a module of its own: these are the two entry points the driver (``al_ray.driver.steps``) calls
for a simulated round, each reading the gold file named by the run (per ``al_ray.data.layout``),
building a simulator and writing the files the real labelling path then checks and records.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from al_ray import storage
from al_ray.errors import InputError
from al_ray.labeling.formats.canonical import dumps_jsonl, jsonl_objects
from al_ray.labeling.simulation.annotators import SimulationResult, make_simulator
from al_ray.labeling.simulation.report import quality_report
from al_ray.labeling.simulation.sources import gold_from_table, read_gold
from al_ray.layout import (
    ASSIGNMENTS_FILE, QUEUE_FILE, SIMULATED_ADJUDICATIONS_FILE, SIMULATION_REPORT_FILE, batch_dir_beside,
)
from al_ray.security import scrub


def annotate_batch(*, batch_dir: str, gold_url: str, out_url: str, task: Any, kind: str = "vote_counts",
                   flip_prob: float = 0.0, rng: np.random.Generator, report_url: str | None = None,
                   storage_options: Mapping[str, Any] | None = None) -> SimulationResult:
    """Answer an exported batch's assignments (``assignments.jsonl``) into ONE canonical JSONL file
    ``out_url``; the labels' quality goes to ``report_url`` (default ``<batch_dir>/simulation.json``,
    kept out of the folder annotation files are collected from)."""
    gold = read_gold(gold_url, storage_options)
    sim = make_simulator(gold, task.labels, kind=kind, flip_prob=flip_prob, rng=rng)
    from al_ray.labeling.dispatch import read_assignment_records

    rows = sim.annotate(read_assignment_records(storage.join(batch_dir, ASSIGNMENTS_FILE), storage_options))
    storage.write_bytes_atomic(out_url, dumps_jsonl(rows), storage_options)
    quality = quality_report(rows, {r["id"]: sim.reference(r["id"]) for r in rows}, sim.labels)
    quality["simulator"] = sim.describe()
    report_url = report_url or storage.join(batch_dir, SIMULATION_REPORT_FILE)
    storage.write_json_atomic(report_url, quality, storage_options)
    return SimulationResult([out_url], quality, report_url, len(rows))


def adjudicate_from_gold(labels_dir: str, gold_url: str, task: Any, *, batch_dir: str | None = None,
                         adjudicator: str = "simulated-adjudicator",
                         storage_options: Mapping[str, Any] | None = None) -> int:
    """Answer the adjudication queue with the gold label and record the decisions (the caller
    re-runs ``resolve_labels``). The answered file is kept as ``adjudicated_simulated.jsonl`` and
    applied by ``labeling.api.apply_adjudication``, so it passes the same checks as an adjudicator's
    file (ids of the batch, labels of the task, the batch's round). ``batch_dir`` defaults to the
    round's batch directory beside ``labels_dir`` (``RunLayout``). Returns the number of decisions
    recorded."""
    from al_ray.labeling.api import apply_adjudication

    gold = gold_from_table(read_gold(gold_url, storage_options), "label")
    q_url = storage.join(labels_dir, QUEUE_FILE)
    if not storage.exists(q_url, storage_options):
        return 0
    text = storage.read_bytes(q_url, storage_options).decode("utf-8")
    objects, problems = jsonl_objects(text, scrub(q_url))
    if problems:
        loc, msg = problems[0]
        raise InputError(msg, location=loc)
    rows = []
    for loc, obj in objects:
        iid = str(obj["id"])
        if gold.get(iid) not in task.labels:
            raise InputError(f"no gold label in the task's label set for item {iid!r}", location=loc)
        rows.append({"id": iid, "label": gold[iid], "adjudicator": adjudicator, "note": None,
                     "round": obj.get("round")})
    out = storage.join(labels_dir, SIMULATED_ADJUDICATIONS_FILE)
    storage.write_bytes_atomic(out, dumps_jsonl(rows), storage_options)
    res = apply_adjudication(out, labels_dir, task, batch_dir=batch_dir or batch_dir_beside(labels_dir),
                             resolve_after=False, storage_options=storage_options)
    return res.n_applied
