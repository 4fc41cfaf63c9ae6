"""Simulated annotators (demo/benchmark only) and the simulated round the driver runs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from al_ray.errors import ConfigError, InputError
from al_ray.labeling import LabelingConfig, export_batch, import_annotations, resolve_labels
from al_ray.labeling.simulated import (
    DAVIDSON_TASKS, NoisyGoldAnnotators, VoteCountAnnotators, derive_votes, estimate_label_quality, load_davidson,
    quality_report,
)
from tests.labeling.conftest import LABELS, read_labels

# beside the checkout (../shared), or where AL_RAY_DAVIDSON_CSV points (a clone elsewhere, as the benchmarks read it)
DAVIDSON = Path(os.environ.get("AL_RAY_DAVIDSON_CSV") or Path(__file__).resolve().parents[3] / "shared" / "datasets"
                / "davidson-hate-offensive" / "labeled_data.csv")
N, V = LABELS


def _votes(rows: dict[str, tuple[int, int]]) -> pa.Table:
    return pa.table({"id": list(rows), "votes_neither": [r[0] for r in rows.values()],
                     "votes_violating": [r[1] for r in rows.values()]})


def test_crowd_draws_real_votes_without_replacement():
    sim = VoteCountAnnotators(_votes({"a": (0, 3), "b": (1, 2), "c": (2, 1)}), LABELS, mode="crowd",
                              rng=np.random.default_rng(0))
    for _ in range(20):
        assert sim.draw("a", ["x", "y", "z"]) == [V, V, V]
        assert Counter(sim.draw("b", ["x", "y", "z"])) == {N: 1, V: 2}  # three different workers
    many = Counter(lab for _ in range(2000) for lab in sim.draw("c", ["x"]))
    assert many[N] / 2000 == pytest.approx(2 / 3, abs=0.04)  # one vote drawn by the item's counts
    # more annotators than votes: the rest are drawn by vote share
    assert len(sim.draw("a", list("abcdef"))) == 6


def test_expert_is_majority_with_seeded_ties():
    votes = _votes({"a": (1, 2), "tie": (2, 2)})
    sim = VoteCountAnnotators(votes, LABELS, mode="expert", rng=np.random.default_rng(3))
    assert sim.draw("a", ["x", "y"]) == [V, V]
    tie = sim.draw("tie", ["x", "y", "z"])
    assert len(set(tie)) == 1  # the tie is broken once per item: all experts share the majority
    assert sim.reference("tie") == tie[0]
    again = VoteCountAnnotators(votes, LABELS, mode="expert", rng=np.random.default_rng(3))
    again.draw("a", ["x", "y"])
    assert again.draw("tie", ["x"]) == [tie[0]]  # same seed, same draw
    flipped = VoteCountAnnotators(votes, LABELS, mode="expert", flip_prob={"bad": 1.0}, rng=np.random.default_rng(0))
    assert flipped.draw("a", ["good", "bad"]) == [V, N]


def test_noisy_gold():
    gold = {str(i): (V if i % 3 == 0 else N) for i in range(3000)}
    rng = np.random.default_rng(1)
    perfect = NoisyGoldAnnotators(gold, LABELS, error_rate=0.0, rng=rng)
    q = estimate_label_quality(perfect, list(gold), ["a", "b"])
    assert q["kappa_vs_reference"] == 1.0 and q["inter_annotator"]["mean_cohen_kappa"] == 1.0
    noisy = NoisyGoldAnnotators(gold, LABELS, error_rate={"a": 0.0, "b": 0.2}, rng=rng)
    q = estimate_label_quality(noisy, list(gold), ["a", "b"])
    assert q["per_annotator"]["a"]["accuracy_vs_reference"] == 1.0
    assert q["per_annotator"]["b"]["accuracy_vs_reference"] == pytest.approx(0.8, abs=0.03)
    with pytest.raises(ConfigError):
        NoisyGoldAnnotators({"1": "spam"}, LABELS, rng=rng)
    with pytest.raises(InputError):
        noisy.annotate([{"id": "unknown", "annotator_id": "a"}])


def test_quality_report_by_hand():
    # reference V V N N, annotator says V N N N: p_o = 3/4; annotator V 1/4, reference V 1/2
    # p_e = 1/4 * 1/2 + 3/4 * 1/2 = 1/2; kappa = (3/4 - 1/2) / (1/2) = 0.5
    ref = {"1": V, "2": V, "3": N, "4": N}
    rows = [{"id": i, "annotator_id": "x", "label": lab} for i, lab in zip(ref, [V, N, N, N])]
    q = quality_report(rows, ref, LABELS)
    assert q["per_annotator"]["x"]["kappa_vs_reference"] == pytest.approx(0.5)
    assert q["kappa_vs_reference"] == pytest.approx(0.5) and q["accuracy_vs_reference"] == 0.75


def test_simulated_round_like_the_driver(batch_dir, labels_dir, task, tmp_path):
    """export -> simulator writes annotation files -> import -> resolve -> (adjudicate) -> labels.parquet."""
    ids = [f"t{i}" for i in range(8)]
    votes = _votes({i: ((3, 0), (0, 3), (1, 2), (2, 1))[k % 4] for k, i in enumerate(ids)})
    cfg = LabelingConfig(annotators=["e1", "e2", "e3"], overlap_fraction=1.0, annotators_per_overlap_item=2)
    export_batch(batch_dir, cfg, task, rng=np.random.default_rng(0))
    sim = VoteCountAnnotators(votes, LABELS, mode="crowd", rng=np.random.default_rng(0))
    out = sim.write_annotation_files(batch_dir, str(tmp_path / "sim"))
    assert len(out.files) == 3 and out.n_annotations == 16
    assert all(Path(f).name.startswith("sim_annotator_") for f in out.files)
    assert Path(out.report_url).exists() and "kappa_vs_reference" in out.quality
    import_annotations(out.files, batch_dir, labels_dir, task, round=2)
    res = resolve_labels(batch_dir, labels_dir, task, cfg)
    # the simulated adjudicator answers whatever is pending with the majority vote
    if res.n_pending_adjudication:
        from al_ray.labeling import apply_adjudication

        adj = sim.adjudicate(labels_dir, str(tmp_path / "sim" / "adjudicated.jsonl"))
        res = apply_adjudication(adj, labels_dir, task, batch_dir=batch_dir, config=cfg).resolve
    assert res.n_pending_adjudication == 0 and res.complete
    labels = read_labels(labels_dir)
    assert {i: labels[i]["label"] for i in ids if labels[i]["source"] == "adjudicated"} == \
        {i: sim.reference(i) for i in ids if labels[i]["source"] == "adjudicated"}


def test_expert_simulation_passes_gate(batch_dir, labels_dir, task, tmp_path):
    ids = [f"t{i}" for i in range(8)]
    votes = _votes({i: ((3, 0), (0, 3))[k % 2] for k, i in enumerate(ids)})
    cfg = LabelingConfig(annotators=["e1", "e2"], overlap_fraction=1.0, min_overlap_items=2)
    export_batch(batch_dir, cfg, task, rng=np.random.default_rng(0))
    sim = VoteCountAnnotators(votes, LABELS, mode="expert", rng=np.random.default_rng(0))
    out = sim.write_annotation_files(batch_dir, str(tmp_path / "sim"))
    assert out.quality["kappa_vs_reference"] == 1.0
    import_annotations(out.files, batch_dir, labels_dir, task, round=2)
    res = resolve_labels(batch_dir, labels_dir, task, cfg)
    assert res.gate.passed and res.complete and res.by_source == {"propagated": 2, "unanimous": 8}


def test_simulate_needs_assignments(batch_dir, tmp_path):
    sim = VoteCountAnnotators(_votes({"t0": (1, 0)}), LABELS, rng=np.random.default_rng(0))
    with pytest.raises(InputError, match="export"):
        sim.write_annotation_files(batch_dir, str(tmp_path / "o"))


def test_real_path_does_not_import_the_simulator():
    code = ("import sys, al_ray.labeling, al_ray.labeling.api, al_ray.labeling.ingest, al_ray.labeling.resolve;"
            "import al_ray.cli.labels;"
            "assert 'al_ray.labeling.simulated' not in sys.modules, 'simulated imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])


@pytest.mark.skipif(not DAVIDSON.exists(), reason="shared Davidson dataset not present")
def test_davidson_loader_and_label_quality():
    table = load_davidson(str(DAVIDSON))
    assert table.num_rows == 17311 and table.schema.field("id").type == pa.string()
    assert table["id"][0].as_py() == "0"
    assert any("\n" in t for t in table["text"].to_pylist()[:5000])  # multi-line tweets survived
    counts = table.select(["count", "hate_speech", "offensive_language", "neither"]).to_pydict()
    assert all(c == h + o + n for c, h, o, n in zip(*counts.values()))
    votes = derive_votes(table, DAVIDSON_TASKS["violating"])
    assert votes.column_names == ["id", "text", "votes_neither", "votes_violating"]
    ids = [str(x) for x in votes["id"].to_pylist()[:4000]]
    crowd = VoteCountAnnotators(votes, LABELS, mode="crowd", rng=np.random.default_rng(0))
    q = estimate_label_quality(crowd, ids, ["c1", "c2"])
    assert 0.75 < q["kappa_vs_reference"] < 0.95  # DESIGN.md: crowd vs expert ~0.86 on this task
    hate = derive_votes(table, DAVIDSON_TASKS["hate"])
    hsim = VoteCountAnnotators(hate, ["not_hate", "hate"], mode="expert", rng=np.random.default_rng(0))
    share = np.mean([hsim.reference(str(i)) == "hate" for i in hate["id"].to_pylist()])
    assert 0.03 < share < 0.09  # about 6% hate speech


def test_driver_entry_points_with_a_gold_file(batch_dir, task, tmp_path):
    """What the round driver does in simulated mode: export, annotate_batch into labels/incoming,
    import, resolve, adjudicate_from_gold, resolve again."""
    from al_ray.labeling.simulated import adjudicate_from_gold, annotate_batch

    gold_dir = tmp_path / "gold"
    gold_dir.mkdir()
    ids = [f"t{i}" for i in range(8)]
    votes = [((3, 0), (0, 3), (1, 2), (2, 2))[k % 4] for k in range(8)]
    import pyarrow.parquet as pq

    pq.write_table(pa.table({
        "id": ids, "label": [N, V, V, V] * 2, "n_annotators": [sum(v) for v in votes],
        "votes_neither": [v[0] for v in votes], "votes_violating": [v[1] for v in votes],
        "tie": [v[0] == v[1] for v in votes], "split": ["train"] * 8,
    }), gold_dir / "gold.parquet")
    labels_dir = str(tmp_path / "labels")
    cfg = LabelingConfig.model_validate({"overlap": 1.0, "annotators": ["sim-expert-1", "sim-expert-2"],
                                         "min_overlap_items": 2})
    export_batch(batch_dir, cfg, task, rng=np.random.default_rng(0))
    out = f"{labels_dir}/incoming/simulated.jsonl"
    res = annotate_batch(batch_dir=batch_dir, gold_url=str(gold_dir), out_url=out, task=task, kind="vote_counts",
                         flip_prob=0.3, rng=np.random.default_rng(5))
    assert res.files == [out] and res.n_annotations == 16
    assert Path(batch_dir, "simulation.json").exists() and sorted(Path(out).parent.iterdir()) == [Path(out)]
    # ties resolve to the gold file's label, not a coin: the reference is the gold label everywhere here
    assert res.quality["simulator"]["mode"] == "expert"
    import_annotations([out], batch_dir, labels_dir, task, round=2)
    first = resolve_labels(batch_dir, labels_dir, task, cfg).to_dict()
    assert {"gate_passed", "expert_kappa", "n_overlap", "n_resolved", "n_pending_adjudication"} <= set(first)
    assert first["n_overlap"] == 8
    n = adjudicate_from_gold(labels_dir, str(gold_dir / "gold.parquet"), task)
    assert n == first["n_pending_adjudication"]
    final = resolve_labels(batch_dir, labels_dir, task, cfg)
    assert final.complete
    labels = read_labels(labels_dir)
    gold = dict(zip(ids, [N, V, V, V] * 2))
    assert all(labels[i]["label"] == gold[i] for i in ids if labels[i]["source"] == "adjudicated")
    assert adjudicate_from_gold(labels_dir, str(gold_dir), task) == 0  # queue now empty
