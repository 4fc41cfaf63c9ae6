"""The shared fixtures themselves work: S3 round trip through s3fs, a Ray task on the cluster."""

import pytest

from al_ray import storage


@pytest.mark.slow
def test_s3_roundtrip_through_storage(s3):
    bucket = s3.create_bucket("smoke")
    url = f"{bucket}/a/b.json"
    storage.write_json_atomic(url, {"x": 1}, s3.storage_options)
    assert storage.read_json(url, s3.storage_options) == {"x": 1}
    assert [fi.url for fi in storage.list_files(bucket, ".json", s3.storage_options)] == [url]


@pytest.mark.slow
def test_ray_cluster_runs_tasks(ray_cluster):
    import ray

    @ray.remote
    def f(x):
        return x * 2

    assert ray.get(f.remote(21)) == 42
