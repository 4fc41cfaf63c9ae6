"""``al-ray select`` errors and advice, on real score files and corpus shards written to disk.

The shortfall tests run the command in a fresh interpreter and report whether torch/transformers
were imported: the embedding model is the slow part (~20 s on 2 cores), so a shortfall that is
known from the pool scan or the text dedup must be reported before it loads.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.cli.conftest import run_cli
from tests.selection.synth import write_corpus_and_scores

LABELS = ["neither", "violating"]
WORDS = ("apple river stone cloud piano tiger lemon candle forest bridge rocket velvet meadow harbor "
         "copper falcon glacier lantern marble orchid pepper quartz saddle tunnel walnut yacht zebra "
         "anchor basket cactus dragon ember fossil garnet hollow island jungle kettle lizard").split()


def _world(tmp_path, n: int = 200, duplicates: int = 0) -> tuple[str, str]:
    """n rows of distinct random texts; the last ``duplicates`` repeat earlier texts exactly."""
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, 9)) + f" {i}" for i in range(n)]
    for j in range(duplicates):
        texts[n - 1 - j] = texts[j]
    p = rng.uniform(0.05, 0.95, n)
    return write_corpus_and_scores(str(tmp_path / "w"), texts, np.column_stack([1 - p, p]), LABELS, n_shards=2)


def _select_in_fresh_interpreter(*args: str) -> tuple[int, str, dict]:
    """Run the CLI's main() in a new process; also report which heavy modules it imported."""
    code = ("import json, sys\nfrom al_ray.cli import main\nrc = main(sys.argv[1:])\n"
            "print(json.dumps({'rc': rc, 'torch': 'torch' in sys.modules, "
            "'transformers': 'transformers' in sys.modules}))")
    p = subprocess.run([sys.executable, "-c", code, "select", *args], capture_output=True, text=True, timeout=300)
    info = json.loads(p.stdout.strip().splitlines()[-1])
    return info.pop("rc"), p.stderr, info


@pytest.mark.parametrize("exists", [True, False])
def test_missing_or_empty_scores_folder_is_named(tmp_path, exists):
    scores = tmp_path / "scores"
    if exists:
        scores.mkdir()
        (scores / "_summary.json").write_text("{}")  # not a score file
    res = run_cli("select", "--scores", str(scores), "--out", str(tmp_path / "batch"))
    assert res.code == 2, res.output
    assert str(scores) in res.stderr
    assert "labels" not in res.stderr and "Field required" not in res.stderr, res.stderr
    assert ("no score files" if exists else "no such folder") in res.stderr
    assert "Traceback" not in res.output


def test_pool_is_the_whole_corpus_advice_names_flags_and_comes_before_embedding(tmp_path):
    scores_corpus = _world(tmp_path)
    corpus, scores = scores_corpus
    rc, err, imported = _select_in_fresh_interpreter("--scores", scores, "--corpus", corpus, "--out",
                                                     str(tmp_path / "b"), "--n", "500")
    assert rc == 2, err
    assert "asked for 500 items but only 200 candidates are in the pool" in err
    assert "already holds every eligible row" in err and "200 rows scanned" in err
    assert "raise pool_size" not in err and "raise --pool-size" not in err, "the pool is already everything"
    assert "--allow-partial" in err and "--n" in err
    assert "allow_partial" not in err, "from the CLI, name the flag, not the config key"
    assert imported == {"torch": False, "transformers": False}, "failed only after loading the embedder"
    assert not (tmp_path / "b").exists()


def test_shortfall_after_text_dedup_is_reported_before_embedding(tmp_path):
    corpus, scores = _world(tmp_path, duplicates=20)
    rc, err, imported = _select_in_fresh_interpreter("--scores", scores, "--corpus", corpus, "--out",
                                                     str(tmp_path / "b"), "--n", "190")
    assert rc == 2, err
    assert "unique candidates remain after exact and near dedup" in err and "duplicates dropped" in err
    assert imported == {"torch": False, "transformers": False}


def test_a_capped_pool_advises_raising_pool_size(tmp_path):
    corpus, scores = _world(tmp_path)
    res = run_cli("select", "--scores", scores, "--corpus", corpus, "--out", str(tmp_path / "b"), "--n", "150",
                  "--pool-size", "100")
    assert res.code == 2, res.output
    assert "capped at 100 of 200 eligible rows by --pool-size" in res.stderr
    assert "raise --pool-size" in res.stderr


def test_each_warning_is_printed_once_and_names_the_flag(tmp_path):
    corpus, scores = _world(tmp_path, duplicates=5)
    res = run_cli("select", "--scores", scores, "--corpus", corpus, "--out", str(tmp_path / "b"), "--n", "500",
                  "--allow-partial", "--strategy", "top_uncertainty", "--embedding-source", "none")
    assert res.code == 0, res.output
    shortfall = [ln for ln in res.stderr.splitlines() if "asked for 500 items" in ln]
    assert len(shortfall) == 1, res.stderr
    assert "writing a smaller batch (--allow-partial)" in shortfall[0]
    assert res.stderr.count("semantic dedup skipped") == 1, res.stderr
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert report["n_selected"] == 195 and len(report["warnings"]) == 2
