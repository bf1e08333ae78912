"""Hostile configs and data files, generated: reading them ends in a usable config or task, or in adaptlab's own
error (core/errors.py), never another exception (a traceback for the user).

Configs are a sound experiment with settings replaced by odd values (NaN, a negative count, text where a number
goes, a template with fields, deep nesting) and its YAML text bent (a key written twice, a document nested
hundreds deep). Data files are tables of every accepted format (csv, tsv, jsonl, json lines, parquet), for
classification and for question answering, whose cells hold odd values, bracket runs past Python's stack among
them. The example counts are small so this runs in seconds; test_loader_fuzz.py fuzzes bytes at length.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.config import TaskSpec, load_config, parse_config
from core.errors import AdaptlabError
from core.methods.prompt import label_texts
from core.running.run import check_task
from core.task.load import load_task
from tests.conftest import tiny_config

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.function_scoped_fixture])

# -- values a user (or an attacker) might type into any setting --------------------------------------------------
deep_brackets = st.sampled_from([1, 3, 40, 3000, 100_000]).map(lambda depth: "[" * depth)
templates = st.sampled_from(["{label}", "A text about {label}.", "{label} {0}", "{label}}", "{label} {x}",
                             "{label:>40}", "{label!r}", "{{label}}", "{label[0]}", "{}", "{{ {label} }}"])
scalars = st.one_of(st.integers(-10, 10), st.integers(-2**70, 2**70), st.floats(), st.booleans(), st.none(),
                    st.text(max_size=8), templates, deep_brackets)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                      max_leaves=6)
SETTINGS = ["name", "sizes", "seeds", "methods", "size_unit", "prices.cpu", "prices", "budget.max_train_seconds",
            "budget.max_epochs", "grid_budget.max_dollars", "task.builtin_options.per_class",
            "task.builtin_options.seed", "task.builtin_options", "task.test_fraction", "prompt.template",
            "prompt.descriptions", "prompt.descriptions.fortunes", "llm.max_new_tokens", "llm.context_length",
            "model.max_length", "training.learning_rates.probe", "training.batch_size", "parallel_runs", "rag.k"]


def _set(config: dict, dotted: str, value) -> None:
    *sections, key = dotted.split(".")
    for section in sections:
        config = config.setdefault(section, {}) if isinstance(config.get(section, {}), dict) else {}
    config[key] = value


def _bent(text: str, how: str, depth: int) -> str:
    """The config's YAML text changed as a hand edit or a generator might change it."""
    lines = text.splitlines()
    if how == "duplicate" and lines:
        return "\n".join([*lines, lines[0]])  # the first key once more, at the end
    if how == "deep":
        return text + "extra: " + "{a: " * depth + "1" + "}" * depth + "\n"
    if how == "deep-list":
        return text + "extra: " + "[" * depth + "]" * depth + "\n"
    return text


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("input-fuzz")


@FUZZ
@given(changes=st.lists(st.tuples(st.sampled_from(SETTINGS), values), min_size=1, max_size=3),
       how=st.sampled_from(["as-is", "as-is", "duplicate", "deep", "deep-list"]),
       depth=st.sampled_from([2, 30, 80, 500, 5000]))  # Hypothesis lends a test 2,000 more frames: 5000 overflows
def test_a_config_loads_or_is_refused_in_adaptlab_words(folder, changes, how, depth):
    config = tiny_config(task={"builtin": "fortunes", "builtin_options": {"per_class": 12}})
    for dotted, value in changes:
        _set(config, dotted, value)
    path = folder / "fuzzed.yaml"
    path.write_text(_bent(yaml.safe_dump(config, allow_unicode=True), how, depth), encoding="utf-8")
    try:
        loaded = load_config(path)
        task = load_task(loaded.task, loaded.name)
        check_task(task, loaded)
    except AdaptlabError as error:
        event(f"refused: {type(error).__name__}")  # --hypothesis-show-statistics: how many loaded, how many not
        return
    event("loaded")
    # what a run does first with the settings, and what the store and `export` write: neither may fail
    label_texts(task.labels, loaded.prompt.template, loaded.prompt.descriptions)
    json.dumps(loaded.model_dump(mode="json"), allow_nan=False)
    assert loaded.llm.context_length - loaded.llm.max_new_tokens > 0, "the prompt must have room in the context"


# -- data files -----------------------------------------------------------------------------------------------
cells = st.one_of(st.text(max_size=12), st.integers(-3, 3), st.floats(), st.none(), deep_brackets,
                  st.lists(st.text(max_size=4), max_size=3))
QA_COLUMNS = ["question", "answer", "aliases", "options", "context"]


def _table(rows: list[list], kind: str, seed_rows: int) -> pd.DataFrame:
    """A table whose first rows are sound (so loading gets past the header), then the fuzzed rows."""
    columns = ["text", "label"] if kind == "classification" else QA_COLUMNS
    sound = ([[f"text {i}", "ab"[i % 2]] for i in range(seed_rows)] if kind == "classification"
             else [[f"question {i}?", f"answer {i}", "", "", ""] for i in range(seed_rows)])
    fuzzed = [(row + [""] * len(columns))[:len(columns)] for row in rows]
    return pd.DataFrame(sound + fuzzed, columns=columns)


def _write(frame: pd.DataFrame, path: Path) -> None:
    if path.suffix == ".parquet":
        frame.astype(str).to_parquet(path)  # Parquet columns hold one type; a list cell arrives as its text
    elif path.suffix in (".csv", ".tsv"):
        frame.to_csv(path, index=False, sep="\t" if path.suffix == ".tsv" else ",")
    else:  # .jsonl and .json: JSON lines, the cells as they are (lists stay lists)
        lines = (json.dumps(row) for row in frame.to_dict("records"))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _no_nan(row: list) -> list:
    return [cell if not (isinstance(cell, float) and math.isnan(cell)) else "" for cell in row]


@FUZZ
@given(rows=st.lists(st.lists(cells, max_size=5), max_size=6), kind=st.sampled_from(["classification", "qa"]),
       suffix=st.sampled_from([".csv", ".tsv", ".jsonl", ".json", ".parquet"]), seed_rows=st.sampled_from([0, 12, 30]),
       raw_line=st.one_of(st.none(), deep_brackets))
def test_a_data_file_loads_or_is_refused_naming_it(folder, rows, kind, suffix, seed_rows, raw_line):
    example = folder / "data"
    shutil.rmtree(example, ignore_errors=True)
    example.mkdir()
    path = example / f"upload{suffix}"
    _write(_table([_no_nan(row) for row in rows], kind, seed_rows), path)
    if raw_line is not None and suffix not in (".parquet",):  # a line that is no row at all, e.g. a bracket run
        with path.open("a", encoding="utf-8") as handle:
            handle.write(raw_line + "\n")
    try:
        task = load_task(TaskSpec(path=path, kind=kind))
        config = tiny_config(task={"path": str(path), "kind": kind}, sizes=[2])
        if kind == "qa":
            config.update(methods=["prompt"], reference="scratch")
        check_task(task, parse_config(config))
    except AdaptlabError as error:
        event(f"refused: {type(error).__name__}")
        return
    event("loaded")


def test_the_harness_reads_a_sound_file_of_each_format(folder):
    """Not every example may end in an error: a sound table of each format loads."""
    for kind in ("classification", "qa"):
        for suffix in (".csv", ".tsv", ".jsonl", ".json", ".parquet"):
            path = folder / f"sound-{kind}{suffix}"
            _write(_table([], kind, 30), path)
            task = load_task(TaskSpec(path=path, kind=kind))
            assert len(task.train) and len(task.test), (kind, suffix)
