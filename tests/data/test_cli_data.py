"""``al-ray data ...`` commands write the documented layout."""

from __future__ import annotations

from al_ray.cli import main
from al_ray.data.layout import read_gold
from tests.data.test_davidson import _write_csv


def test_demo_corpus_cmd(tmp_path):
    assert main(["data", "demo-corpus", str(tmp_path / "corpus"), "--rows", "500", "--shards", "8"]) == 0
    assert len(list((tmp_path / "corpus").glob("part-*.parquet"))) == 8
    assert read_gold(str(tmp_path / "gold")).num_rows == 500


def test_davidson_cmd(tmp_path):
    csv = _write_csv(tmp_path / "d.csv")
    assert main(["data", "davidson", csv, str(tmp_path / "c"), "--task", "hate", "--shards", "2",
                 "--gold", str(tmp_path / "g")]) == 0
    assert read_gold(str(tmp_path / "g")).column_names[:5] == ["id", "label", "n_annotators", "votes_not_hate", "votes_hate"]
    assert main(["data", "davidson", csv, str(tmp_path / "c"), "--task", "spam"]) == 2


def test_synthetic_cmd(tmp_path, capsys):
    assert main(["data", "synthetic", str(tmp_path / "s"), "--rows", "5000", "--rows-per-shard", "1000",
                 "--only", "0-1,4"]) == 0
    assert sorted(p.name for p in (tmp_path / "s").glob("*.parquet")) == [
        "part-00000.parquet", "part-00001.parquet", "part-00004.parquet"]
    assert "wrote 3 of 5 shards" in capsys.readouterr().out
    assert main(["data", "synthetic", str(tmp_path / "sc"), "--rows", "2000", "--shards", "2", "--scores"]) == 0
    assert len(list((tmp_path / "sc").glob("*.parquet"))) == 2
    assert main(["data", "synthetic", str(tmp_path / "x"), "--rows", "1.5"]) == 2
    assert main(["data", "synthetic", str(tmp_path / "x"), "--only", "a-b"]) == 2
