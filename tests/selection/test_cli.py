"""`al-ray select` end to end against the moto S3 server, with real MiniLM embeddings."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from al_ray import schemas, storage
from al_ray.cli import app, main
from tests.selection.synth import write_corpus_and_scores

LABELS = ["neither", "violating"]


def _texts(n: int) -> list[str]:
    rng = np.random.default_rng(0)
    friendly = ["have a lovely day", "thanks for the help", "see you at lunch", "great game last night"]
    rude = ["you are an idiot", "shut up loser", "nobody likes you", "get lost you fool"]
    out = []
    for i in range(n):
        src = friendly if i % 2 else rude
        out.append(f"{src[i % 4]} {' '.join(rng.choice(['today', 'again', 'friend', 'mate', 'really'], 3))} #{i}")
    out[n - 1] = out[1].upper()  # an exact duplicate (normalised)
    return out


@pytest.mark.slow
def test_select_cli_on_s3(s3, tmp_path):
    so = s3.storage_options
    bucket = s3.create_bucket("selection-e2e")
    n = 120
    texts = _texts(n)
    rng = np.random.default_rng(1)
    p = np.where(np.arange(n) % 2 == 0, rng.uniform(0.35, 0.9, n), rng.uniform(0.1, 0.65, n))
    p[n - 1] = p[1]
    corpus, scores = write_corpus_and_scores(f"{bucket}/run", texts, np.column_stack([1 - p, p]), LABELS,
                                             n_shards=3, storage_options=so)
    opts = [arg for k, v in so.items() for arg in ("--storage-option", f"{k}={v}")]
    cfg = tmp_path / "sel.yaml"
    cfg.write_text("task:\n  labels: [neither, violating]\n  positive_label: violating\n"
                   "selection:\n  pool_size: 100\n  dedup:\n    semantic_threshold: 0.97\n")
    out0 = f"{bucket}/run/rounds/r000/batch"
    result = CliRunner().invoke(app, ["select", "--scores", scores, "--corpus", corpus, "--out", out0, "--n", "16",
                                      "--strategy", "boundary_pairs", "--config", str(cfg), "--seed", "3", *opts])
    assert result.exit_code == 0, result.output + repr(result.exception)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["n_selected"] == 16

    fs, path = storage.resolve(f"{out0}/batch.parquet", so)
    with fs.open(path, "rb") as f:
        batch = pq.read_table(f)
    assert batch.schema.equals(schemas.batch_schema(LABELS))
    assert len(set(batch.column("id").to_pylist())) == 16
    assert batch.column("pair_id").null_count < 16, "boundary pairs were found"
    assert all(t for t in batch.column("text").to_pylist())
    summary = storage.read_json(f"{out0}/selection_summary.json", so)
    assert summary["embedding_source"].startswith("minilm") and summary["embedding_dim"] == 384
    assert summary["dropped_by_kind"]["exact"] >= 1
    assert so["secret"] not in json.dumps(summary)
    assert storage.is_done(f"{out0}/batch.parquet", so)

    # next round: exclude the first batch; a cluster-margin batch of fresh ids
    out1 = f"{bucket}/run/rounds/r001/batch"
    result = CliRunner().invoke(app, ["select", "--scores", scores, "--corpus", corpus, "--out", out1, "--n", "10",
                                      "--strategy", "cluster_margin", "--round", "1", "--exclude",
                                      f"{out0}/batch.parquet", "--config", str(cfg), *opts])
    assert result.exit_code == 0, result.output + repr(result.exception)
    fs, path = storage.resolve(f"{out1}/batch.jsonl", so)
    rows = [json.loads(line) for line in fs.cat_file(path).decode().splitlines()]
    assert len(rows) == 10 and {r["round"] for r in rows} == {1}
    assert not {r["id"] for r in rows} & set(batch.column("id").to_pylist())

    # bad input: a clean error and exit code 2, no traceback
    code = main(["select", "--scores", scores, "--corpus", corpus, "--out", f"{bucket}/x", "--n", "5000",
                 "--strategy", "random", *opts])
    assert code == 2
