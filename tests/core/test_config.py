import time

import pytest

from core.config import MAX_CONFIG_BYTES, MAX_SEED, load_config, parse_config
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
    ({"seeds": [-1]}, "seeds"),
    ({"seeds": [2**64 + 1]}, "seeds"),
    ({"seeds": [MAX_SEED + 1]}, "seeds"),
    ({"seeds": [True]}, "seeds"),
    ({"sizes": [True]}, "sizes"),
    ({"task": {"builtin": "fortunes", "split_seed": -1}}, "task.split_seed"),
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


def test_the_largest_seed_allowed_is_one_every_random_generator_takes(tmp_path):
    from core.results.store import SqlStore
    from core.running.runner import run_experiment

    config = parse_config(tiny_config(methods=["tfidf", "lora"], sizes=[4], seeds=[MAX_SEED]))
    assert run_experiment(config, SqlStore(tmp_path / "r.db")).failed == 0


def _alias_bomb(levels: int) -> str:
    """Each level a list of nine references to the level below: 9**levels strings once expanded."""
    lines = ["name: bomb", "task:", "  builtin: fortunes", "  builtin_options:",
             '    l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"    l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [7, 9])
def test_a_yaml_alias_bomb_is_refused_at_once_in_one_sentence(tmp_path, levels):
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb(levels))
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="expands to more than") as caught:
        load_config(path)
    assert time.perf_counter() - started < 0.5
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_a_yaml_that_refers_to_itself_is_refused(tmp_path):
    path = tmp_path / "loop.yaml"
    path.write_text("name: loop\ntask:\n  builtin: fortunes\n  builtin_options:\n    a: &a [1, *a]\n")
    with pytest.raises(ConfigError, match="refers to itself"):
        load_config(path)


def test_an_oversized_config_is_refused_before_it_is_parsed(tmp_path):
    path = tmp_path / "huge.yaml"
    descriptions = "".join(f"    label{i}: a description of label number {i}\n" for i in range(300_000))
    path.write_text("name: huge\ntask: {builtin: fortunes}\nprompt:\n  descriptions:\n" + descriptions)
    assert path.stat().st_size > MAX_CONFIG_BYTES
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="larger than"):
        load_config(path)
    assert time.perf_counter() - started < 0.5


def test_anchors_and_aliases_of_normal_size_still_work(tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text("name: anchors\ntask: {builtin: fortunes}\nbudget: &b {max_epochs: 2}\n"
                    "prompt: {descriptions: {a: &same A text about one thing, b: *same}}\n")
    config = load_config(path)
    assert config.budget.max_epochs == 2 and config.prompt.descriptions["b"] == "A text about one thing"


def test_a_qa_task_counts_questions_in_total():
    qa_task = {"path": "qa.jsonl", "kind": "qa"}
    config = parse_config(tiny_config(task=qa_task))
    assert config.size_unit == "total"
    assert parse_config(tiny_config(task=qa_task, size_unit="total")).size_unit == "total"
    assert parse_config(tiny_config()).size_unit == "per_class"  # classification keeps its default


@pytest.mark.parametrize("change, words", [
    ({"size_unit": "per_class"}, "size_unit: per_class does not apply to a qa task"),
    ({"reference": "tfidf"}, "reference: tfidf classifies"),
    ({"task": {"path": "qa.jsonl", "kind": "qa", "label_noise": 0.2}}, "task.label_noise flips class labels"),
    ({"task": {"path": "qa.jsonl", "kind": "essay"}}, "task.kind"),
])
def test_settings_that_cannot_apply_to_qa_are_refused_by_name(change, words):
    with pytest.raises(ConfigError) as caught:
        parse_config(tiny_config(**{"task": {"path": "qa.jsonl", "kind": "qa"}, **change}))
    assert words in str(caught.value)
