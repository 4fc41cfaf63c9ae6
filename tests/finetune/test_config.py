import pytest

from al_ray.config_io import build
from al_ray.errors import ConfigError
from al_ray.finetune import FinetuneConfig, vllm_max_lora_rank


def test_defaults_are_the_measured_recipe():
    c = FinetuneConfig()
    assert (c.lora_r, c.lora_alpha, c.lora_dropout, c.epochs, c.batch_size, c.max_length) == (8, 16, 0.1, 12, 16, 128)
    assert c.class_weighting == "balanced"
    assert c.target_modules_for("bert") == ["query", "value"]
    assert c.target_modules_for("llama") == ["q_proj", "v_proj", "o_proj", "gate_proj"]
    assert c.modules_to_save_for("classifier") == ["classifier"]
    assert c.modules_to_save_for("generative") == []
    assert c.save_merged_for("classifier") is True and c.save_merged_for("generative") is False
    assert c.learning_rate_for("classifier") > 0 and c.learning_rate_for("generative") > 0


def test_explicit_values_override_per_mode_defaults():
    c = FinetuneConfig(target_modules=["query"], learning_rate=1e-3, save_merged=True, modules_to_save=[])
    assert c.target_modules_for("llama") == ["query"]
    assert c.learning_rate_for("generative") == 1e-3
    assert c.save_merged_for("generative") is True
    assert c.modules_to_save_for("classifier") == []


def test_unknown_architecture_needs_explicit_targets():
    with pytest.raises(ConfigError):
        FinetuneConfig().target_modules_for("some-new-arch")


def test_bad_mode():
    with pytest.raises(ConfigError):
        FinetuneConfig().learning_rate_for("regression")


@pytest.mark.parametrize("bad", [
    {"lora_r": 0}, {"epochs": 0}, {"class_weighting": "inverse"}, {"lora_dropout": 1.0},
    {"target_modules": []}, {"unknown_field": 1}, {"learning_rate": -1.0}, {"num_gpus": -1},
])
def test_invalid_values_are_config_errors_naming_the_field(bad):
    with pytest.raises(ConfigError) as info:
        build(FinetuneConfig, bad, source="finetune.yaml")
    assert next(iter(bad)) in str(info.value)


def test_vllm_max_lora_rank():
    assert vllm_max_lora_rank(8) == 8
    assert vllm_max_lora_rank(4) == 8
    assert vllm_max_lora_rank(9) == 16
    assert vllm_max_lora_rank(1) == 1


def test_the_step_budget_has_a_floor_and_grows_with_the_labels():
    c = FinetuneConfig()  # batch 16, 12 epochs, at least 150 steps
    assert [c.optimizer_steps(n) for n in (30, 150, 200, 300, 500)] == [150, 150, 156, 228, 384]
    assert FinetuneConfig(epochs=5, min_steps=0).optimizer_steps(30) == 10  # the recipe before issue 13
