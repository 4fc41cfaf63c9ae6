"""Importing a labelled CSV/TSV/JSONL/Parquet file into the prepared-data layout."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from al_ray.data.importer import (
    decide_labels,
    detect_format,
    import_labelled,
    stratified_subsample,
    write_prepared,
)
from al_ray.data.layout import read_gold, read_gold_info, read_test_ids
from al_ray.errors import ConfigError, InputError

LABELS = ["ham", "spam"]


def _records(n: int = 40, pos_every: int = 4) -> list[dict]:
    out = []
    for i in range(n):
        text = f'message {i}, with "quotes", commas\nand a newline  ' if i % 5 == 0 else f"message {i}"
        out.append({"id": f"m{i:03d}", "text": text, "label": "spam" if i % pos_every == 0 else "ham"})
    return out


def _write(path: Path, records: list[dict], fmt: str | None = None) -> str:
    """Write records (list of dicts, None = missing value) in the format of the suffix."""
    fmt = fmt or path.suffix.lstrip(".")
    columns = list(dict.fromkeys(k for r in records for k in r))
    if fmt in ("csv", "tsv"):
        with open(path, "w", newline="", encoding="utf-8") as f:
            if fmt == "csv":
                w = csv.writer(f)
            else:
                w = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar=None, quotechar=None)
            w.writerow(columns)
            for r in records:
                w.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    elif fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(records), path)
    else:
        raise ValueError(fmt)
    return str(path)


def _corpus(ds) -> pa.Table:
    return pa.concat_tables(pq.read_table(u) for u in ds.shard_urls)


def _digests(ds) -> list[str]:
    files = list(ds.shard_urls) + [ds.gold_file, ds.test_ids_file, ds.info_file]
    return [hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in files]


# ----------------------------------------------------------------------------- good inputs


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_round_trip(tmp_path, suffix):
    records = _records()
    path = _write(tmp_path / f"in.{suffix}", records)
    ds = import_labelled(path, str(tmp_path / "out" / "corpus"), labels=LABELS, label_column="label",
                         n_shards=3, test_fraction=0.25)
    assert ds.gold_url == str(tmp_path / "out" / "gold") and ds.n_shards == 3 and ds.n_rows == 40
    corpus = _corpus(ds)
    assert corpus.schema.names == ["id", "text"]
    assert corpus.column("id").to_pylist() == [r["id"] for r in records]
    assert corpus.column("text").to_pylist() == [r["text"] for r in records]  # kept exactly, spaces too
    gold = read_gold(ds.gold_url)
    assert gold.column_names == ["id", "label", "n_annotators", "votes_ham", "votes_spam", "tie", "split"]
    assert gold.column("label").to_pylist() == [r["label"] for r in records]
    assert set(gold.column("n_annotators").to_pylist()) == {1}
    assert gold.column("votes_spam").to_pylist() == [int(r["label"] == "spam") for r in records]
    assert not any(gold.column("tie").to_pylist()) and ds.n_ties == 0
    test_ids = read_test_ids(ds.gold_url)
    split = dict(zip(gold.column("id").to_pylist(), gold.column("split").to_pylist()))
    assert sorted(test_ids) == sorted(i for i, s in split.items() if s == "test")
    assert len(test_ids) == ds.n_test == 10  # 25% of 10 spam + 25% of 30 ham, rounded per class
    assert ds.positive_label == "spam" and ds.positive_rate == 0.25
    info = read_gold_info(ds.gold_url)
    assert info["preparer"] == "al_ray.data.importer" and info["format"] == suffix
    assert info["source"] == path and info["columns"] == {"text": "text", "id": "id", "label": "label"}
    assert info["labels"] == LABELS and info["positive_label"] == "spam" and info["n_rows"] == 40
    assert info["n_test"] == 10 and info["n_ties"] == 0 and info["seed"] == 0
    assert info["test_fraction"] == 0.25 and info["max_rows"] is None and info["label_map"] is None
    corpus_info = json.loads(Path(ds.corpus_url, "_dataset.json").read_text())
    assert "label" not in json.dumps(corpus_info).replace("label_", "")  # provenance only, no labels


def test_tsv_with_quotes_and_derived_ids(tmp_path):
    # TSV texts with stray quotes (as in the SMS Spam Collection): quoting is off for TSV, so a
    # lone " does not swallow the next lines.
    lines = ["Label\tSMS", 'ham\tsay "hi', "spam\tWIN now", 'ham\the said "ok" twice', "ham\tbye\""]
    path = tmp_path / "sms.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ds = import_labelled(str(path), str(tmp_path / "c"), labels=LABELS, text_column="SMS",
                         label_column="Label", id_column=None, test_fraction=0.0)
    corpus = _corpus(ds)
    assert corpus.column("id").to_pylist() == ["row-0", "row-1", "row-2", "row-3"]
    assert corpus.column("text").to_pylist() == ['say "hi', "WIN now", 'he said "ok" twice', 'bye"']
    assert ds.n_test == 0 and read_test_ids(ds.gold_url) == []
    assert read_gold_info(ds.gold_url)["columns"]["id"] is None


def test_label_map_and_integer_labels(tmp_path):
    records = [{"id": i, "text": f"t{i}", "label": int(i % 3 == 0)} for i in range(12)]
    path = _write(tmp_path / "in.jsonl", records)
    ds = import_labelled(path, str(tmp_path / "c"), labels=["neither", "violating"], label_column="label",
                         label_map={"0": "neither", "1": "violating"})
    gold = read_gold(ds.gold_url)
    assert gold.column("id").to_pylist() == [str(i) for i in range(12)]
    assert gold.column("label").to_pylist() == ["violating" if i % 3 == 0 else "neither" for i in range(12)]
    assert read_gold_info(ds.gold_url)["label_map"] == {"0": "neither", "1": "violating"}
    # Values that already are task labels need no mapping; the map may cover only some.
    path = _write(tmp_path / "sms.csv", [{"id": f"{i}", "text": "x", "label": lab}
                                         for i, lab in enumerate(["ham", "spam", "ham", "spam"])])
    ds = import_labelled(path, str(tmp_path / "c2"), labels=["not_spam", "spam"], label_column="label",
                         label_map={"ham": "not_spam"})
    assert read_gold(ds.gold_url).column("label").to_pylist() == ["not_spam", "spam", "not_spam", "spam"]


def test_vote_columns_with_ties(tmp_path):
    records = [{"id": f"r{i}", "text": f"text {i}", "n_neither": nv, "n_viol": pv}
               for i, (nv, pv) in enumerate([(3, 0), (0, 3), (2, 2), (1, 2), (1, 1), (4, 0), (0, 2), (3, 1)])]
    path = _write(tmp_path / "v.csv", records)
    kwargs = dict(labels=["neither", "violating"], vote_columns={"neither": "n_neither", "violating": "n_viol"},
                  test_fraction=0.0, seed=3)
    ds = import_labelled(path, str(tmp_path / "a" / "corpus"), **kwargs)
    gold = read_gold(ds.gold_url)
    assert gold.column("votes_neither").to_pylist() == [r["n_neither"] for r in records]
    assert gold.column("n_annotators").to_pylist() == [r["n_neither"] + r["n_viol"] for r in records]
    tie = gold.column("tie").to_pylist()
    assert tie == [False, False, True, False, True, False, False, False] and ds.n_ties == 2
    labels = gold.column("label").to_pylist()
    assert [labels[i] for i in (0, 1, 3, 5, 6, 7)] == ["neither", "violating", "violating", "neither",
                                                        "violating", "neither"]
    # The tie coin: one draw per row, positive when < 0.5 (the Davidson rule).
    coin = np.random.default_rng(3).random(len(records)) < 0.5
    assert [labels[i] for i in (2, 4)] == ["violating" if coin[i] else "neither" for i in (2, 4)]
    ds2 = import_labelled(path, str(tmp_path / "b" / "corpus"), **kwargs)
    assert _digests(ds)[:3] == _digests(ds2)[:3]


def test_default_vote_columns_three_labels(tmp_path):
    records = [{"id": f"r{i}", "text": "x", "votes_a": a, "votes_b": b, "votes_c": c, "n": a + b + c}
               for i, (a, b, c) in enumerate([(2, 1, 0), (0, 0, 3), (1, 1, 1), (0, 2, 2), (1, 0, 2)])]
    path = _write(tmp_path / "v.parquet", records)
    ds = import_labelled(path, str(tmp_path / "c"), labels=["a", "b", "c"], vote_columns={},
                         annotators_column="n", test_fraction=0.0)
    gold = read_gold(ds.gold_url)
    labels, tie = gold.column("label").to_pylist(), gold.column("tie").to_pylist()
    assert tie == [False, False, True, True, False]
    assert labels[0] == "a" and labels[1] == "c" and labels[4] == "c"
    assert labels[3] in ("b", "c") and ds.positive_label == "c"


def test_share_column(tmp_path):
    shares = [0.0, 1 / 3, 2 / 3, 1.0, 0.5, 0.2]
    counts = [3, 3, 3, 3, 4, 5]
    records = [{"id": f"s{i}", "text": f"t{i}", "toxic_share": s, "raters": n}
               for i, (s, n) in enumerate(zip(shares, counts))]
    path = _write(tmp_path / "s.jsonl", records)
    ds = import_labelled(path, str(tmp_path / "c"), labels=["ok", "toxic"], share_column="toxic_share",
                         annotators_column="raters", test_fraction=0.0)
    gold = read_gold(ds.gold_url)
    assert gold.column("votes_toxic").to_pylist() == [0, 1, 2, 3, 2, 1]
    assert gold.column("votes_ok").to_pylist() == [3, 2, 1, 0, 2, 4]
    assert gold.column("tie").to_pylist() == [False, False, False, False, True, False]
    info = read_gold_info(ds.gold_url)
    assert info["mode"] == "share" and info["n_share_inexact"] == 0
    # A constant annotator count instead of a column.
    ds = import_labelled(path, str(tmp_path / "c2"), labels=["ok", "toxic"], share_column="toxic_share",
                         annotators=3, test_fraction=0.0)
    assert read_gold(ds.gold_url).column("n_annotators").to_pylist() == [3] * 6


def test_stratified_split_keeps_class_rates(tmp_path):
    rng = np.random.default_rng(7)
    is_pos = rng.random(2000) < 0.08
    records = [{"id": f"x{i}", "text": f"t{i}", "label": "spam" if p else "ham"} for i, p in enumerate(is_pos)]
    path = _write(tmp_path / "big.parquet", records)
    ds = import_labelled(path, str(tmp_path / "c"), labels=LABELS, label_column="label", test_fraction=0.2)
    gold = read_gold(ds.gold_url)
    lab = np.asarray(gold.column("label").to_pylist())
    test = np.asarray(gold.column("split").to_pylist()) == "test"
    n_pos = int((lab == "spam").sum())
    assert int((lab[test] == "spam").sum()) == round(0.2 * n_pos)
    assert int((lab[test] == "ham").sum()) == round(0.2 * (2000 - n_pos))
    assert abs((lab[test] == "spam").mean() - (lab == "spam").mean()) < 0.002


def test_same_seed_same_files(tmp_path):
    path = _write(tmp_path / "in.csv", _records(60))
    runs = [import_labelled(path, str(tmp_path / name / "corpus"), labels=LABELS, label_column="label",
                            n_shards=2, seed=seed) for name, seed in (("a", 5), ("b", 5), ("c", 6))]
    a, b, c = (_digests(ds) for ds in runs)
    assert a[:3] == b[:3]  # shards, gold, test ids (dataset.json names its own corpus_url)
    assert read_test_ids(runs[0].gold_url) == read_test_ids(runs[1].gold_url)
    assert read_test_ids(runs[0].gold_url) != read_test_ids(runs[2].gold_url)


def test_max_rows_subsample_is_stratified_and_seeded(tmp_path):
    records = _records(200, pos_every=5)  # 40 spam, 160 ham
    path = _write(tmp_path / "in.parquet", records)
    kw = dict(labels=LABELS, label_column="label", max_rows=50, test_fraction=0.2)
    a = import_labelled(path, str(tmp_path / "a" / "corpus"), seed=1, **kw)
    b = import_labelled(path, str(tmp_path / "b" / "corpus"), seed=1, **kw)
    c = import_labelled(path, str(tmp_path / "c" / "corpus"), seed=2, **kw)
    gold = read_gold(a.gold_url)
    assert a.n_rows == gold.num_rows == 50 and a.extra["n_rows_source"] == 200
    assert gold.column("label").to_pylist().count("spam") == 10  # 20% of 50, as in the source
    ids = gold.column("id").to_pylist()
    order = [r["id"] for r in records]
    assert ids == sorted(ids, key=order.index)  # source order kept
    assert _corpus(a).column("id").to_pylist() == ids and a.n_test == 10
    assert _digests(a)[:3] == _digests(b)[:3]
    assert read_gold(c.gold_url).column("id").to_pylist() != ids
    info = read_gold_info(a.gold_url)
    assert info["max_rows"] == 50 and info["n_rows_source"] == 200 and info["n_rows"] == 50
    # max_rows at or above the row count: no draw, the same files as without it.
    d = import_labelled(path, str(tmp_path / "d" / "corpus"), labels=LABELS, label_column="label", max_rows=500)
    e = import_labelled(path, str(tmp_path / "e" / "corpus"), labels=LABELS, label_column="label")
    assert _digests(d)[:3] == _digests(e)[:3] and d.n_rows == 200


def test_stratified_subsample_quotas():
    labels = np.asarray(["a"] * 97 + ["b"] * 3)
    keep = stratified_subsample(labels, 10, np.random.default_rng(0))
    assert len(keep) == 10 and np.all(np.diff(keep) > 0)
    assert list(labels[keep]).count("b") == 1  # 0.3 rounds to 0, but a present class keeps a row


def test_decide_labels_multiclass_tie_uses_one_draw_per_row():
    votes = np.asarray([[1, 1, 1], [0, 2, 2], [3, 0, 0]])
    lab, tie = decide_labels(votes, ["a", "b", "c"], "c", np.random.default_rng(0))
    assert tie.tolist() == [True, True, False] and lab[2] == "a"
    u = np.random.default_rng(0).random(3)
    assert lab[0] == ["c", "a", "b"][int(u[0] * 3)] and lab[1] == ["c", "b"][int(u[1] * 2)]


def test_reads_through_fsspec(tmp_path):
    data = Path(_write(tmp_path / "in.csv", _records(10))).read_bytes()
    with fsspec.open("memory://al_ray_test/import/in.csv", "wb") as f:
        f.write(data)
    ds = import_labelled("memory://al_ray_test/import/in.csv", str(tmp_path / "c"), labels=LABELS,
                         label_column="label")
    assert ds.n_rows == 10


def test_write_prepared_checks_before_writing(tmp_path):
    with pytest.raises(InputError, match="only one class"):
        write_prepared(str(tmp_path / "c"), ids=["a", "b"], texts=["x", "y"],
                       votes_by_label={"ham": np.array([1, 1]), "spam": np.array([0, 0])}, labels=LABELS,
                       positive_label="spam")
    assert not (tmp_path / "c").exists()


def test_detect_format():
    assert [detect_format(p) for p in ("a.CSV", "s3://b/x.tsv", "x.ndjson", "y.jsonl", "z.parquet")] == [
        "csv", "tsv", "jsonl", "jsonl", "parquet"]
    with pytest.raises(ConfigError, match="--format"):
        detect_format("data.txt")


# ----------------------------------------------------------------------------- bad inputs


def _bad(tmp_path: Path, records: list[dict], suffix: str = "csv", **kwargs) -> str:
    """Import must fail with InputError naming the file, and write nothing."""
    path = _write(tmp_path / f"bad.{suffix}", records)
    kwargs.setdefault("labels", LABELS)
    if not any(k in kwargs for k in ("vote_columns", "share_column")):
        kwargs.setdefault("label_column", "label")
    with pytest.raises(InputError) as err:
        import_labelled(path, str(tmp_path / "out" / "corpus"), **kwargs)
    assert not (tmp_path / "out").exists(), "nothing may be written for bad input"
    msg = str(err.value)
    assert path in msg
    return msg


def test_missing_column(tmp_path):
    msg = _bad(tmp_path, _records(8), label_column="gold")
    assert "'gold'" in msg and "label column" in msg and "['id', 'text', 'label']" in msg
    msg = _bad(tmp_path, [{k: v for k, v in r.items() if k != "id"} for r in _records(8)], suffix="parquet")
    assert "no column 'id'" in msg and "--id-column ''" in msg


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_empty_texts(tmp_path, suffix):
    records = _records(8)
    records[2]["text"] = "   \n\t"
    records[5]["text"] = None if suffix != "csv" else ""
    msg = _bad(tmp_path, records, suffix)
    assert "record 3 (id 'm002')" in msg and "column 'text'" in msg and "empty text" in msg
    assert "2 records have this problem" in msg


def test_duplicate_ids(tmp_path):
    records = _records(8)
    records[4]["id"] = "m001"
    records[6]["id"] = "m002"
    msg = _bad(tmp_path, records)
    assert "duplicate id 'm001'" in msg and "record 5 repeats record 2" in msg and "column 'id'" in msg
    assert "2 records have this problem" in msg
    records[6]["id"] = ""
    assert "record 7, column 'id': empty id" in _bad(tmp_path, records)


def test_labels_outside_the_task(tmp_path):
    records = _records(8)
    records[3]["label"] = "Spam"
    records[6]["label"] = "eggs"
    records[7]["label"] = "Spam"
    msg = _bad(tmp_path, records, "jsonl")
    assert "record 4 (id 'm003')" in msg and "column 'label'" in msg and "'Spam' is not a task label" in msg
    assert "['ham', 'spam']" in msg and "--label-map" in msg and "3 records" in msg
    assert "'Spam' x2" in msg and "'eggs' x1" in msg


def test_every_kind_of_problem_in_one_error(tmp_path):
    # a duplicate id, an empty text and a label outside the task: one run names all three, each with
    # its record and column, so the user fixes the file once rather than once per kind
    records = _records(8)
    records[4]["id"] = "m001"
    records[2]["text"] = ""
    records[6]["label"] = "eggs"
    msg = _bad(tmp_path, records)
    assert msg.count("\n  ") == 3 and "3 kinds of problem" in msg
    assert "record 5 (id 'm001'), column 'id': duplicate id 'm001'" in msg
    assert "record 3, column 'text': empty text" in msg  # ids are not unique: records are named by number
    assert "record 7, column 'label': label 'eggs' is not a task label" in msg


def test_one_class(tmp_path):
    records = [{"id": f"{i}", "text": "x", "label": "ham" if i % 2 else "h"} for i in range(6)]
    msg = _bad(tmp_path, records, label_map={"h": "ham"})
    assert "only one class" in msg and "'ham' (6 rows)" in msg and "column 'label'" in msg


def _votes(rows):
    return [{"id": f"v{i}", "text": f"t{i}", "votes_ham": h, "votes_spam": s, **extra}
            for i, (h, s, extra) in enumerate(rows)]


@pytest.mark.parametrize("rows,kwargs,fragments", [
    ([(2, 1, {}), (-1, 3, {}), (1, 2, {})], {}, ["record 2 (id 'v1')", "column 'votes_ham'", "must be >= 0"]),
    ([(2, 1, {}), (1, 2, {}), (1.5, 1.5, {})], {}, ["record 3", "column 'votes_ham'", "whole number, got 1.5"]),
    ([(2, 1, {}), (0, 0, {}), (0, 0, {}), (1, 2, {})], {},
     ["record 2 (id 'v1')", "column 'votes_ham, votes_spam'", "no votes", "2 records have this problem"]),
    ([(2, 1, {"n": 3}), (1, 1, {"n": 3}), (1, 2, {"n": 3})], {"annotators_column": "n"},
     ["record 2", "column 'n'", "add up to 2 but the annotator count is 3"]),
    ([(2, 1, {}), (1, 1, {}), (1, 2, {})], {"annotators": 3},
     ["record 2", "add up to 2 but the annotator count is 3"]),
    ([(2, 1, {}), (None, 1, {}), (1, 2, {})], {}, ["record 2", "column 'votes_ham'", "missing value"]),
])
def test_bad_votes(tmp_path, rows, kwargs, fragments):
    for suffix in ("csv", "parquet"):
        msg = _bad(tmp_path, _votes(rows), suffix, vote_columns={}, **kwargs)
        for fragment in fragments:
            assert fragment in msg, (suffix, msg)


def test_vote_not_a_number(tmp_path):
    msg = _bad(tmp_path, _votes([(2, 1, {}), ("two", 1, {}), (1, 2, {})]), "csv", vote_columns={})
    assert "record 2 (id 'v1'), column 'votes_ham': not a number: 'two'" in msg


def test_bad_share(tmp_path):
    records = [{"id": f"s{i}", "text": "x", "share": s} for i, s in enumerate([0.1, 1.2, 0.9, -0.1])]
    msg = _bad(tmp_path, records, "jsonl", share_column="share", annotators=3)
    assert "record 2 (id 's1'), column 'share': share 1.2 is outside [0, 1]" in msg
    assert "2 records have this problem" in msg
    records = [{"id": f"s{i}", "text": "x", "share": 0.5, "n": n} for i, n in enumerate([2, 0, 4])]
    msg = _bad(tmp_path, records, "jsonl", share_column="share", annotators_column="n")
    assert "record 2 (id 's1'), column 'n'" in msg and "annotator count must be >= 1" in msg


def test_csv_parse_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,text,label\na,hello,ham\nb,too,many,fields\n", encoding="utf-8")
    with pytest.raises(InputError, match="cannot parse as csv") as err:
        import_labelled(str(path), str(tmp_path / "c"), labels=LABELS, label_column="label")
    assert str(path) in str(err.value)
    with pytest.raises(InputError, match="file not found"):
        import_labelled(str(tmp_path / "nope.csv"), str(tmp_path / "c"), labels=LABELS, label_column="label")


def test_bad_arguments(tmp_path):
    path = _write(tmp_path / "in.csv", _records(8))
    out = str(tmp_path / "c")
    with pytest.raises(ConfigError, match="exactly one of"):
        import_labelled(path, out, labels=LABELS)
    with pytest.raises(ConfigError, match="exactly one of"):
        import_labelled(path, out, labels=LABELS, label_column="label", vote_columns={})
    with pytest.raises(ConfigError, match="binary"):
        import_labelled(path, out, labels=["a", "b", "c"], share_column="s", annotators=3)
    with pytest.raises(ConfigError, match="number of annotators"):
        import_labelled(path, out, labels=LABELS, share_column="s")
    with pytest.raises(ConfigError, match="not task labels"):
        import_labelled(path, out, labels=LABELS, label_column="label", label_map={"x": "eggs"})
    with pytest.raises(ConfigError, match="not task labels"):
        import_labelled(path, out, labels=LABELS, vote_columns={"eggs": "e"})
    with pytest.raises(ConfigError, match="positive_label"):
        import_labelled(path, out, labels=LABELS, label_column="label", positive_label="eggs")
    with pytest.raises(ConfigError, match="n_shards"):
        import_labelled(path, out, labels=LABELS, label_column="label", n_shards=9)
    with pytest.raises(ConfigError, match="more than one role"):
        import_labelled(path, out, labels=LABELS, label_column="text")
    assert not Path(out).exists()


def test_davidson_goes_through_the_shared_core(tmp_path):
    from al_ray.data.davidson import prepare_davidson
    from tests.data.test_davidson import _write_csv

    csv_path = _write_csv(tmp_path / "d.csv")
    full = prepare_davidson(csv_path, str(tmp_path / "a" / "corpus"), task="violating", n_shards=1)
    assert read_gold_info(full.gold_url)["preparer"] == "al_ray.data.davidson"
    sub = prepare_davidson(csv_path, str(tmp_path / "b" / "corpus"), task="violating", n_shards=1, max_rows=4)
    gold = read_gold(sub.gold_url)
    assert sub.n_rows == gold.num_rows == 4 and sub.extra["n_rows_source"] == 8
    assert gold.column_names[-4:] == ["raw_hate_speech", "raw_offensive_language", "raw_neither", "raw_class"]
    assert read_gold_info(sub.gold_url)["max_rows"] == 4
