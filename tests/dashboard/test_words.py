"""The sentences the pages build from core's tables (dashboard/words.py, checks.py, live.py): pure functions."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from core.config import ExperimentConfig
from dashboard import checks, live, words

NOW = datetime(2026, 3, 12, 12, 0, tzinfo=UTC)


def _iso(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).isoformat(timespec="seconds")


@pytest.mark.parametrize("seconds, said", [(20, "just now"), (4 * 60 + 10, "4 min ago"), (3 * 3600, "3 h ago"),
                                           (30 * 3600, "yesterday"), (5 * 86400, "5 days ago"),
                                           (40 * 86400, "31 Jan 2026")])
def test_times_are_said_as_a_reader_says_them(seconds, said):
    assert words.time_ago(_iso(seconds), NOW) == said
    assert words.time_ago(None, NOW) == "–" and words.time_ago("not a time", NOW) == "–"


def test_the_experiments_list_is_ordered_by_the_last_change():
    frame = pd.DataFrame({"name": ["old-busy", "new-idle"], "model": ["default"] * 2, "runs": [37, 0],
                          "created_at": [_iso(3 * 86400), _iso(3600)], "updated_at": [_iso(3 * 86400), _iso(3600)],
                          "last_run_at": [_iso(120), None]})
    table = words.experiments_table(frame, NOW)
    assert table.experiment.tolist() == ["old-busy", "new-idle"]
    assert table.updated.tolist() == ["2 min ago", "1 h ago"] and table.created.tolist() == ["3 days ago", "1 h ago"]


def test_the_cost_sentence_names_the_cheapest_or_where_it_changes_at_the_break_even_volume_itself():
    """In method titles, and at the figure the break-even list shows: 62,146 queries, not a sampled "about 73,000"."""
    from core.results.costs import break_even_queries, cheapest_stretches, total_cost
    from tests.core.results.summaries import summary_of

    queries = [1e3, 1e4, 1e5, 1e6]
    steady = summary_of([("tfidf", "32", 0.7, 0.6, 0.8, 0.0, 1.0, 1.0, 0, 0),
                         ("lora", "32", 0.8, 0.7, 0.9, 0.0, 24.0, 1.0, 0, 0)])
    assert words.cost_fact(total_cost(steady, queries), cheapest_stretches(steady, 1e3, 1e6)) == (
        "**TF-IDF + logistic regression** is the cheapest at every volume from 1,000 to 1,000,000 queries, by about "
        "24x (next: **LoRA adapter**).")
    # few-shot: nothing to train, dear per query; corpus fine-tuning: the other way round. They cross at 62,146.
    crossing = summary_of([("fewshot", "8", 0.5, 0.4, 0.6, 0.0, 0.5, 1.0, 0, 0),
                           ("corpus_ft", "8", 0.6, 0.5, 0.7, 31.073, 0.0, 1.0, 0, 0)])
    volumes = np.logspace(3, 8, 60)  # the chart's samples: the first past the crossing is about 73,000
    (point,) = break_even_queries(crossing).itertuples()
    assert f"{point.queries:,.0f}" == "62,146"
    assert words.cost_fact(total_cost(crossing, volumes), cheapest_stretches(crossing, 1e3, 1e8)) == (
        "The cheapest depends on the volume: **Few-shot prompt** up to 62,146 queries, then **Corpus fine-tuning** "
        "beyond.")


def test_a_reference_that_gets_worse_with_more_data_is_named():
    curves = pd.DataFrame({"method": ["scratch"] * 3 + ["lora"] * 3, "size": ["8", "32", "128"] * 2,
                           "accuracy": [0.6, 0.7, 0.55, 0.5, 0.4, 0.3]})
    text = words.reference_declines(curves, "scratch", "per_class")
    assert "0.700 at 32 per class but 0.550 at 128 per class" in text
    assert words.reference_declines(curves.assign(accuracy=[0.6, 0.7, 0.8, 0.5, 0.4, 0.3]), "scratch", "total") is None


def test_only_methods_that_adapt_the_pretrained_model_count_for_transfer():
    assert [m for m in ("prompt", "lora", "full", "scratch", "tfidf") if words.starts_pretrained(m)] == [
        "prompt", "lora", "full"]


@pytest.mark.parametrize("progress, said", [
    ({"message": "loading the data and the model", "runs_total": None}, "loading"),
    ({"message": "encoding texts once for the methods", "runs_total": 12, "runs_done": 0}, "encoding texts"),
    ({"message": "running lora", "runs_total": 12, "runs_done": 2, "current_run": "lora|8|0"}, "run 3 of 12"),
    ({"runs_total": 12, "runs_done": 2, "current_run": "lora|8|0", "in_flight": ["a", "b", "c"]}, "runs 3–5 of 12"),
    ({"message": "finished probe|8|0", "runs_total": 12, "runs_done": 3}, "between runs"),
])
def test_the_phase_of_a_grid_in_words(progress, said):
    assert live.phase(progress) == said


def test_remaining_time_is_the_average_run_times_the_runs_left():
    runs = pd.DataFrame({"status": ["finished", "failed", "finished", "finished"],
                         "started_at": [_iso(500), _iso(200), _iso(150), None],
                         "finished_at": [_iso(460), _iso(180), _iso(90), None]})
    durations = live.run_durations(runs, since=_iso(300))  # the first run belongs to an earlier job
    assert durations == [20.0, 60.0]
    assert live.remaining_seconds(durations, 10) == 400.0 and live.remaining_seconds(durations, 10, 2) == 200.0
    assert live.remaining_seconds([], 10) is None
    assert live.elapsed_seconds(_iso(95), NOW, reported=1.0) == 95.0


def _problems(**settings) -> list[str]:
    with pytest.raises(ValidationError) as error:
        ExperimentConfig.model_validate({"name": "x", "task": {"builtin": "fortunes"}, **settings})
    return checks.config_problems(error.value)


def test_config_problems_are_sentences_naming_the_field_as_labelled():
    assert _problems(sizes=[8, "lots"]) == [
        "Training-set sizes: 'lots' is not a size; write whole numbers separated by commas, or 'all'."]
    assert _problems(budget={"max_epochs": 0}) == ["Max epochs: must be at least 1 (it is 0)."]
    assert _problems(methods=[]) == ["Methods: choose at least one."]
    assert _problems(lora={"r": 5000}) == ["LoRA rank r: must be at most 1024 (it is 5000)."]


def test_data_messages_have_no_python_lists_and_name_the_field_as_labelled():
    assert checks.data_message("train has 1 class(es) (['billing']); a classifier needs at least two") == (
        "The training examples have only one class, 'billing': a classifier needs at least two. Check that the label "
        "column is the right one, or add examples of the other classes.")
    assert checks.data_message("test has label(s) ['a', 'b'] that never appear in train; trained methods cannot "
                               "predict them") == ("Test has labels 'a' and 'b' that never appear in train; trained "
                                                   "methods cannot predict them.")
    assert "\"Max length (tokens)\"" in checks.data_message("9% of train texts are longer than about 128 tokens and "
                                                            "will be truncated; raise model.max_length if the end "
                                                            "of a text matters")
    assert checks.imbalance({"a": 80, "b": 27}) and checks.imbalance({"a": 40, "b": 27}) is None


def test_the_builtin_models_need_no_check_and_a_missing_folder_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTLAB_MODEL_ROOTS", str(tmp_path))
    assert checks.model_problem("default") is None and checks.model_problem("smollm2") is None
    assert "there is no folder" in checks.model_problem(str(tmp_path / "gone"))
    (tmp_path / "empty").mkdir()
    assert "holds no config.json" in checks.model_problem(str(tmp_path / "empty"))
    assert "neither a folder here nor a Hub id" in checks.model_problem("two words")
