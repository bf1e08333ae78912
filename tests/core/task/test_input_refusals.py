"""Inputs that passed validation and failed every run, or ended in a traceback (issue 24, items 4 and 5): each is
refused when it is read, in one sentence naming the file, setting or option, with exit code 2 from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from core.cli import main
from core.config import load_config, parse_config
from core.errors import ConfigError, DataError
from core.results.store import SqlStore
from core.task.load import load_task
from tests.conftest import tiny_config
from tests.decision_grid import stored_grid


def _yaml(tmp_path: Path, config: dict | str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config), encoding="utf-8")
    return path


def _one_sentence(capsys, *words: str) -> str:
    """The last command's error: one line on stderr, no traceback, naming each of words."""
    message = capsys.readouterr().err
    assert "Traceback" not in message and len(message.strip().splitlines()) == 1, message
    for word in words:
        assert word in message, message
    return message


def _strict_json(text: str):
    """json.loads that refuses NaN and Infinity, which Python writes and no other JSON reader accepts."""
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")
    return json.loads(text, parse_constant=refuse)


# -- item 4: templates and settings -------------------------------------------------------------------------------
@pytest.mark.parametrize("template, named", [
    ("{label} {label:>3000000000}", "{label:>3000000000}"),  # a 3 GB string per label
    ("{label} {0}", "{0}"), ("{label} {x}", "{x}"), ("{label!r}", "{label!r}"),
    ("{label.__class__}", "{label.__class__}"),
    ("{label}}", "Single '}'"), ("{{label}}", "must contain {label}"),
])
def test_a_prompt_template_that_cannot_be_filled_in_is_refused_when_the_config_is_read(template, named):
    with pytest.raises(ConfigError) as refused:
        parse_config(tiny_config(prompt={"template": template}))
    assert "prompt.template" in str(refused.value) and named in str(refused.value)


def test_a_prompt_template_with_braces_written_twice_fills_in():
    config = parse_config(tiny_config(prompt={"template": "{{ {label} }}"}))
    assert config.prompt.template.format(label="x") == "{ x }"


def test_max_new_tokens_must_leave_the_prompt_room_in_the_context():
    with pytest.raises(ConfigError,
                       match="llm.context_length: max_new_tokens 1024 leaves too little of context_length 64"):
        parse_config(tiny_config(llm={"max_new_tokens": 1024, "context_length": 64}))
    assert parse_config(tiny_config(llm={"max_new_tokens": 32, "context_length": 64})).llm.max_new_tokens == 32


def test_a_context_longer_than_the_model_reads_is_refused_when_it_loads(tiny_llama):
    from core.running.run import load_backbone

    config = parse_config(tiny_config(model={"name": str(tiny_llama), "device": "cpu"}, llm={"context_length": 4096}))
    with pytest.raises(ConfigError, match=r"llm.context_length is 4,096 tokens but .* reads at most 2,048"):
        load_backbone(config)
    encoder = parse_config(tiny_config(model={"max_length": 1024, "device": "cpu"}))  # all-MiniLM-L6-v2 reads 512
    with pytest.raises(ConfigError, match=r"model.max_length is 1,024 tokens .* at most 512"):
        load_backbone(encoder)


@pytest.mark.parametrize("section", [
    {"prices": {"cpu": float("nan")}}, {"prices": {"cuda": float("inf")}},
    {"grid_budget": {"max_dollars": float("nan")}},
    {"budget": {"max_train_seconds": float("inf")}}, {"training": {"learning_rates": {"probe": float("nan")}}},
])
def test_prices_budgets_and_rates_must_be_finite(tmp_path, section):
    path = _yaml(tmp_path, tiny_config(**section))  # safe_dump writes .nan and .inf, as a user would
    with pytest.raises(ConfigError, match="finite number"):
        load_config(path)


def _store_with_nan_price(store: str) -> None:
    """An experiment stored before prices had to be finite: price NaN, so every run's dollars are NaN."""
    config = parse_config(tiny_config("nanprice", methods=["tfidf"], sizes=[4])).model_dump(mode="json")
    config["prices"]["cpu"] = float("nan")
    target = SqlStore(store)
    target.register_experiment("nanprice", config, "fingerprint", ["a", "b"], [0, 1, 0, 1],
                               {"kind": "classification", "environment": {"device": "CPU"}})
    target.write_run("nanprice", {"run_key": "tfidf|4|0", "method": "tfidf", "size": "4", "seed": 0,
                                  "status": "finished", "train_examples": 8, "accuracy": 0.75, "macro_f1": 0.7,
                                  "train_seconds": 2.0, "inference_seconds_per_1k": 1.0, "peak_memory_mb": 10.0,
                                  "trainable_parameters": 10, "total_parameters": 10, "bytes_stored": 1000,
                                  "price_per_hour": float("nan"), "train_dollars": float("nan"),
                                  "inference_dollars_per_1k": float("nan")}, [0, 1, 1, 1])


