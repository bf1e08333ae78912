"""`tuning: true`: the same number of validation-scored trials for every method that has settings to search."""

from __future__ import annotations

import pytest

from core.config import parse_config
from core.methods import METHODS
from core.running.search import search_trials


@pytest.mark.parametrize("method,family", [("probe", "encoder"), ("lora", "decoder"), ("fewshot", "decoder"),
                                           ("rag", "decoder"), ("rag", "encoder"), ("rag_bm25", "decoder")])
def test_every_searched_method_gets_the_same_trials_configured_first(method, family):
    search = METHODS[method].search_on(family)
    trials = search_trials(search, 3, seed=0)
    assert len(trials) == 3 and len({tuple(t.items()) for t in trials}) == 3
    assert all(set(t) == set(search) for t in trials)
    assert search_trials(search, 3, seed=0) == trials  # drawn with the seed: a rerun tries the same


def test_few_shot_and_rag_search_their_own_settings():
    assert set(METHODS["fewshot"].search_on("decoder")) == {"shots_x", "selection"}
    assert set(METHODS["rag"].search_on("decoder")) == {"k", "retriever"}
    assert set(METHODS["rag"].search_on("encoder")) == {"k"}  # the encoder's RAG has one retriever
    assert set(METHODS["rag_hybrid"].search_on("decoder")) == {"k"}  # its retriever is fixed
    first = search_trials(METHODS["rag"].search_on("decoder"), 3, seed=1)[0]
    assert first == {"k": 8, "retriever": "dense"}  # the configured defaults: a tie keeps them
    assert search_trials(METHODS["fewshot"].search_on("decoder"), 3, seed=1)[0] == {"shots_x": 1.0,
                                                                                   "selection": "balanced"}
    assert len(search_trials(METHODS["rag"].search_on("decoder"), 9, seed=0)) == 9  # every combination fits


def _decoder_config(folder, **overrides) -> dict:
    config = {"name": "tuned-llm", "task": {"builtin": "fortunes", "builtin_options": {"per_class": 40}},
              "model": {"name": str(folder), "precision": "fp32"}, "sizes": [4], "seeds": [0],
              "budget": {"max_epochs": 1, "min_steps": 2}, "training": {"batch_size": 8},
              "llm": {"context_length": 256, "max_new_tokens": 4, "max_shots": 2}}
    config.update(overrides)
    return config


def test_tuning_searches_few_shot_and_rag_on_validation_questions_as_it_searches_lora(tiny_llama, tmp_path):
    from core.results.store import SqlStore
    from core.running.runner import run_experiment

    config = parse_config(_decoder_config(tiny_llama, methods=["fewshot", "rag", "lora"], tuning=True))
    result = run_experiment(config, SqlStore(tmp_path / "r.db"))
    runs = result.runs.set_index("method")
    assert (runs.status == "finished").all(), runs.get("error")
    records = runs.record
    searched = {m: records[m]["details"]["search"] for m in ("fewshot", "rag", "lora")}
    for method, search in searched.items():
        assert len(search["trials"]) == config.tuning_trials == 3, method
        assert search["validation_examples"] == records[method]["validation_examples"] > 0
        assert 0 < search["seconds"] <= records[method]["train_seconds"], method  # the search counts as training
    assert {"k", "retriever", "val_accuracy"} == set(searched["rag"]["trials"][0])
    assert {"shots_x", "selection", "val_accuracy"} == set(searched["fewshot"]["trials"][0])
    rag = records["rag"]["details"]
    assert rag["k"] == searched["rag"]["chosen"]["k"]  # the refit runs with the chosen setting
    assert rag.get("retrieval", "dense") == searched["rag"]["chosen"]["retriever"]
    shots = records["fewshot"]["details"]
    assert shots["shot_selection"] == searched["fewshot"]["chosen"]["selection"]


def test_rag_on_documents_is_searched_on_validation_questions(tiny_llama, tmp_path):
    """A QA task: each of RAG's trials (k, retriever) answers the validation questions and is scored on them."""
    from core.results.store import SqlStore
    from core.running.runner import run_experiment
    from tests.core.task.test_documents_run import handbook

    questions = handbook(tmp_path / "handbook")
    config = parse_config(_decoder_config(
        tiny_llama, name="tuned-docs", methods=["rag"], tuning=True,
        task={"kind": "qa", "path": str(questions), "documents": {"path": str(tmp_path / "handbook"),
                                                                  "chunk_tokens": 32, "chunk_overlap": 4}}))
    result = run_experiment(config, SqlStore(tmp_path / "r.db"))
    record = result.runs.set_index("method").record["rag"]
    assert record["status"] == "finished", record.get("error")
    search = record["details"]["search"]
    assert len(search["trials"]) == 3 and search["validation_examples"] == record["validation_examples"] > 0
    assert all(set(t) == {"k", "retriever", "val_answer_match"} for t in search["trials"])
    assert record["details"]["k"] == search["chosen"]["k"]
    assert 0 < search["seconds"] <= record["train_seconds"]


def test_the_estimate_counts_the_same_trials_for_few_shot_as_for_the_probe():
    from core.running.estimate import searched_fits
    from tests.conftest import tiny_config

    tuned = parse_config(tiny_config(tuning=True))
    assert searched_fits(METHODS["fewshot"], tuned, refit=True) == searched_fits(METHODS["probe"], tuned, True) == 4
    assert searched_fits(METHODS["rag"], tuned, refit=True) == 4  # 9 combinations on an LLM, 3 of them tried
    assert searched_fits(METHODS["fewshot"], parse_config(tiny_config()), refit=True) == 1
