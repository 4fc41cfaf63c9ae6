"""``al-ray data import`` writes the documented layout and exits 2 on bad input."""

from __future__ import annotations

from al_ray.cli import main
from al_ray.data.layout import read_gold, read_gold_info, read_test_ids
from tests.data.test_importer import _records, _votes, _write


def test_import_label_column(tmp_path, capsys):
    path = tmp_path / "sms.tsv"
    path.write_text("Label\tSMS\n" + "".join(f"{'spam' if i % 4 == 0 else 'ham'}\tmsg \"{i}\n" for i in range(40)),
                    encoding="utf-8")
    out = tmp_path / "data"
    assert main(["data", "import", str(path), "--out", str(out), "--labels", "not_spam,spam", "--text-column",
                 "SMS", "--label-column", "Label", "--id-column", "", "--label-map", "ham=not_spam",
                 "--shards", "2", "--seed", "1"]) == 0
    assert len(list((out / "corpus").glob("part-*.parquet"))) == 2
    gold = read_gold(str(out / "gold"))
    assert gold.num_rows == 40 and gold.column("id")[0].as_py() == "row-0"
    assert len(read_test_ids(str(out / "gold"))) == 8
    info = read_gold_info(str(out / "gold"))
    assert info["label_map"] == {"ham": "not_spam"} and info["seed"] == 1 and info["format"] == "tsv"
    printed = capsys.readouterr().out
    assert "imported 40 rows" in printed and "25.00%" in printed and "test split: 8 ids" in printed
    assert str(out / "corpus") in printed and "al-ray run" in printed
    # the task file every stage takes (--task): the written corpus's columns, not the source file's
    import yaml

    from al_ray.task import TaskConfig

    task = TaskConfig(**yaml.safe_load((out / "task.yaml").read_text()))
    assert task.labels == ["not_spam", "spam"] and task.positive_label == "spam"
    assert (task.text_column, task.id_column) == ("text", "id") and "al-ray model init --task" in printed
    (out / "task.yaml").write_text((out / "task.yaml").read_text() + "label_descriptions: {spam: an ad}\n")
    assert main(["data", "import", str(path), "--out", str(out), "--labels", "not_spam,spam", "--text-column",
                 "SMS", "--label-column", "Label", "--id-column", "", "--label-map", "ham=not_spam"]) == 0
    assert "an ad" in (out / "task.yaml").read_text(), "a re-import keeps the user's edits to the task file"


def test_import_votes_share_and_max_rows(tmp_path):
    votes = _write(tmp_path / "v.parquet", _votes([(2, 1, {}), (1, 2, {}), (0, 3, {}), (3, 0, {})]))
    assert main(["data", "import", votes, "--out", str(tmp_path / "v"), "--labels", "ham,spam",
                 "--votes", "auto", "--annotators", "3", "--test-fraction", "0"]) == 0
    assert read_gold(str(tmp_path / "v" / "gold")).column("votes_spam").to_pylist() == [1, 2, 3, 0]
    renamed = _write(tmp_path / "r.csv", [{"id": f"{i}", "text": "x", "h": h, "s": s}
                                          for i, (h, s) in enumerate([(2, 1), (1, 2)])])
    assert main(["data", "import", renamed, "--out", str(tmp_path / "r"), "--labels", "ham,spam",
                 "--votes", "ham=h,spam=s", "--test-fraction", "0"]) == 0
    share = _write(tmp_path / "s.data", [{"id": f"{i}", "text": "x", "p": p} for i, p in enumerate([0.0, 1.0])],
                   fmt="jsonl")
    assert main(["data", "import", share, "--format", "jsonl", "--out", str(tmp_path / "s"), "--labels",
                 "ham,spam", "--share-column", "p", "--annotators", "2", "--test-fraction", "0"]) == 0
    big = _write(tmp_path / "b.csv", _records(100))
    assert main(["data", "import", big, "--out", str(tmp_path / "b"), "--labels", "ham,spam",
                 "--label-column", "label", "--max-rows", "20"]) == 0
    assert read_gold(str(tmp_path / "b" / "gold")).num_rows == 20


def test_import_bad_input_exits_2(tmp_path, capsys):
    records = _records(8)
    records[3]["label"] = "eggs"
    path = _write(tmp_path / "bad.csv", records)
    out = tmp_path / "out"
    assert main(["data", "import", path, "--out", str(out), "--labels", "ham,spam", "--label-column", "label"]) == 2
    err = capsys.readouterr().err
    assert path in err and "record 4 (id 'm003')" in err and "column 'label'" in err and "--label-map" in err
    assert not out.exists()
    assert main(["data", "import", path, "--out", str(out), "--labels", "ham,spam"]) == 2  # no label source
    assert main(["data", "import", path, "--out", str(out), "--labels", "ham,spam", "--label-column", "label",
                 "--label-map", "oops"]) == 2
    assert main(["data", "import", path, "--out", str(out), "--labels", "ham,spam", "--label-column", "nope"]) == 2
    assert "columns present: ['id', 'text', 'label']" in capsys.readouterr().err


def test_import_says_a_missing_file_first_then_names_the_flags(tmp_path, capsys):
    """A typo in the path is the first thing said, even with the label flag also missing; the flag
    error names the flags a user types, not the function's parameters."""
    missing = str(tmp_path / "nope.csv")
    assert main(["data", "import", missing, "--out", str(tmp_path / "o"), "--labels", "ham,spam"]) == 2
    err = capsys.readouterr().err
    assert missing in err and "file not found" in err and "--label-column" not in err
    path = _write(tmp_path / "ok.csv", _records(8))
    assert main(["data", "import", path, "--out", str(tmp_path / "o"), "--labels", "ham,spam"]) == 2
    err = capsys.readouterr().err
    assert "--label-column" in err and "--votes" in err and "--share-column" in err and "label_column" not in err
    assert not (tmp_path / "o").exists()