def test_export_writes_json_that_any_reader_accepts(tmp_path, capsys):
    store = str(tmp_path / "r.db")
    _store_with_nan_price(store)
    assert main(["--store", store, "export", "nanprice", "--format", "json", "-o", str(tmp_path / "r.json")]) == 0
    record = _strict_json((tmp_path / "r.json").read_text())[0]
    assert record["train_dollars"] is None and record["accuracy"] == 0.75
    assert main(["--store", store, "export", "nanprice", "--format", "csv", "-o", str(tmp_path / "r.csv")]) == 0


def test_report_refuses_a_number_that_is_not_a_number(tmp_path, capsys):
    store = str(tmp_path / "r.db")
    stored_grid(store)
    for option in ("--dollars-per-label", "--storage-price", "--accuracy-floor", "--latency-ms"):
        capsys.readouterr()
        assert main(["--store", store, "report", "grid", option, "nan", "-o", str(tmp_path / "r.md")]) == 2, option
        _one_sentence(capsys, option, "nan")
    assert not (tmp_path / "r.md").exists()


def test_a_key_given_twice_in_the_yaml_is_refused_naming_it_and_its_lines(tmp_path):
    path = _yaml(tmp_path, "name: twice\ntask:\n  builtin: fortunes\nsizes: [4]\nseeds: [0]\nsizes: [8]\n")
    with pytest.raises(ConfigError, match=r"line 6 gives 'sizes' again \(first on line 4\)"):
        load_config(path)
    nested = _yaml(tmp_path, "name: twice\ntask:\n  builtin: fortunes\n  builtin: kaomoji\n")
    with pytest.raises(ConfigError, match=r"line 4 gives 'builtin' again \(first on line 3\)"):
        load_config(nested)


def test_a_description_for_a_label_the_data_lacks_is_a_warning_naming_it():
    from core.running.run import load_checked_task

    config = parse_config(tiny_config(prompt={"descriptions": {"fortunes": "Sayings.", "fortune-typo": "Oops"}}))
    _, report = load_checked_task(config)
    assert any("'fortune-typo'" in warning and "prompt.descriptions" in warning for warning in report.warnings), \
        report.warnings
    assert not any("'fortunes'" in warning.split("which")[0] for warning in report.warnings)


@pytest.mark.parametrize("command, words", [
    # --idle-exit 0: a worker that took the options would stop at once, with nothing queued, instead of serving
    (["worker", "--idle-exit", "0", "--stale-after", "-1"], ("--stale-after -1",)),
    (["worker", "--idle-exit", "0", "--gpu-jobs", "0"], ("--gpu-jobs 0",)),
    (["worker", "--idle-exit", "0", "--cpu-jobs", "0", "--stale-after", "nan"], ("--cpu-jobs 0", "--stale-after nan")),
    (["dashboard", "--port", "99999"], ("--port 99999", "65535")),
])
def test_worker_and_dashboard_options_that_cannot_work_are_one_sentence(tmp_path, capsys, command, words):
    store = tmp_path / "r.db"
    assert main(["--store", str(store), *command]) == 2
    _one_sentence(capsys, *words)
    assert not store.exists()  # refused before anything is opened


# -- item 5: tracebacks that are now sentences ---------------------------------------------------------------------
DEEP = "[" * 100_000  # the JSON decoder recurses once per bracket


