import pyarrow as pa
import pytest

from al_ray.errors import InputError
from al_ray.finetune import class_weights, read_labels
from tests.finetune.conftest import LABELS, synthetic_rows, write_labels


def test_reads_one_file(tmp_path):
    url = write_labels(str(tmp_path / "labels.parquet"), synthetic_rows(12))
    d = read_labels(url, LABELS)
    assert len(d) == 12 and d.n_duplicates_dropped == 0
    assert d.class_counts() == [9, 3]
    assert d.class_counts_by_label() == {"neither": 9, "violating": 3}
    assert all(t.strip() for t in d.texts)


def test_many_files_and_folders_later_round_wins(tmp_path):
    r1 = synthetic_rows(8, round_=1)
    r2 = [dict(r, label="violating", round=2) for r in synthetic_rows(2, round_=2)]  # relabel x0, x1
    r2 += synthetic_rows(3, round_=2, id_prefix="y")
    write_labels(str(tmp_path / "r001" / "labels.parquet"), r1)
    write_labels(str(tmp_path / "r002" / "labels.parquet"), r2)
    d = read_labels([str(tmp_path / "r001" / "labels.parquet"), str(tmp_path / "r002")], LABELS)
    assert len(d) == 11 and d.n_rows_read == 13 and d.n_duplicates_dropped == 2
    by_id = dict(zip(d.ids, d.label_ids))
    assert by_id["x1"] == 1  # was 'neither' in round 1, 'violating' in round 2
    # a later round wins even when its file is listed first
    d2 = read_labels([str(tmp_path / "r002"), str(tmp_path / "r001" / "labels.parquet")], LABELS)
    assert dict(zip(d2.ids, d2.label_ids))["x1"] == 1


@pytest.mark.parametrize("field,value", [("label", "spam"), ("text", ""), ("text", "   "), ("text", None)])
def test_bad_rows_name_file_and_row(tmp_path, field, value):
    rows = synthetic_rows(5)
    rows[3][field] = value
    url = write_labels(str(tmp_path / "bad.parquet"), rows)
    with pytest.raises(InputError) as info:
        read_labels(url, LABELS)
    assert info.value.location == f"{url} row 3"


def test_missing_column_and_missing_file(tmp_path):
    url = str(tmp_path / "nolabel.parquet")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ["a"], "text": ["t"]}), url)
    with pytest.raises(InputError) as info:
        read_labels(url, LABELS)
    assert info.value.location == url
    with pytest.raises(InputError) as info:
        read_labels(str(tmp_path / "absent.parquet"), LABELS)
    assert info.value.location == str(tmp_path / "absent.parquet")
    with pytest.raises(InputError):
        read_labels([], LABELS)


def test_empty_file_is_an_error(tmp_path):
    url = write_labels(str(tmp_path / "empty.parquet"), [])
    with pytest.raises(InputError):
        read_labels(url, LABELS)


def test_balanced_class_weights():
    w = class_weights([950, 50], "balanced")
    assert w == pytest.approx([1000 / (2 * 950), 1000 / (2 * 50)])
    # each class contributes the same total weight: sum_k w_k * count_k is n/K per class
    assert 950 * w[0] == pytest.approx(50 * w[1]) == pytest.approx(500)
    assert class_weights([10, 10], "balanced") == [1.0, 1.0]
    assert class_weights([950, 50], "none") == [1.0, 1.0]
    assert class_weights([5, 0, 5], "balanced") == [1.0, 0.0, 1.0]  # absent class: no weight
    with pytest.raises(ValueError):
        class_weights([1, 2], "inverse")
