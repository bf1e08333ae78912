import pytest

from core.config import load_config, parse_config
from core.errors import ConfigError
from tests.conftest import tiny_config


def test_defaults_fill_in_and_sizes_sort():
    config = parse_config(tiny_config(sizes=["all", 32, 8]))
    assert config.sizes == [8, 32, "all"]
    assert config.budget.max_epochs == 1
    assert config.lora.r == 8


@pytest.mark.parametrize("change, field", [
    ({"sizes": [0]}, "sizes"),
    ({"sizes": [-3]}, "sizes"),
    ({"sizes": [10**9]}, "sizes"),
    ({"sizes": ["lots"]}, "sizes"),
    ({"seeds": "zero"}, "seeds"),
    ({"methods": ["prompt", "magic"]}, "methods"),
    ({"methods": []}, "methods"),
    ({"budget": {"max_epochs": 0}}, "budget.max_epochs"),
    ({"training": {"batch_size": "big"}}, "training.batch_size"),
    ({"training": {"learning_rates": {"lora": 5}}}, "training.learning_rates"),
    ({"prompt": {"template": "no placeholder"}}, "prompt.template"),
    ({"prices": {"cpu": -1}}, "prices"),
    ({"name": "has spaces/and slashes"}, "name"),
    ({"sezes": [8]}, "sezes"),
    ({"task": {"builtin": "fortunes", "path": "x.csv"}}, "task"),
    ({"task": {"train": "x.csv"}}, "task"),
])
def test_bad_values_are_refused_with_the_field_named(change, field):
    with pytest.raises(ConfigError) as caught:
        parse_config(tiny_config(**change))
    assert field in str(caught.value)


def test_yaml_paths_resolve_next_to_the_config(tmp_path):
    (tmp_path / "cfg.yaml").write_text("name: mine\ntask:\n  path: data/train.csv\n")
    config = load_config(tmp_path / "cfg.yaml")
    assert config.task.path == (tmp_path / "data" / "train.csv").resolve()


def test_unreadable_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path / "list.yaml")


def test_shipped_example_configs_are_valid():
    from pathlib import Path

    examples = sorted(Path(__file__).parents[2].joinpath("examples").glob("*.yaml"))
    assert examples
    for path in examples:
        load_config(path)
