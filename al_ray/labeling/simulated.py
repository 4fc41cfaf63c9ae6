"""Simulated annotators, for demos and benchmarks ONLY: the public names, from ``al_ray.labeling.simulation``.

The code lives in ``al_ray.labeling.simulation``, one job per module (``sources``: Davidson CSV and
gold readers, via ``al_ray.data``; ``annotators``: the simulators; ``report``: the labels' quality;
``rounds``: the round driver's entry points); the driver, the CLI, benchmarks and tests import
the names from here.

Nothing on the real labelling path imports this module. Simulators write ordinary canonical
annotation files (JSONL), which then go through the same ``import_annotations`` checks as files
from people, and answer the adjudication queue with a file that ``apply_adjudication`` validates
and records like an adjudicator's, so a simulated run exercises the real path end to end. The
Davidson CSV and the gold files are read by ``al_ray.data``'s readers, as the corpus was made.

Two sources of truth:
- per-item vote counts (e.g. ``../shared/datasets/davidson-hate-offensive``, where CrowdFlower
  workers' votes are kept per item): ``VoteCountAnnotators(mode="crowd")`` gives each assigned
  annotator one of the item's real votes (drawn without replacement, so two simulated annotators
  on one item are two different real workers while votes last); ``mode="expert"`` gives the
  majority (ties broken once per item by a seeded draw), optionally flipped with a per-expert
  probability to model expert error;
- a gold column: ``NoisyGoldAnnotators`` reports gold, replaced with probability ``error_rate``
  (per annotator if a mapping) by a uniformly drawn other label.

``quality_report`` states the simulated labels' quality: each annotator's Cohen's kappa against
the reference (majority or gold) and the annotators' pairwise kappa, so benchmark results can say
what label quality they were obtained with. Every random draw comes from the numpy ``Generator``
passed in.
"""

from __future__ import annotations

from al_ray.labeling.simulation.annotators import (
    NoisyGoldAnnotators, SimulatedAnnotators, SimulationResult, VoteCountAnnotators, make_simulator,
)
from al_ray.labeling.simulation.report import _accuracy, dumps_report, estimate_label_quality, quality_report
from al_ray.labeling.simulation.rounds import adjudicate_from_gold, annotate_batch
from al_ray.labeling.simulation.sources import (
    DAVIDSON_TASKS, derive_votes, gold_from_table, load_davidson, read_gold,
)

__all__ = [
    # sources of truth
    "DAVIDSON_TASKS", "derive_votes", "gold_from_table", "load_davidson", "read_gold",
    # simulators
    "NoisyGoldAnnotators", "SimulatedAnnotators", "SimulationResult", "VoteCountAnnotators", "make_simulator",
    # reports
    "_accuracy", "dumps_report", "estimate_label_quality", "quality_report",
    # the round driver's entry points
    "adjudicate_from_gold", "annotate_batch",
]