@pytest.mark.parametrize("kind, suffix", [("classification", ".jsonl"), ("qa", ".jsonl"), ("classification", ".json")])
def test_a_json_line_nested_past_the_stack_names_the_file_and_line(tmp_path, kind, suffix):
    from core.config import TaskSpec

    first = '{"text": "a", "label": "b"}' if kind == "classification" else '{"question": "q", "answer": "a"}'
    path = tmp_path / f"data{suffix}"
    path.write_text(f"{first}\n{DEEP}\n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"data{suffix}: line 2 nests brackets too deep"):
        load_task(TaskSpec(path=path, kind=kind))


def test_an_aliases_cell_nested_past_the_stack_is_an_unreadable_cell_named_by_row(tmp_path):
    from core.config import TaskSpec

    path = tmp_path / "qa.csv"
    rows = "".join(f"question {i}?,answer {i},\n" for i in range(20))
    path.write_text(f'question,answer,aliases\nq?,a,"{DEEP}"\n{rows}', encoding="utf-8")
    with pytest.raises(DataError, match=r"qa.csv: column 'aliases' is not a list in row\(s\) 1"):
        load_task(TaskSpec(path=path, kind="qa"))


def test_a_yaml_nested_500_deep_is_one_sentence(tmp_path, capsys):
    deep = _yaml(tmp_path, "{a: " * 500 + "1" + "}" * 500, "deep.yaml")
    assert deep.stat().st_size < 3000
    assert main(["--store", str(tmp_path / "r.db"), "run", str(deep)]) == 2
    _one_sentence(capsys, "deep.yaml", "nests")
    shallow_enough_to_read = _yaml(tmp_path, "name: x\ntask: {builtin: fortunes, builtin_options: " + "{a: " * 60 + "1"
                                   + "}" * 61 + "\n", "sixty.yaml")
    with pytest.raises(ConfigError, match="line 2 nests more than 50 levels deep"):
        load_config(shallow_enough_to_read)
    aliased = _yaml(tmp_path, "name: x\nx0: &x0 [1]\n" + "".join(f"x{n}: &x{n} [[[[[[[[[[*x{n - 1}]]]]]]]]]]\n"
                                                                 for n in range(1, 8)), "aliased.yaml")
    # each line shallow, 70 levels through its aliases
    with pytest.raises(ConfigError, match="counting what its aliases refer to"):
        load_config(aliased)


@pytest.mark.parametrize("store, words", [
    ("postgresql://u@127.0.0.1:1/db", ("--store postgresql://u@127.0.0.1:1/db", "driver", "not installed")),
    ("foo://bar", ("--store foo://bar", "not a SQLite file or a database URL")),
])
def test_a_store_url_without_a_driver_or_a_dialect_is_one_sentence(capsys, store, words):
    assert main(["--store", store, "list"]) == 2
    _one_sentence(capsys, *words)


@pytest.mark.parametrize("options, words", [
    ({"per_class": -5}, ("per_class -5", "greater than or equal to 1")),
    ({"per_class": "many"}, ("per_class 'many'", "valid integer")),
    ({"seed": -1}, ("seed -1",)),
])
def test_builtin_options_of_the_wrong_type_or_range_are_one_sentence(tmp_path, capsys, options, words):
    path = _yaml(tmp_path, tiny_config(task={"builtin": "fortunes", "builtin_options": options}))
    assert main(["--store", str(tmp_path / "r.db"), "run", str(path)]) == 2
    _one_sentence(capsys, "task.builtin_options", "fortunes", *words)


def test_report_with_a_budget_on_an_experiment_whose_stored_price_is_nan(tmp_path, capsys):
    store = str(tmp_path / "r.db")
    _store_with_nan_price(store)
    out = tmp_path / "r.md"
    assert main(["--store", store, "report", "nanprice", "--budget-dollars", "5", "-o", str(out)]) == 2
    _one_sentence(capsys, "--budget-dollars 5", "'nanprice'", "unknown", "nan")
    assert not out.exists()
    assert main(["--store", store, "report", "nanprice", "-o", str(out)]) == 0  # without a budget it reports


def test_the_recommendation_with_every_cost_unknown_names_the_closest_option(tmp_path):
    """The dashboard's path (no CLI check in front): a budget no option can be shown to meet is missed, not a crash."""
    from core.cli import _analysed
    from core.results.costs import Constraints
    from core.results.recommendation import recommend

    store = str(tmp_path / "r.db")
    stored_grid(store)
    experiment, runs, summary = _analysed(SqlStore(store, create=False), "grid")
    unknown = summary.assign(train_dollars=np.nan, inference_dollars_per_1k=np.nan)
    choice = recommend(unknown, Constraints(budget_dollars=5), runs=runs, test_labels=experiment["test_labels"])
    assert not choice.met and choice.headline.startswith("Nothing meets every constraint"), choice.headline


def test_a_whole_number_past_int64_in_a_json_file_is_read_as_it_is(tmp_path):
    """Found by test_input_fuzz.py: 9.2e18 is a whole float that no int64 holds, so the cast to whole numbers failed."""
    from core.task.data import read_table

    path = tmp_path / "big.jsonl"
    path.write_text('{"text": "a", "label": 0}\n{"text": "b", "label": 9.223372036854776e+18}\n', encoding="utf-8")
    assert read_table(path).label.tolist() == ["0.0", "9.223372036854776e+18"]
