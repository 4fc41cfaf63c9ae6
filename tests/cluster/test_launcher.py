"""cluster/aws-gpu.yaml passes Ray's own cluster-config schema and describes what we promise."""

from __future__ import annotations

import copy

import yaml


def load(repo):
    return yaml.safe_load((repo / "cluster" / "aws-gpu.yaml").read_text())


def test_validates_with_rays_schema(repo):
    from ray.autoscaler._private.util import prepare_config, validate_config

    raw = load(repo)
    validate_config(copy.deepcopy(raw))          # as written (ray-schema.json); raises if invalid
    prepared = prepare_config(copy.deepcopy(raw))  # what `ray up` fills in with the aws defaults
    validate_config(prepared)
    assert prepared["provider"]["type"] == "aws"
    assert any(t.get("resources", {}).get("GPU") for t in prepared["available_node_types"].values())


def test_schema_validation_would_catch_a_typo(repo):
    import jsonschema
    import pytest
    from ray.autoscaler._private.util import validate_config

    bad = load(repo)
    bad["available_node_types"]["worker.gpu"]["min_worker"] = 0  # typo: not in the schema
    with pytest.raises(jsonschema.ValidationError):
        validate_config(bad)


def test_cpu_head_and_autoscaling_gpu_workers(repo, ray_version):
    cfg = load(repo)
    assert cfg["provider"]["type"] == "aws"
    types = cfg["available_node_types"]
    head = types[cfg["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0
    gpu_groups = {name: t for name, t in types.items() if t.get("resources", {}).get("GPU", 0) >= 1}
    assert gpu_groups, "no GPU worker node type"
    for t in gpu_groups.values():
        assert t.get("min_workers", 0) == 0 and t["max_workers"] >= 1  # scales to zero when idle
        assert t["node_config"]["InstanceType"].startswith(("g", "p"))  # an AWS GPU family
    assert cfg["max_workers"] >= max(t["max_workers"] for t in gpu_groups.values())
    assert cfg["docker"]["image"] == f"rayproject/ray:{ray_version}-py311-gpu"
    setup = " ".join(cfg["setup_commands"])
    assert "[gpu]" in setup and "pip install" in setup
    assert ray_version in setup


def test_no_credentials_in_cluster_files(repo):
    import re

    for path in (repo / "cluster").rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert not re.search(r"AKIA[0-9A-Z]{16}", text), path
            assert not re.search(r"(?i)(secret_access_key|password)\s*[:=]\s*\S+", text), path
