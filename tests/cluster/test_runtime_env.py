"""cluster/runtime_env.yaml is a valid Ray runtime_env that ships code, not packages."""

from __future__ import annotations

import yaml


def test_runtime_env_is_valid_and_has_no_pip(repo):
    from ray.runtime_env import RuntimeEnv

    env = yaml.safe_load((repo / "cluster" / "runtime_env.yaml").read_text())
    RuntimeEnv(working_dir=str(repo), **env)  # raises on unknown/ill-typed fields
    assert not {"pip", "conda", "uv"} & set(env), "the image installs packages, not the job"
    assert env["env_vars"]["HF_HUB_OFFLINE"] == "1"
    assert all(isinstance(v, str) for v in env["env_vars"].values())
    for path in (".venv", "runs", "demo_run", "benchmarks/_work"):
        assert path in env["excludes"]
