"""Session-wide heavy fixtures: each starts once per pytest session, never per test.

- ``s3``: moto's real S3 HTTP server on loopback (read through s3fs, as users read S3).
- ``ray_cluster``: a real Ray head node (``ray start --head``) on loopback; tests and the CLI
  connect with ``ray.init(address=...)`` / ``RAY_ADDRESS``, jobs are submitted to its dashboard.
- ``tiny_llama_dir`` / ``minilm_classifier_dir``: checkpoints built from configs (no model hub).
"""

from __future__ import annotations

import os

import pytest

from tests.servers import moto_server, ray_head

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# The test head runs without token auth (see tests/servers.py); drivers must not expect one either.
os.environ["RAY_AUTH_MODE"] = "disabled"


@pytest.fixture(scope="session")
def s3():
    with moto_server() as server:
        yield server


@pytest.fixture(scope="session")
def ray_cluster():
    """A running Ray cluster; the test process is connected to it as a driver."""
    import ray

    with ray_head() as cluster:
        os.environ["RAY_ADDRESS"] = cluster.address
        ray.init(address=cluster.address, logging_level="warning", log_to_driver=False)
        try:
            yield cluster
        finally:
            ray.shutdown()
            os.environ.pop("RAY_ADDRESS", None)


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory):
    from al_ray.models import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny_llama"), seed=0)


@pytest.fixture(scope="session")
def minilm_classifier_dir(tmp_path_factory):
    from al_ray.models import build_zero_shot_classifier

    return build_zero_shot_classifier(
        tmp_path_factory.mktemp("minilm_clf"),
        labels=["neither", "violating"],
        descriptions={"neither": "a friendly, harmless everyday message",
                      "violating": "an abusive, offensive or hateful insult"},
    )
