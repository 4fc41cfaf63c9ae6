"""The simulators: who answers an assignment, with which label, measured against which reference.

Why a module of its own: this is the simulated annotator model (a source of truth, a per-annotator
error process, every draw from the numpy ``Generator`` passed in), kept apart from where its
truth is read (``sources``) and how its labels' quality is stated (``report``). Simulators write
ordinary canonical annotation files (JSONL), which then go through the same
``import_annotations`` checks as files from people, and answer the adjudication queue with a file
that ``apply_adjudication`` validates and records like an adjudicator's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import pyarrow as pa

from al_ray import storage
from al_ray.errors import ConfigError, InputError
from al_ray.labeling.formats.canonical import dumps_jsonl, jsonl_objects
from al_ray.labeling.simulation.report import quality_report
from al_ray.labeling.simulation.sources import gold_from_table
from al_ray.layout import ASSIGNMENTS_FILE, QUEUE_FILE, SIMULATION_REPORT_FILE, sim_annotator_file
from al_ray.schemas import VOTE_PREFIX


@dataclass(frozen=True)
class SimulationResult:
    files: list[str]
    quality: dict[str, Any]
    report_url: str | None = None
    n_annotations: int = 0


class SimulatedAnnotators:
    """Base: ``reference`` (the truth we measure against) and ``draw`` (one annotator's labels)."""

    kind = "simulated"

    def __init__(self, labels: Sequence[str], rng: np.random.Generator) -> None:
        self.labels = list(labels)
        self.rng = rng

    # -- to implement -------------------------------------------------------------------------
    def reference(self, item_id: str) -> str:
        raise NotImplementedError

    def draw(self, item_id: str, annotators: Sequence[str]) -> list[str]:
        """Labels for one item from each of ``annotators`` (one call per item)."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind}

    # -- shared -------------------------------------------------------------------------------
    def _check(self, item_id: str) -> None:
        if not self.knows(item_id):
            raise InputError(f"simulator has no votes/gold for item {item_id!r}")

    def knows(self, item_id: str) -> bool:
        raise NotImplementedError

    def annotate(self, assignments: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Annotation rows for assignment rows (id, annotator_id[, round]), in assignment order."""
        per_item: dict[str, list[Mapping[str, Any]]] = {}
        for a in assignments:
            per_item.setdefault(str(a["id"]), []).append(a)
        out: list[dict[str, Any]] = []
        for item_id, rows in per_item.items():
            self._check(item_id)
            labels = self.draw(item_id, [str(r["annotator_id"]) for r in rows])
            for r, lab in zip(rows, labels):
                row = {"id": item_id, "annotator_id": str(r["annotator_id"]), "label": lab}
                if r.get("round") is not None:
                    row["round"] = int(r["round"])
                out.append(row)
        return out

    def _flip(self, label: str, p: float) -> str:
        if p > 0 and self.rng.random() < p:
            others = [x for x in self.labels if x != label]
            return others[int(self.rng.integers(len(others)))]
        return label

    def write_annotation_files(self, batch_dir: str, out_dir: str, *, assignments_url: str | None = None,
                               storage_options: Mapping[str, Any] | None = None) -> SimulationResult:
        """Label the batch as dispatched (``assignments.jsonl`` from ``export_batch``): one canonical
        JSONL file per annotator (``sim_annotator_<k>.jsonl``, k = position in the assignments, never
        the annotator's id), plus ``simulation.json`` with the labels' quality."""
        from al_ray.labeling.dispatch import read_assignment_records

        url = assignments_url or storage.join(batch_dir, ASSIGNMENTS_FILE)
        assignments = read_assignment_records(url, storage_options)
        rows = self.annotate(assignments)
        annotators = list(dict.fromkeys(r["annotator_id"] for r in rows))
        files = []
        for k, who in enumerate(annotators):
            f = storage.join(out_dir, sim_annotator_file(k))
            mine = dumps_jsonl(r for r in rows if r["annotator_id"] == who)
            storage.write_bytes_atomic(f, mine, storage_options)
            files.append(f)
        quality = quality_report(rows, {r["id"]: self.reference(r["id"]) for r in rows}, self.labels)
        quality["simulator"] = self.describe()
        report_url = storage.join(out_dir, SIMULATION_REPORT_FILE)
        storage.write_json_atomic(report_url, quality, storage_options)
        return SimulationResult(files, quality, report_url, len(rows))

    def adjudicate(self, labels_dir: str, out_url: str, *, adjudicator: str = "simulated-adjudicator",
                   storage_options: Mapping[str, Any] | None = None) -> str:
        """Answer the adjudication queue with the reference label; returns the file to apply."""
        q_url = storage.join(labels_dir, QUEUE_FILE)
        text = ""
        if storage.exists(q_url, storage_options):
            text = storage.read_bytes(q_url, storage_options).decode("utf-8")
        objects, _ = jsonl_objects(text, q_url)
        rows = [{"id": obj["id"], "label": self.reference(str(obj["id"])), "adjudicator": adjudicator,
                 "round": obj.get("round")} for _, obj in objects]
        storage.write_bytes_atomic(out_url, dumps_jsonl(rows), storage_options)
        return out_url


class VoteCountAnnotators(SimulatedAnnotators):
    """Annotators drawn from per-item vote counts (``votes_<label>`` columns of ``votes``)."""

    def __init__(self, votes: pa.Table, labels: Sequence[str], *, mode: str = "expert",
                 flip_prob: float | Mapping[str, float] = 0.0, rng: np.random.Generator,
                 tie_labels: Mapping[str, str] | None = None) -> None:
        """``tie_labels``: the label a tied item resolves to (e.g. a gold file's documented rule);
        without it, ties are broken by a seeded draw."""
        super().__init__(labels, rng)
        self.tie_labels = {str(k): v for k, v in (tie_labels or {}).items() if v in self.labels}
        if mode not in ("crowd", "expert"):
            raise ConfigError(f"mode must be 'crowd' or 'expert', got {mode!r}")
        cols = [VOTE_PREFIX + lab for lab in self.labels]
        missing = [c for c in cols + ["id"] if c not in votes.column_names]
        if missing:
            raise ConfigError(f"vote table lacks column(s) {missing} (see derive_votes)")
        self.mode = mode
        self.flip_prob = flip_prob
        ids = [str(x) for x in votes["id"].to_pylist()]
        counts = np.stack([np.asarray(votes[c].fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
                           for c in cols], axis=1)
        if (counts < 0).any():
            raise InputError("negative vote counts")
        self.counts = dict(zip(ids, counts))
        self._majority: dict[str, str] = {}

    def knows(self, item_id: str) -> bool:
        return item_id in self.counts and self.counts[item_id].sum() > 0

    def reference(self, item_id: str) -> str:
        """The majority vote; a tie is broken once per item by a seeded draw, then kept."""
        if item_id not in self._majority:
            self._check(item_id)
            c = self.counts[item_id]
            top = np.flatnonzero(c == c.max())
            tied = [self.labels[int(t)] for t in top]
            if len(top) > 1 and self.tie_labels.get(item_id) in tied:
                self._majority[item_id] = self.tie_labels[item_id]
            else:
                k = int(top[self.rng.integers(len(top))]) if len(top) > 1 else int(top[0])
                self._majority[item_id] = self.labels[k]
        return self._majority[item_id]

    def _p(self, annotator: str) -> float:
        if isinstance(self.flip_prob, Mapping):
            return float(self.flip_prob.get(annotator, 0.0))
        return float(self.flip_prob)

    def draw(self, item_id: str, annotators: Sequence[str]) -> list[str]:
        if self.mode == "expert":
            ref = self.reference(item_id)
            return [self._flip(ref, self._p(a)) for a in annotators]
        c = self.counts[item_id]
        pool = np.repeat(np.arange(len(self.labels)), c)
        picks = list(self.rng.permutation(pool)[: len(annotators)])
        while len(picks) < len(annotators):  # more annotators than real votes: reuse, by vote share
            picks.append(int(self.rng.choice(len(self.labels), p=c / c.sum())))
        return [self._flip(self.labels[int(k)], self._p(a)) for k, a in zip(picks, annotators)]

    def describe(self) -> dict[str, Any]:
        flip = dict(self.flip_prob) if isinstance(self.flip_prob, Mapping) else self.flip_prob
        return {"kind": "vote_counts", "mode": self.mode, "flip_prob": flip, "reference": "majority vote"}


class NoisyGoldAnnotators(SimulatedAnnotators):
    """Annotators who report ``gold`` but err with probability ``error_rate`` (per annotator if a mapping)."""

    def __init__(self, gold: Mapping[str, str], labels: Sequence[str], *,
                 error_rate: float | Mapping[str, float] = 0.1, rng: np.random.Generator) -> None:
        super().__init__(labels, rng)
        bad = {v for v in gold.values() if v not in self.labels}
        if bad:
            raise ConfigError(f"gold labels {sorted(bad)} are not in the label set {self.labels}")
        rates = error_rate.values() if isinstance(error_rate, Mapping) else [error_rate]
        if any(not 0.0 <= r <= 1.0 for r in rates):
            raise ConfigError(f"error rates must be in [0, 1], got {error_rate}")
        self.gold = {str(k): v for k, v in gold.items()}
        self.error_rate = error_rate

    def knows(self, item_id: str) -> bool:
        return item_id in self.gold

    def reference(self, item_id: str) -> str:
        self._check(item_id)
        return self.gold[item_id]

    def draw(self, item_id: str, annotators: Sequence[str]) -> list[str]:
        ref = self.reference(item_id)
        return [self._flip(ref, float(self.error_rate.get(a, 0.0)) if isinstance(self.error_rate, Mapping)
                           else float(self.error_rate)) for a in annotators]

    def describe(self) -> dict[str, Any]:
        rate = dict(self.error_rate) if isinstance(self.error_rate, Mapping) else self.error_rate
        return {"kind": "noisy_gold", "error_rate": rate, "reference": "gold"}


def make_simulator(gold: pa.Table, labels: Sequence[str], *, kind: str, flip_prob: float,
                   rng: np.random.Generator) -> SimulatedAnnotators:
    """kind "vote_counts": experts answer the item's majority vote (ties: the gold ``label``),
    flipped with ``flip_prob``; "crowd": one real vote each; "noisy_gold": the gold ``label``
    with error rate ``flip_prob``."""
    gold_labels = gold_from_table(gold, "label") if "label" in gold.column_names else {}
    if kind in ("vote_counts", "expert", "crowd"):
        mode = "crowd" if kind == "crowd" else "expert"
        return VoteCountAnnotators(gold, labels, mode=mode, flip_prob=flip_prob, rng=rng,
                                   tie_labels=gold_labels)
    if kind == "noisy_gold":
        if not gold_labels:
            raise ConfigError("noisy_gold simulation needs a 'label' column in the gold file")
        return NoisyGoldAnnotators(gold_labels, labels, error_rate=flip_prob, rng=rng)
    raise ConfigError(f"unknown simulation kind {kind!r}; expected vote_counts, crowd or noisy_gold")
