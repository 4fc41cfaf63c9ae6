"""Credentials never leak; user files are never unpickled or evaluated; label files and batches
cannot make anything write outside the run's own location."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from al_ray.testing.faults import proxied_options, write_corpus_s3
from tests.faults.conftest import new_bucket

ENV_SECRET = "EnvSecret-7f3a9c-never-print-me"
ENV_KEY_ID = "AKIAENVKEYID7F3A9C"
SO_SECRET = "ConfigSecret-51d0e2-never-print-me"
AL_RAY = [sys.executable, "-m", "al_ray.cli"]
PACKAGE = Path(__file__).resolve().parents[2] / "al_ray"


def _files_containing(root: Path, needles: list[str]) -> list[str]:
    hits = []
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            try:
                data = p.read_bytes()
            except OSError:
                continue
            hits += [f"{p}: {n}" for n in needles if n.encode() in data]
    return hits


@pytest.mark.slow
def test_secrets_absent_from_output_summary_and_ray_logs(ray_cluster, s3, proxy, minilm_classifier_dir, tmp_path):
    bucket = new_bucket(s3, "secrets")
    corpus, out = f"{bucket}/corpus", f"{bucket}/scores"
    write_corpus_s3(s3, corpus, n_shards=2, rows=30)
    s3.filesystem().pipe_file(f"{corpus[5:]}/zz-corrupt.parquet", b"PAR1 definitely not parquet")
    so = proxied_options(s3, proxy, max_attempts=2)
    so["secret"] = SO_SECRET  # moto does not check it
    proxy.add("status", key=rf"/{bucket[5:]}/corpus/part-1\.parquet$", method="GET", times=None, status=500,
              code="InternalError")
    cfg = tmp_path / "score.yaml"
    cfg.write_text(yaml.safe_dump({"storage_options": so, "backend": "transformers", "mode": "classifier"}))
    env = dict(os.environ, RAY_ADDRESS=ray_cluster.address, AWS_SECRET_ACCESS_KEY=ENV_SECRET,
               AWS_ACCESS_KEY_ID=ENV_KEY_ID)
    proc = subprocess.run(AL_RAY + ["score", "--model", str(minilm_classifier_dir), "--corpus", corpus, "--out", out,
                                    "--config", str(cfg), "--max-tokens", "32", "--no-progress"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-3000:]
    said = (proc.stdout + proc.stderr).replace("\n", "")  # rich wraps long lines: a secret could be split
    assert "zz-corrupt.parquet" in said and f"cannot read {corpus}/part-1.parquet" in said
    secrets = [ENV_SECRET, ENV_KEY_ID, SO_SECRET, s3.secret]
    for s in secrets:
        assert s not in said and s not in proc.stdout + proc.stderr
    summary = s3.filesystem().cat_file(f"{out[5:]}/_summary.json").decode()
    assert json.loads(summary)["failed_shards"] and not [s for s in secrets if s in summary]
    for f in s3.filesystem().find(out[5:]):
        if f.endswith(".done"):
            assert not [s for s in secrets if s in s3.filesystem().cat_file(f).decode()]
    # Ray's own logs of this session (driver, GCS, raylet, workers)
    logs = [p for p in Path(ray_cluster.temp_dir).glob("session_*/logs")]
    assert logs
    for d in logs:
        assert not _files_containing(d, [ENV_SECRET, SO_SECRET])


@pytest.mark.slow
def test_run_manifest_report_and_errors_redact_config_secrets(ray_cluster, tmp_path):
    """A run that fails early (a missing Davidson csv) still writes a manifest: its config is redacted."""
    cfg = {
        "task": {"name": "t", "labels": ["neither", "violating"], "positive_label": "violating"},
        "corpus": {"source": "davidson", "csv": str(tmp_path / "missing.csv"), "n_shards": 1},
        "scoring": {"mode": "classifier", "backend": "transformers"},
        "storage_options": {"secret": SO_SECRET, "token": SO_SECRET + "-tok", "client_kwargs": {"password": SO_SECRET}},
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    env = dict(os.environ, AWS_SECRET_ACCESS_KEY=ENV_SECRET, RAY_ADDRESS=ray_cluster.address)
    proc = subprocess.run(AL_RAY + ["run", str(path), "--run", str(run), "--no-report"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    said = (proc.stdout + proc.stderr).replace("\n", "")
    assert "missing.csv" in said  # says what is wrong
    for s in (ENV_SECRET, SO_SECRET):
        assert s not in said and s not in proc.stdout + proc.stderr
    manifest = (run / "manifest.json").read_text()
    assert SO_SECRET not in manifest and "***" in manifest
    rep = subprocess.run(AL_RAY + ["report", str(run)], env=env, capture_output=True, text=True, timeout=300)
    leaked = _files_containing(run, [SO_SECRET, ENV_SECRET])
    assert not leaked and SO_SECRET not in rep.stdout + rep.stderr


def test_scrub_and_redact_cover_env_and_config_secrets(monkeypatch):
    from al_ray.errors import StorageError
    from al_ray.security import redact, register_storage_options, scrub

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", ENV_SECRET)
    register_storage_options({"key": "AKIA-CFG-KEY-1234", "secret": SO_SECRET, "client_kwargs": {"token": "tok-98765"}})
    msg = scrub(f"cannot read s3://u:{SO_SECRET}@b/k: signature {ENV_SECRET} tok-98765 AKIA-CFG-KEY-1234")
    for s in (SO_SECRET, ENV_SECRET, "tok-98765", "AKIA-CFG-KEY-1234"):
        assert s not in msg
    assert "s3://***@b/k" in msg
    red = redact({"storage_options": {"secret": SO_SECRET, "endpoint_url": "http://x"}, "id_column": "id"})
    assert red == {"storage_options": {"secret": "***", "endpoint_url": "http://x"}, "id_column": "id"}
    assert SO_SECRET not in str(StorageError(scrub(f"x {SO_SECRET}")))


def test_redact_keeps_settings_that_merely_mention_tokens_or_keys():
    """A dumped config must stay readable: only keys whose *words* are secret-like are hidden."""
    from al_ray.security import redact

    cfg = {"scoring": {"max_input_tokens": 64, "max_tokens": 1}, "task": {"key_column": "id"},
           "storage_options": {"aws_session_token": "t0k3n-value", "secretAccessKey": "abcd-1234",
                               "api_key": "k-1234", "endpoint_url": "http://x"}}
    red = redact(cfg)
    assert red["scoring"] == {"max_input_tokens": 64, "max_tokens": 1}
    assert red["task"] == {"key_column": "id"}
    assert red["storage_options"] == {"aws_session_token": "***", "secretAccessKey": "***",
                                      "api_key": "***", "endpoint_url": "http://x"}


# Calls that would run or unpickle user-supplied content. `model.eval()` is a method; `def eval` a name.
_FORBIDDEN = [
    (r"\bpickle\.loads?\(", "pickle.load"), (r"\bcloudpickle\.loads?\(", "cloudpickle.load"),
    (r"\bdill\.loads?\(", "dill.load"), (r"\bmarshal\.loads?\(", "marshal.load"),
    (r"(?<![.\w])eval\(", "eval("), (r"(?<![.\w])exec\(", "exec("),
    (r"\byaml\.load\((?![^)]*SafeLoader)", "yaml.load without SafeLoader"), (r"\byaml\.unsafe_load\(", "yaml.unsafe_load"),
    (r"\bjoblib\.load\(", "joblib.load"), (r"\bnp\.load\([^)]*allow_pickle\s*=\s*True", "np.load(allow_pickle=True)"),
    (r"\btorch\.load\((?![^)]*weights_only\s*=\s*True)", "torch.load without weights_only=True"),
    (r"\bpd\.read_pickle\(", "pandas.read_pickle"), (r"__import__\(", "__import__"),
]
ALLOWED: set[tuple[str, str]] = set()  # (relative path, what): none needed today


def test_no_pickle_or_eval_of_user_files():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(PACKAGE.parent))
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.match(r"\s*def \w+\(", code):
                continue
            for pattern, what in _FORBIDDEN:
                if re.search(pattern, code) and (rel, what) not in ALLOWED:
                    found.append(f"{rel}:{lineno}: {what}: {line.strip()}")
    assert not found, "\n".join(found)


def test_label_files_and_batches_cannot_write_outside_the_run(tmp_path):
    """Path-like ids and annotator names travel through export, import and resolve as opaque strings."""
    import numpy as np

    from al_ray.labeling import export_batch, import_annotations, resolve_labels
    from al_ray.labeling.config import LabelingConfig
    from al_ray.task import TaskConfig
    from tests.labeling.conftest import LABELS, batch_rows, write_batch

    run = tmp_path / "deep" / "run"
    evil = ["../../../escape", "/tmp/abs-escape", "..\\..\\win", "a/../../b", "%2e%2e/x", "~/home", "\x00nul"]
    rows = batch_rows(len(evil) + 2)
    for r, i in zip(rows, evil):
        r["id"] = i
    batch_dir = write_batch(str(run / "batch"), rows)
    before = {p for p in tmp_path.rglob("*")}
    annotators = ["../../ann", "/tmp/ann-abs"]
    task = TaskConfig(name="t", labels=LABELS)
    cfg = LabelingConfig(annotators=annotators, overlap_fraction=1.0, min_overlap_items=1,
                         formats=["jsonl", "labelstudio", "argilla"])
    exp = export_batch(batch_dir, cfg, task, rng=np.random.default_rng(0), out_dir=str(run / "export"))
    lines = [json.dumps({"id": r["id"], "annotator_id": a, "label": LABELS[k % 2], "round": 2})
             for k, r in enumerate(rows) for a in annotators]
    ann = run / "incoming" / "ann.jsonl"
    ann.parent.mkdir(parents=True)
    ann.write_text("\n".join(lines) + "\n")
    res = import_annotations([str(ann)], batch_dir, str(run / "labels"), task, round=2)
    assert res.n_new == len(lines)
    resolve_labels(batch_dir, str(run / "labels"), task, cfg)
    new = {p for p in tmp_path.rglob("*")} - before
    outside = [p for p in new if run not in p.parents and p != run]
    assert not outside, outside
    assert not Path("/tmp/abs-escape").exists() and not Path("/tmp/ann-abs").exists()
    assert exp.n_items == len(rows)
