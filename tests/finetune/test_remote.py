"""The fine-tune as a Ray task on a real Ray head, reading and writing a real S3 endpoint (moto)."""

import uuid
from pathlib import Path

import pytest

from al_ray import storage
from al_ray.errors import ConfigError
from al_ray.finetune import FinetuneConfig, remote, submit_train_round, train_round_remote
from tests.finetune.conftest import synthetic_rows, write_labels


def test_gpu_request_follows_the_cluster(monkeypatch):
    monkeypatch.setattr(remote, "cluster_gpus", lambda: 0.0)
    assert remote.resolve_num_gpus(FinetuneConfig()) == 0
    monkeypatch.setattr(remote, "cluster_gpus", lambda: 8.0)
    assert remote.resolve_num_gpus(FinetuneConfig()) == 1
    assert remote.resolve_num_gpus(FinetuneConfig(num_gpus=0)) == 0
    assert remote.resolve_num_gpus(FinetuneConfig(num_gpus=2)) == 2


def test_submit_without_a_cluster_connection_is_refused(monkeypatch, task):
    import ray

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    with pytest.raises(ConfigError):
        submit_train_round(FinetuneConfig(), task, mode="classifier", base_model="/x", labels=["/x"],
                           out_url="/y", version="v")


def _upload_dir(fs, local: Path, remote_path: str) -> None:
    for f in local.rglob("*"):
        if f.is_file():
            fs.put_file(str(f), f"{remote_path}/{f.relative_to(local).as_posix()}")


@pytest.mark.slow
def test_train_round_remote_on_ray_writes_to_s3(ray_cluster, s3, minilm_classifier_dir, task):
    opts = s3.storage_options
    bucket = s3.create_bucket(f"ft-{uuid.uuid4().hex[:8]}")
    run = f"{bucket}/run"
    # two rounds of labels (cumulative retraining) and the round-0 base, all on S3
    l1 = write_labels(f"{run}/rounds/r000/labels/labels.parquet", synthetic_rows(24, round_=0), opts)
    l2 = write_labels(f"{run}/rounds/r001/labels/labels.parquet",
                      synthetic_rows(16, round_=1, seed=1, id_prefix="y"), opts)
    fs = s3.filesystem()
    _upload_dir(fs, Path(minilm_classifier_dir), f"{run.removeprefix('s3://')}/base")
    out = f"{run}/rounds/r001/model"
    cfg = FinetuneConfig(torch_threads=1, epochs=1, min_steps=0, batch_size=8, max_length=24, learning_rate=1e-3)
    result = train_round_remote(cfg, task, mode="classifier", base_model=f"{run}/base", labels=[l1, l2],
                                out_url=out, version="r001-test", storage_options=opts, timeout_s=300)
    assert result.metrics["n_train"] == 40 and result.merged_url == f"{out}/merged"
    fs.invalidate_cache()
    for url in (result.adapter_url, result.merged_url, result.metrics_url):
        assert storage.exists(url, opts) and storage.is_done(url, opts)
    for name in ("adapter/adapter_config.json", "adapter/adapter_model.safetensors", "adapter/al_ray_version.txt",
                 "merged/config.json", "merged/model.safetensors", "merged/al_ray_version.txt",
                 "merged/tokenizer.json"):
        assert storage.exists(f"{out}/{name}", opts), name
    assert storage.read_bytes(f"{out}/merged/al_ray_version.txt", opts).decode().strip() == "r001-test"
    metrics = storage.read_json(result.metrics_url, opts)
    assert metrics["version"] == "r001-test" and metrics["device"] == "cpu"
    assert s3.secret not in str(metrics)  # credentials never land in the outputs
