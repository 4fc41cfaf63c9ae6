"""Agreement statistics against tables computed by hand."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest

from al_ray.labeling.agreement import (
    COEFFICIENTS, _stats, brennan_prediger, coincidence_matrix, compute_agreement, fleiss_kappa, gwet_ac1,
    krippendorff_alpha, pair_codes,
)


def _pairs(table: dict[tuple[str, str], int], a: str = "A", b: str = "B") -> list[dict]:
    """Annotation rows from a 2-annotator contingency table {(label_a, label_b): count}."""
    rows, k = [], 0
    for (la, lb), n in table.items():
        for _ in range(n):
            rows += [{"id": f"i{k}", "annotator_id": a, "label": la}, {"id": f"i{k}", "annotator_id": b, "label": lb}]
            k += 1
    return rows


def test_cohen_kappa_symmetric_2x2_table():
    #        B:yes  B:no
    # A:yes    4      1
    # A:no     1      4
    # p_o = 8/10 = 0.8;  A says yes 5/10, B says yes 5/10
    # p_e = 0.5*0.5 + 0.5*0.5 = 0.5;  kappa = (0.8 - 0.5) / (1 - 0.5) = 0.6
    rows = _pairs({("yes", "yes"): 4, ("yes", "no"): 1, ("no", "yes"): 1, ("no", "no"): 4})
    rep = compute_agreement(rows, ["no", "yes"])
    assert len(rep.pairs) == 1
    pair = rep.pairs[0]
    assert pair.n_shared == 10
    assert pair.cohen_kappa == pytest.approx(0.6)
    assert pair.observed_agreement == pytest.approx(0.8)
    assert pair.confusion == [[4, 1], [1, 4]]  # rows A, columns B, order [no, yes]
    assert rep.mean_cohen_kappa == pytest.approx(0.6)
    # Krippendorff: coincidences o_yy = o_nn = 8, o_yn = o_ny = 2; n = 20, n_y = n_n = 10
    # alpha = 1 - (n - 1) * sum_{c!=k} o_ck / sum_{c!=k} n_c n_k = 1 - 19 * 4 / 200 = 0.62
    assert rep.krippendorff_alpha == pytest.approx(0.62)
    assert rep.coincidence == [[8.0, 2.0], [2.0, 8.0]]
    # Fleiss with 2 raters is Scott's pi: (0.8 - 0.5) / 0.5 = 0.6
    assert rep.fleiss_kappa == pytest.approx(0.6)
    assert rep.per_label["yes"]["specific_agreement"] == pytest.approx(0.8)


def test_cohen_kappa_asymmetric_marginals():
    #          B:pos  B:neg
    # A:pos     20      5
    # A:neg     10     15        n = 50
    # p_o = 35/50 = 0.7; A pos 25/50 = 0.5, B pos 30/50 = 0.6
    # p_e = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = (0.7 - 0.5) / 0.5 = 0.4
    rows = _pairs({("pos", "pos"): 20, ("pos", "neg"): 5, ("neg", "pos"): 10, ("neg", "neg"): 15})
    rep = compute_agreement(rows, ["neg", "pos"])
    assert rep.pairs[0].cohen_kappa == pytest.approx(0.4)
    assert rep.pairs[0].confusion == [[15, 10], [5, 20]]


def test_three_raters_fleiss_and_alpha_by_hand():
    # counts per item [a, b] from 3 raters: [3,0] [0,3] [2,1] [1,2]
    # Fleiss: P_i = 1, 1, 1/3, 1/3 -> P_bar = 2/3; p_a = p_b = 6/12 -> P_e = 0.5
    # kappa = (2/3 - 1/2) / (1/2) = 1/3
    counts = np.array([[3, 0], [0, 3], [2, 1], [1, 2]])
    assert fleiss_kappa(counts) == pytest.approx(1 / 3)
    # coincidences: [3,0] -> o_aa += 3; [0,3] -> o_bb += 3; [2,1] -> [[1,1],[1,0]]; [1,2] -> [[0,1],[1,1]]
    # o = [[4,2],[2,4]], n = 12, n_a = n_b = 6: alpha = 1 - 11 * 4 / (2 * 36) = 28/72
    assert coincidence_matrix(counts).tolist() == [[4, 2], [2, 4]]
    assert krippendorff_alpha(counts) == pytest.approx(28 / 72)
    # and the package agrees on the reliability-data form (raters x items)
    data = np.array([[0, 1, 0, 0], [0, 1, 0, 1], [0, 1, 1, 1]], dtype=float)
    assert krippendorff.alpha(reliability_data=data, level_of_measurement="nominal") == pytest.approx(28 / 72)

    rows = []
    for i, (na, nb) in enumerate(counts):
        labs = ["a"] * na + ["b"] * nb
        rows += [{"id": f"x{i}", "annotator_id": f"r{j}", "label": lab} for j, lab in enumerate(labs)]
    rep = compute_agreement(rows, ["a", "b"])
    assert rep.fleiss_kappa == pytest.approx(1 / 3)
    assert rep.krippendorff_alpha == pytest.approx(28 / 72)
    assert rep.n_overlap_items == 4
    assert len(rep.pairs) == 3
    assert rep.per_label["a"]["specific_agreement"] == pytest.approx(4 / 6)


def test_missing_values_and_single_annotations():
    # only items seen by two annotators count; singles are not pairable
    rows = [
        {"id": "1", "annotator_id": "A", "label": "x"}, {"id": "1", "annotator_id": "B", "label": "x"},
        {"id": "2", "annotator_id": "A", "label": "y"}, {"id": "2", "annotator_id": "C", "label": "y"},
        {"id": "3", "annotator_id": "B", "label": "x"}, {"id": "3", "annotator_id": "C", "label": "y"},
        {"id": "4", "annotator_id": "A", "label": "y"},
    ]
    rep = compute_agreement(rows, ["x", "y"])
    assert rep.n_items == 4 and rep.n_overlap_items == 3 and rep.n_annotations == 7
    assert {(p.annotator_a, p.annotator_b): p.n_shared for p in rep.pairs} == {("A", "B"): 1, ("A", "C"): 1, ("B", "C"): 1}
    assert rep.observed_agreement == pytest.approx(2 / 3)
    # each pair has one shared item: A-B both "x" (single label -> kappa undefined), A-C both "y", B-C disagree
    assert [p.cohen_kappa for p in rep.pairs][:2] == [None, None]


def test_undefined_when_a_single_label_is_used():
    rows = [{"id": str(i), "annotator_id": a, "label": "x"} for i in range(5) for a in "AB"]
    rep = compute_agreement(rows, ["x", "y"])
    assert rep.mean_cohen_kappa is None and rep.krippendorff_alpha is None and rep.fleiss_kappa is None
    assert rep.observed_agreement == 1.0


def test_no_overlap():
    rep = compute_agreement([{"id": "1", "annotator_id": "A", "label": "x"}], ["x", "y"])
    assert rep.pairs == [] and rep.krippendorff_alpha is None and rep.observed_agreement is None


# --------------------------------------------------------------------------------------------
# prevalence-robust coefficients (Gwet's AC1, Brennan–Prediger / PABAK), minority agreement


def test_the_kappa_paradox_table():
    #           B:yes  B:no
    # A:yes       0      5
    # A:no        5     90        n = 100, p_o = 0.9, both say yes 5/100
    # kappa: p_e = 0.05^2 + 0.95^2 = 0.905, kappa = (0.9 - 0.905) / 0.095 = -0.0526 (near 0)
    # AC1: pi_yes = 0.05, p_e = 2 * 0.05 * 0.95 / (2 - 1) = 0.095, AC1 = 0.805 / 0.905 = 0.8895
    # PABAK = BP = 2 * 0.9 - 1 = 0.8
    # alpha: o_nn = 180, o_yy = 0, o_ny = o_yn = 10, n_n = 190, n_y = 10, n = 200
    #   = (199 * 180 - (190 * 189 + 10 * 9)) / (200 * 199 - 36_000) = -180 / 3_800 = -0.0474
    # minority "yes": positive specific agreement 2a / (2a + b + c) = 0 / 10 = 0: the annotators
    # never agree on a single "yes", which AC1's 0.89 does not say
    rows = _pairs({("yes", "no"): 5, ("no", "yes"): 5, ("no", "no"): 90})
    rep = compute_agreement(rows, ["no", "yes"])
    assert rep.pairs[0].observed_agreement == pytest.approx(0.9)
    assert rep.mean_cohen_kappa == pytest.approx(-0.005 / 0.095)
    assert rep.fleiss_kappa == pytest.approx(-0.005 / 0.095)  # Scott's pi: equal marginals
    assert rep.krippendorff_alpha == pytest.approx(-180 / 3800)
    assert rep.gwet_ac1 == pytest.approx(0.805 / 0.905)
    assert rep.brennan_prediger == pytest.approx(0.8)
    assert rep.minority_label == "yes" and rep.minority_specific_agreement == 0.0


def test_ac1_and_pabak_on_the_two_by_two_tables():
    # symmetric table (4, 1 / 1, 4): pi = 0.5, p_e = 2 * 0.25 = 0.5: AC1 = kappa = 0.6; BP = 2*0.8-1
    rep = compute_agreement(_pairs({("yes", "yes"): 4, ("yes", "no"): 1, ("no", "yes"): 1, ("no", "no"): 4}),
                            ["no", "yes"])
    assert rep.gwet_ac1 == pytest.approx(0.6) and rep.brennan_prediger == pytest.approx(0.6)
    # asymmetric marginals (20, 5 / 10, 15): p_o = 0.7; pi_pos = (25 + 30) / 100 = 0.55
    # p_e = 2 * 0.55 * 0.45 = 0.495, AC1 = 0.205 / 0.505 = 0.4059; BP = 0.4
    # values: pos 2*20 + 5 + 10 = 55, neg 2*15 + 15 = 45 -> minority "neg": 2*15 / 45 = 2/3
    table = {("pos", "pos"): 20, ("pos", "neg"): 5, ("neg", "pos"): 10, ("neg", "neg"): 15}
    rep = compute_agreement(_pairs(table), ["neg", "pos"])
    assert rep.gwet_ac1 == pytest.approx(0.205 / 0.505) and rep.brennan_prediger == pytest.approx(0.4)
    assert rep.minority_label == "neg" and rep.minority_specific_agreement == pytest.approx(2 / 3)
    assert rep.per_label["pos"]["specific_agreement"] == pytest.approx(40 / 55)


def test_three_labels_brennan_prediger_uses_one_over_q():
    # 10 items, 8 agree, 3 labels: BP = (0.8 - 1/3) / (2/3) = 0.7
    # AC1: values a 10, b 6, c 4 of 20: pi = (0.5, 0.3, 0.2), p_e = (0.25 + 0.21 + 0.16) / 2 = 0.31
    #   AC1 = (0.8 - 0.31) / 0.69 = 0.7101
    rows = _pairs({("a", "a"): 4, ("b", "b"): 2, ("c", "c"): 2, ("a", "b"): 1, ("b", "a"): 1})
    rep = compute_agreement(rows, ["a", "b", "c"])
    assert rep.brennan_prediger == pytest.approx(0.7)
    assert rep.gwet_ac1 == pytest.approx(0.49 / 0.69)
    assert rep.minority_label == "c" and rep.minority_specific_agreement == 1.0


# items with 2 or 3 annotators, skewed: counts per item [a, b]
MIXED = np.array([[3, 0], [3, 0], [3, 0], [2, 1], [2, 0], [0, 2], [1, 1]])


def test_mixed_two_and_three_annotators_by_hand():
    # agreeing pairs per item, p_a_i: 1, 1, 1, 1/3, 1, 1, 0 -> p_a = (16/3) / 7 = 16/21
    # AC1: pi_a = mean(1, 1, 1, 2/3, 1, 0, 1/2) = 31/42, p_e = 2 * 31/42 * 11/42 = 682/1764
    #   AC1 = (16/21 - 682/1764) / (1 - 682/1764) = (1344 - 682) / 1082 = 662/1082
    # BP = (16/21 - 1/2) / (1/2) = 11/21
    # Fleiss (pooled shares): a 14 of 18 ratings, P_e = (14/18)^2 + (4/18)^2 = 53/81
    #   kappa = (16/21 - 53/81) / (28/81) = 61/196
    # coincidences: o_aa = 3*3 + 1 + 2 = 12, o_bb = 2, o_ab = o_ba = 2; n_a = 14, n_b = 4, n = 18
    #   alpha = (17 * 14 - (14*13 + 4*3)) / (18*17 - 194) = 44/112; minority b: o_bb / n_b = 2/4
    assert gwet_ac1(MIXED) == pytest.approx(662 / 1082)
    assert brennan_prediger(MIXED) == pytest.approx(11 / 21)
    assert fleiss_kappa(MIXED) == pytest.approx(61 / 196)
    assert krippendorff_alpha(MIXED) == pytest.approx(44 / 112)
    rows = []
    for i, (na, nb) in enumerate(MIXED):
        labs = ["a"] * na + ["b"] * nb
        rows += [{"id": f"m{i}", "annotator_id": f"r{j}", "label": lab} for j, lab in enumerate(labs)]
    rows.append({"id": "single", "annotator_id": "r0", "label": "b"})  # one annotation: not an overlap item
    rep = compute_agreement(rows, ["a", "b"])
    assert rep.n_overlap_items == 7
    assert rep.gwet_ac1 == pytest.approx(662 / 1082) and rep.brennan_prediger == pytest.approx(11 / 21)
    assert rep.krippendorff_alpha == pytest.approx(44 / 112) and rep.fleiss_kappa == pytest.approx(61 / 196)
    assert rep.minority_label == "b" and rep.minority_specific_agreement == pytest.approx(0.5)


def test_single_label_throughout():
    # kappa/alpha/Fleiss are 0/0; AC1's chance term is 0 and BP's 1/q: both say perfect agreement
    rows = [{"id": str(i), "annotator_id": a, "label": "x"} for i in range(5) for a in "AB"]
    rep = compute_agreement(rows, ["x", "y"], rng=np.random.default_rng(0))
    assert rep.gwet_ac1 == 1.0 and rep.brennan_prediger == 1.0
    assert rep.intervals["gwet_ac1"] == {"estimate": 1.0, "low": 1.0, "high": 1.0}
    assert rep.intervals["mean_cohen_kappa"] == {"estimate": None, "low": None, "high": None}
    # the minority label "y" was never used: nobody agreed on it, nothing to say
    assert rep.minority_label == "y" and rep.minority_specific_agreement is None


# --------------------------------------------------------------------------------------------
# bootstrap intervals


def _random_batch(rng: np.random.Generator, n: int = 40, share: float = 0.2) -> list[dict]:
    """n items, each labelled by 2 or 3 of 3 annotators who mostly agree."""
    rows = []
    for i in range(n):
        truth = "y" if rng.random() < share else "n"
        for who in rng.choice(3, size=int(rng.integers(2, 4)), replace=False):
            lab = truth if rng.random() > 0.1 else ("n" if truth == "y" else "y")
            rows.append({"id": f"i{i}", "annotator_id": f"a{who}", "label": lab})
    return rows


def test_resample_formulas_equal_the_libraries_on_the_resampled_data():
    """The bootstrap evaluates resamples as item weights; a resample with weights w must give what
    sklearn and krippendorff give on the data with item i repeated w_i times."""
    rng = np.random.default_rng(3)
    rows = _random_batch(rng)
    labels = ["n", "y"]
    base = compute_agreement(rows, labels)
    by_item: dict[str, list[dict]] = {}
    for r in rows:
        by_item.setdefault(r["id"], []).append(r)
    items = sorted(by_item, key=lambda x: int(x[1:]))
    index = {lab: k for k, lab in enumerate(labels)}
    counts = np.array([[sum(r["label"] == lab for r in by_item[i]) for lab in labels] for i in items])
    v = [{r["annotator_id"]: r["label"] for r in by_item[i]} for i in items]
    codes = pair_codes(v, base.pairs, index)
    for trial in range(3):
        w = np.bincount(rng.integers(0, len(items), len(items)), minlength=len(items))
        repeated = [{**r, "id": f"{i}#{k}"} for i, wi in zip(items, w) for k in range(wi) for r in by_item[i]]
        lib = compute_agreement(repeated, labels)  # sklearn, krippendorff, the hand formulas
        stats = _stats(w[None, :], counts, codes, index[lib.minority_label])
        for name in COEFFICIENTS:
            assert stats[name][0] == pytest.approx(lib.metric(name)), (trial, name)


def test_bootstrap_is_seeded_by_the_generator_passed_in():
    rows = _random_batch(np.random.default_rng(5))
    a = compute_agreement(rows, ["n", "y"], rng=np.random.default_rng(11))
    b = compute_agreement(rows, ["n", "y"], rng=np.random.default_rng(11))
    c = compute_agreement(rows, ["n", "y"], rng=np.random.default_rng(12))
    assert a.intervals == b.intervals
    assert a.intervals["gwet_ac1"] != c.intervals["gwet_ac1"]
    assert a.bootstrap == {"n_samples": 2000, "confidence": 0.95, "unit": "overlap item",
                           "method": "percentile"}
    for name in COEFFICIENTS:
        iv = a.intervals[name]
        assert iv["low"] <= iv["estimate"] <= iv["high"], name
    # without a generator: estimates, no intervals, and asking for a bound is an error
    d = compute_agreement(rows, ["n", "y"])
    assert d.bootstrap is None and d.intervals["gwet_ac1"]["low"] is None and d.gwet_ac1 == a.gwet_ac1
    with pytest.raises(ValueError, match="bootstrap"):
        d.bound("gwet_ac1", "lower")
    assert a.bound("gwet_ac1", "lower") == a.intervals["gwet_ac1"]["low"]


def test_interval_narrows_with_more_items_and_widens_with_confidence():
    # the same table at 20 and at 200 items: the interval shrinks about as 1/sqrt(n)
    small = _pairs({("y", "y"): 2, ("y", "n"): 1, ("n", "y"): 1, ("n", "n"): 16})
    large = _pairs({("y", "y"): 20, ("y", "n"): 10, ("n", "y"): 10, ("n", "n"): 160})
    s = compute_agreement(small, ["n", "y"], rng=np.random.default_rng(0)).intervals["gwet_ac1"]
    big = compute_agreement(large, ["n", "y"], rng=np.random.default_rng(0)).intervals["gwet_ac1"]
    assert s["estimate"] == pytest.approx(big["estimate"])
    ratio = (s["high"] - s["low"]) / (big["high"] - big["low"])
    assert 2.0 < ratio < 4.5  # sqrt(10) = 3.2
    wide = compute_agreement(small, ["n", "y"], rng=np.random.default_rng(0), confidence=0.99)
    wide = wide.intervals["gwet_ac1"]
    assert wide["low"] < s["low"]
    with pytest.raises(ValueError):
        compute_agreement(small, ["n", "y"], rng=np.random.default_rng(0), confidence=1.0)


def test_bootstrap_interval_covers_the_truth():
    """Coverage on simulated batches: two annotators who each flip 10% on 60 items with 30%
    positives. Their population AC1 follows from the flip rate: p_a = 0.9^2 + 0.1^2 = 0.82, each
    says yes with 0.3*0.9 + 0.7*0.1 = 0.34, p_e = 2 * 0.34 * 0.66 = 0.4488,
    AC1 = (0.82 - 0.4488) / 0.5512 = 0.6734. A 90% interval should miss it about 1 in 10 times."""
    truth = (0.82 - 0.4488) / 0.5512
    rng = np.random.default_rng(2024)
    misses = 0
    trials = 60
    for t in range(trials):
        gold = rng.random(60) < 0.3
        rows = []
        for i, g in enumerate(gold):
            for who in "AB":
                lab = g ^ (rng.random() < 0.1)
                rows.append({"id": i, "annotator_id": who, "label": "y" if lab else "n"})
        iv = compute_agreement(rows, ["n", "y"], rng=np.random.default_rng(t), n_boot=500,
                               confidence=0.9).intervals["gwet_ac1"]
        misses += not (iv["low"] <= truth <= iv["high"])
    assert 1 <= misses <= 14  # binomial(60, 0.1): 6 expected; P(outside 1..14) < 0.5%
