"""Agreement statistics against tables computed by hand."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest

from al_ray.labeling.agreement import coincidence_matrix, compute_agreement, fleiss_kappa, krippendorff_alpha


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
