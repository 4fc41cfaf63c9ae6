"""The ready configs in configs/ load, validate every stage section, and the demo config matches `make demo`."""

from pathlib import Path

import pytest

from al_ray import config_io
from al_ray.driver.config import RunConfig, validate_stages
from al_ray.driver.demo import demo_config
from al_ray.errors import ConfigError

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_ready_config_validates(path):
    cfg = config_io.load(RunConfig, str(path))
    validate_stages(cfg)
    assert cfg.simulation is not None and cfg.corpus.source


def test_demo_yaml_is_the_demo_command():
    from_yaml = config_io.load(RunConfig, str(Path(CONFIGS[0]).parent / "demo.yaml"))
    assert from_yaml.model_dump() == demo_config().model_dump()


def test_bad_stage_field_is_named():
    cfg = config_io.load(RunConfig, str(Path(CONFIGS[0]).parent / "demo.yaml"))
    cfg.selection["strategy_typo"] = 1
    cfg.finetune["epochs"] = 0
    with pytest.raises(ConfigError) as err:
        validate_stages(cfg)
    assert "selection.strategy_typo" in str(err.value) and "finetune.epochs" in str(err.value)


def test_corpus_needs_url_or_source():
    with pytest.raises(ConfigError, match="corpus needs a url"):
        config_io.build(RunConfig, {"task": {"labels": ["a", "b"]}, "corpus": {}})
