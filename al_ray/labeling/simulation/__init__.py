"""Simulated annotators, for demos and benchmarks ONLY (public names: ``al_ray.labeling.simulated``).

Nothing on the real labelling path imports this package. Its modules, one job each:

- ``sources``: where a simulator's truth comes from (the Davidson CSV and a gold file, read by
  ``al_ray.data``'s readers; per-item vote columns; a gold column as a mapping);
- ``annotators``: the simulators themselves (``VoteCountAnnotators``, ``NoisyGoldAnnotators``,
  ``make_simulator``) and the canonical annotation files they write;
- ``report``: the simulated labels' quality (kappa against the reference, inter-annotator agreement);
- ``rounds``: the round driver's entry points (``annotate_batch``, ``adjudicate_from_gold``).
"""
