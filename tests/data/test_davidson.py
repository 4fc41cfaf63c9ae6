"""Davidson preparation: careful CSV parsing, vote folding per task, ties, seeded test split."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from al_ray.data.davidson import count_csv_records, davidson_task, prepare_davidson, read_davidson_csv
from al_ray.data.layout import read_gold, read_gold_info, read_test_ids
from al_ray.errors import ConfigError, InputError

REAL_CSV = Path("/work/shared/datasets/davidson-hate-offensive/labeled_data.csv")

HEADER = ",count,hate_speech,offensive_language,neither,class,tweet\n"
ROWS = [
    # id, count, hate, off, nei, class, tweet (raw CSV field)
    '0,3,0,0,3,2,!!! RT @maya: As a woman &amp; a man you should take the trash out...',
    '1,3,0,3,0,1,"line one\nline two with ""quotes"" inside"',
    '5,3,2,1,0,0,"emoji &#128514;&#128514; and &lt;tag&gt;"',
    '7,4,1,1,2,2,"tie for violating: 2 vs 2"',
    '9,6,3,1,2,0,tie for hate: 3 vs 3',
    '12,3,0,1,2,2,"multi\n\nline, with, commas"',
    '13,9,0,9,0,1,plain offensive',
    '20,3,0,2,1,1,"“curly quotes” &quot;escaped&quot;"',
]


def _write_csv(path: Path, rows=ROWS, header=HEADER) -> str:
    path.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


def test_parse_small_csv(tmp_path):
    path = _write_csv(tmp_path / "d.csv")
    table = read_davidson_csv(path)
    assert table.num_rows == len(ROWS) == count_csv_records(Path(path).read_bytes())
    assert table.column("id").to_pylist() == ["0", "1", "5", "7", "9", "12", "13", "20"]
    texts = table.column("text").to_pylist()
    assert texts[0] == "!!! RT @maya: As a woman & a man you should take the trash out..."
    assert texts[1] == 'line one\nline two with "quotes" inside'
    assert texts[2] == "emoji 😂😂 and <tag>"
    assert texts[5] == "multi\n\nline, with, commas"
    assert texts[7] == '“curly quotes” "escaped"'


@pytest.mark.parametrize("task,pos,neg,pos_votes,neg_votes", [
    ("violating", "violating", "neither", [0, 3, 3, 2, 4, 1, 9, 2], [3, 0, 0, 2, 2, 2, 0, 1]),
    ("hate", "hate", "not_hate", [0, 0, 2, 1, 3, 0, 0, 0], [3, 3, 1, 3, 3, 3, 9, 3]),
])
def test_prepare_small(tmp_path, task, pos, neg, pos_votes, neg_votes):
    path = _write_csv(tmp_path / "d.csv")
    ds = prepare_davidson(path, str(tmp_path / "out" / "corpus"), task=task, n_shards=3, test_fraction=0.25)
    assert ds.labels == (neg, pos) and ds.n_shards == 3 and len(ds.shard_urls) == 3
    corpus = pa.concat_tables(pq.read_table(u) for u in ds.shard_urls)
    assert corpus.schema.names == ["id", "text"] and corpus.num_rows == 8
    gold = read_gold(ds.gold_url)
    assert gold.column(f"votes_{pos}").to_pylist() == pos_votes
    assert gold.column(f"votes_{neg}").to_pylist() == neg_votes
    tie = np.asarray(gold.column("tie"))
    assert ds.n_ties == int(tie.sum()) == 1
    labels = np.asarray(gold.column("label").to_pylist())
    pv, nv = np.asarray(pos_votes), np.asarray(neg_votes)
    assert np.all(labels[~tie] == np.where(pv > nv, pos, neg)[~tie])
    assert gold.column("raw_class").to_pylist() == [2, 1, 0, 2, 0, 2, 1, 1]
    test_ids = read_test_ids(ds.gold_url)
    assert len(test_ids) == ds.n_test >= 1
    info = read_gold_info(ds.gold_url)
    assert info["n_ties"] == 1 and "html.unescape" in info["text_cleaning"]


def test_deterministic(tmp_path):
    path = _write_csv(tmp_path / "d.csv")
    digests = []
    for run in ("a", "b"):
        ds = prepare_davidson(path, str(tmp_path / run / "corpus"), task="hate", n_shards=2)
        files = list(ds.shard_urls) + [ds.gold_file, ds.test_ids_file]
        digests.append([hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in files])
    assert digests[0] == digests[1]


@pytest.mark.parametrize("rows,header,fragment", [
    (ROWS[:1] + ['3,3,1,1,0,1,votes do not add up'], HEADER, "votes add up to 2 but count is 3"),
    (ROWS[:1] + ['0,3,0,0,3,2,duplicate id'], HEADER, "duplicate ids"),
    (ROWS[:1] + ['4,3,0,x,3,2,bad number'], HEADER, "cannot parse"),
    (ROWS[:1] + ['4,3,0,0,3,7,bad class'], HEADER, "'class' must be 0, 1 or 2"),
    (ROWS[:1], ",count,hate_speech,offensive,neither,class,tweet\n", "expected columns"),
])
def test_bad_csv(tmp_path, rows, header, fragment):
    path = _write_csv(tmp_path / "bad.csv", rows, header)
    with pytest.raises(InputError) as err:
        read_davidson_csv(path)
    assert fragment in str(err.value) and path in str(err.value)


def test_bad_arguments(tmp_path):
    path = _write_csv(tmp_path / "d.csv")
    with pytest.raises(ConfigError):
        prepare_davidson(path, str(tmp_path / "c"), task="spam")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        prepare_davidson(path, str(tmp_path / "c"), task="hate", n_shards=50)
    with pytest.raises(InputError):
        prepare_davidson(str(tmp_path / "missing.csv"), str(tmp_path / "c"), task="hate")
    assert davidson_task("hate").positive_label == "hate"


@pytest.mark.skipif(not REAL_CSV.exists(), reason="shared Davidson CSV not present")
def test_real_file(tmp_path):
    raw = REAL_CSV.read_bytes()
    assert count_csv_records(raw) == 17311  # 18,805 physical lines: tweets contain newlines
    hate = prepare_davidson(str(REAL_CSV), str(tmp_path / "hate" / "corpus"), task="hate")
    viol = prepare_davidson(str(REAL_CSV), str(tmp_path / "viol" / "corpus"), task="violating")
    assert hate.n_rows == viol.n_rows == 17311
    assert 0.05 < hate.positive_rate < 0.07
    assert 0.81 < viol.positive_rate < 0.85
    assert hate.n_ties == 7 and viol.n_ties == 11
    assert hate.n_shards == 8 and abs(hate.n_test - 0.2 * 17311) < 5
    gold = read_gold(hate.gold_url)
    is_test = np.asarray(gold.column("split").to_pylist()) == "test"
    is_pos = np.asarray(gold.column("label").to_pylist()) == "hate"
    assert abs(is_pos[is_test].mean() - is_pos.mean()) < 0.005  # stratified split
    corpus = pa.concat_tables(pq.read_table(u) for u in hate.shard_urls)
    texts = corpus.column("text").to_pylist()
    assert not any("&amp;" in t for t in texts)
    assert sum("\n" in t for t in texts) > 100
    assert corpus.column("id").to_pylist() == gold.column("id").to_pylist()
