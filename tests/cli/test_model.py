"""``al-ray model init``: the round-0 model from a task file, then ``al-ray score`` with it.

Real checkpoints (MiniLM zero-shot classifier, a tiny random Llama), a real Parquet corpus with
the user's own column names (``doc_id``, ``body``), the real CLI in subprocesses.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from al_ray import schemas
from tests.cli.conftest import NO_RAY, run_cli

TASK = {
    "name": "toxicity",
    "labels": ["neither", "violating"],
    "label_descriptions": {"neither": "a friendly, harmless everyday message",
                           "violating": "an abusive, offensive or insulting message"},
    "text_column": "body",
    "id_column": "doc_id",
}
FRIENDLY = ["have a lovely day", "thanks for the help", "see you at lunch tomorrow"]
RUDE = ["you are a worthless idiot", "I hate you, moron", "shut up, you pathetic loser"]
NOISE = ("MISSING", "newly initialized", "LOAD REPORT", "Loading weights", "Writing model shards")


def _task_file(tmp_path, **changes) -> str:
    path = tmp_path / "task.yaml"
    path.write_text(yaml.safe_dump({**TASK, **changes}))
    return str(path)


def _own_corpus(root) -> str:
    root.mkdir(parents=True)
    for s in range(2):
        texts = (FRIENDLY + RUDE)[s::2] * 2
        pq.write_table(pa.table({"doc_id": [f"s{s}-{i}" for i in range(len(texts))], "body": texts,
                                 "lang": ["en"] * len(texts)}), root / f"part-{s}.parquet")
    return str(root)


@pytest.mark.slow
def test_model_init_then_score_select_and_export_with_one_task_file(tmp_path):
    """The task file is given once, to ``model init`` and ``score``: ``select`` and ``labels export``
    read it from the score files and the batch (labels, text column ``body``, id column ``doc_id``)."""
    out = tmp_path / "model"
    task_file = _task_file(tmp_path)
    init = run_cli("model", "init", "--task", task_file, "--out", str(out), timeout=300)
    assert init.code == 0, init.output
    for noise in NOISE:
        assert noise not in init.output, f"{noise!r} printed to the user:\n{init.output}"
    info = json.loads(init.stdout.strip().splitlines()[-1])
    assert info["mode"] == "classifier" and info["version"] == "r000-zero-shot"
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["id2label"] == {"0": "neither", "1": "violating"}
    scoring = yaml.safe_load((out / "al_ray_scoring.yaml").read_text())
    assert scoring["model"] == str(out) and scoring["mode"] == "classifier"
    assert scoring["task"]["text_column"] == "body" and scoring["task"]["id_column"] == "doc_id"

    corpus = _own_corpus(tmp_path / "corpus")
    scores = tmp_path / "scores"
    res = run_cli("score", "--model", str(out), "--task", task_file, "--corpus", corpus, "--out", str(scores),
                  "--backend", "transformers", "--no-progress", env={"RAY_ADDRESS": None}, timeout=400)
    assert res.code == 0, res.output
    assert "scored 12 rows in 2 shards" in res.stderr
    t = pa.concat_tables([pq.read_table(scores / f"part-{s}.parquet") for s in range(2)])
    assert sorted(t.column("id").to_pylist()) == sorted(f"s{s}-{i}" for s in range(2) for i in range(6))
    assert set(t.column("model_version").to_pylist()) == {"r000-zero-shot"}
    corpus_rows = pa.concat_tables([pq.read_table(f"{corpus}/part-{s}.parquet") for s in range(2)])
    text_of = dict(zip(corpus_rows.column("doc_id").to_pylist(), corpus_rows.column("body").to_pylist()))
    p_bad = {text_of[i]: p for i, p in zip(t.column("id").to_pylist(), t.column("p_violating").to_pylist())}
    # the zero-shot head follows the descriptions: every insult scores above every friendly message
    assert min(p_bad[x] for x in RUDE) > max(p_bad[x] for x in FRIENDLY), p_bad
    recorded = schemas.task_from_schema(pq.read_schema(scores / "part-0.parquet"))
    assert recorded["text_column"] == "body" and recorded["id_column"] == "doc_id"
    assert recorded["label_descriptions"] == TASK["label_descriptions"]

    # select: no --task, --labels, --text-column or --id-column; the texts are joined from `body` by `doc_id`
    batch = tmp_path / "batch"
    sel = run_cli("select", "--scores", str(scores), "--out", str(batch), "--n", "4", "--strategy", "margin",
                  "--embedding-source", "none", env={"RAY_ADDRESS": NO_RAY}, timeout=120)
    assert sel.code == 0, sel.output
    rows = pq.read_table(batch / "batch.parquet").to_pylist()
    assert len(rows) == 4 and all(r["text"] == text_of[r["id"]] for r in rows), rows

    # labels export: no --labels; the batch carries the task, and its descriptions reach the annotators
    exp = run_cli("labels", "export", str(batch), "--annotators", "ann1,ann2", "--formats", "jsonl,labelstudio",
                  env={"RAY_ADDRESS": NO_RAY}, timeout=120)
    assert exp.code == 0, exp.output
    config_xml = (batch / "labelstudio_config.xml").read_text()
    assert TASK["label_descriptions"]["violating"] in config_xml, config_xml


def test_model_init_generative_checks_the_verbalizers(tmp_path, tiny_llama_dir):
    out = tmp_path / "gen"
    res = run_cli("model", "init", "--task", _task_file(tmp_path), "--out", str(out), "--causal-lm",
                  str(tiny_llama_dir), timeout=300)
    assert res.code == 0, res.output
    info = json.loads(res.stdout.strip().splitlines()[-1])
    assert info["mode"] == "generative" and set(info["label_tokens"]) == {"neither", "violating"}
    assert all(info["label_tokens"].values())
    assert (out / "model.safetensors").is_file() and (out / "al_ray_version.txt").read_text().strip() == \
        f"r000-{tiny_llama_dir.name}"
    assert (tiny_llama_dir / "al_ray_version.txt").read_text().strip() == "tiny-llama-seed0", \
        "writing the new version must not write through a hard link into the source checkpoint"
    scoring = yaml.safe_load((out / "al_ray_scoring.yaml").read_text())
    assert scoring["mode"] == "generative" and "{text}" in scoring["task"]["prompt_template"]
    assert scoring["label_variants"] == "both" and scoring["max_input_tokens"] == 512
    from al_ray.scoring.config import ScoringConfig

    assert ScoringConfig.model_validate(scoring).model == str(out)  # a valid --config for `al-ray score`

    # verbalizers whose first tokens collide fail here, in seconds, naming both labels
    clash = run_cli("model", "init", "--task", _task_file(tmp_path, labels=["good_a", "good_b"],
                                                          label_descriptions={}),
                    "--out", str(tmp_path / "clash"), "--causal-lm", str(tiny_llama_dir), timeout=300)
    assert clash.code == 2, clash.output
    assert "'good_a'" in clash.stderr and "'good_b'" in clash.stderr and "Traceback" not in clash.output
    assert not (tmp_path / "clash").exists()


def test_model_init_input_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("label_descriptions: {a: x}\n")
    res = run_cli("model", "init", "--task", str(bad), "--out", str(tmp_path / "m"), env={"RAY_ADDRESS": NO_RAY})
    assert res.code == 2 and str(bad) in res.stderr and "labels: Field required" in res.stderr, res.output

    res = run_cli("model", "init", "--task", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "m"))
    assert res.code == 2 and str(tmp_path / "nope.yaml") in res.stderr, res.output

    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "config.json").write_text("{}")
    res = run_cli("model", "init", "--task", _task_file(tmp_path), "--out", str(existing))
    assert res.code == 2 and str(existing) in res.stderr and "--force" in res.stderr, res.output

    not_lm = tmp_path / "not-lm"
    not_lm.mkdir()
    (not_lm / "config.json").write_text(json.dumps({"architectures": ["BertForSequenceClassification"]}))
    res = run_cli("model", "init", "--task", _task_file(tmp_path), "--out", str(tmp_path / "g"),
                  "--causal-lm", str(not_lm))
    assert res.code == 2 and str(not_lm) in res.stderr and "ForCausalLM" in res.stderr, res.output
