"""The LLM estimate counts what the runs will really do, and quickly: training timed once per kind of step (adapters,
every weight) and scaled to each method's own tokens; the known-facts pass's answers that are really generated; the
known/unknown checkpoints during fine-tuning; and `latency_queries`, the one setting the runs read (tiny random
Llama, the tiny cities QA file of tests/qa_cities.py)."""

from __future__ import annotations

import json

import pytest

from core.config import parse_config
from core.errors import ConfigError
from tests.qa_cities import CITIES, qa_file


def _config(tmp_path, model, **overrides):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"text": f"{city} is a city on a river."}) for city in CITIES))
    settings = {
        "name": "est-passes", "task": {"kind": "qa", "path": str(qa_file(tmp_path / "qa.jsonl")),
                                       "split_column": "split", "corpus": {"path": str(corpus), "label_column": None}},
        "model": {"name": str(model), "precision": "fp32"}, "sizes": [6], "seeds": [0],
        "methods": ["prompt", "lora", "full", "scratch", "corpus_ft", "rag_lora"],
        # no refit: each run trains once, three epochs of three steps
        "budget": {"max_epochs": 3, "min_steps": 1}, "training": {"batch_size": 2}, "validation": "separate",
        "forgetting": "off", "rag": {"k": 2}, "latency_queries": 3,
        "llm": {"context_length": 128, "max_new_tokens": 4, "known_facts": {"samples": 1, "checkpoints": 2}}}
    settings.update(overrides)
    return parse_config(settings)


def test_an_llm_estimate_times_one_step_per_kind_and_counts_every_pass_the_runs_make(tmp_path, tiny_llama,
                                                                                    monkeypatch):
    import core.running.fit_timing as fit_timing
    from core.evaluation.learning_epochs import checkpoint_epochs
    from core.running.estimate import estimate_experiment, plan_seconds, training_steps
    from core.running.run import load_checked_task

    fitted, trained_on = [], {}
    timed_fit = fit_timing.timed_fit

    def timed(method, ctx):
        fitted.append(method)
        trained_on[method] = len(ctx.train_texts)
        return timed_fit(method, ctx)

    monkeypatch.setattr(fit_timing, "timed_fit", timed)
    config = _config(tmp_path, tiny_llama)
    estimate = estimate_experiment(config)
    measured = estimate.measured

    # fitted for real: the methods that do not train, and the first method of each kind of step; the others are
    # tokenized, and their step is the kind's seconds per token times their own tokens
    assert fitted == ["prompt", "lora", "full"]
    # each kind's step is timed on a whole batch at the run's batch size (2), packed as a run packs it: a step of one
    # example reads the weights for a few dozen tokens, and put smollm2's trained runs at about 2x their real time
    assert trained_on["lora"] == trained_on["full"] == 2
    assert set(measured["token_step_seconds"]) == {"adapter", "every weight"}
    tokens, steps = measured["train_tokens"], measured["step_seconds"]
    assert tokens["rag_lora"] > tokens["lora"] == tokens["full"] == tokens["scratch"]  # passages in its prompts
    # a step is one optimiser update (timed apart: paid once a step whatever its batch) plus forward and backward
    # over its batch's tokens (batch 2); before, the one-example step's update was counted once per example
    update, per_token = measured["update_seconds"], measured["token_step_seconds"]
    assert set(update) == {"adapter", "every weight"} and all(seconds > 0 for seconds in update.values())
    for method, kind in (("lora", "adapter"), ("rag_lora", "adapter"), ("full", "every weight")):
        assert steps[method] == pytest.approx(update[kind] + per_token[kind] * tokens[method] * 2)
    assert (steps["rag_lora"] - update["adapter"]) / (steps["lora"] - update["adapter"]) == pytest.approx(
        tokens["rag_lora"] / tokens["lora"])
    assert steps["scratch"] == pytest.approx(steps["full"])  # the same examples, every weight trained
    runs = estimate.runs.set_index("method")
    assert runs.loc["lora", "steps"] == training_steps(6, config)  # the budget's steps, counted as before

    # the known-facts pass: the test questions' greedy answers are the prompt run's, so only their sample is
    # generated; the six training questions are answered greedily and sampled once
    # they answer in batches, as the test set does: a question costs the batched figure, not one answered alone
    # (which, on smollm2 and a 2-core CPU, is several times a batched question: the estimate was 2x to 4x high)
    task, _ = load_checked_task(config)
    tests, trained, closed_book = len(task.test), 6, measured["batch_seconds_per_text"]["prompt"]
    assert measured["answer_costs"]["batch_questions"] == min(config.training.eval_batch_size, tests)
    assert measured["known_facts_seconds"] == pytest.approx((tests * 1 + trained * 2) * closed_book)
    assert measured["predict_seconds_per_text"]["prompt"] == measured["batch_seconds_per_text"]["prompt"]
    assert measured["predict_seconds_per_text"]["prompt"] != measured["alone_seconds_per_text"]["prompt"]

    # the known/unknown checkpoints: a closed-book fine-tuning run answers its training questions and the test
    # questions (all six: fewer than the sample of 48) at two of its three epoch ends; none for scratch (it starts
    # from random weights: no base model's facts to follow) nor rag_lora (it retrieves)
    without = plan_seconds(config, task, {**measured, "checkpoints": 0}).set_index("method").seconds
    added = runs.seconds - without
    per_run = len(checkpoint_epochs(3, 2)) * (trained + tests) * closed_book
    assert len(checkpoint_epochs(3, 2)) == 2
    assert added["lora"] == pytest.approx(per_run) and added["full"] == pytest.approx(per_run)
    # under `validation: refit` the run trains twice and follows only the refit (on all six: three epochs too)
    refit = config.model_copy(update={"validation": "refit"})
    refit_added = plan_seconds(refit, task, measured).set_index("method").seconds - \
        plan_seconds(refit, task, {**measured, "checkpoints": 0}).set_index("method").seconds
    assert refit_added["lora"] == pytest.approx(per_run) and refit_added["full"] == pytest.approx(per_run)
    assert added["corpus_ft"] == pytest.approx(per_run)  # the categorised training questions, whose passages it read
    assert added[["prompt", "scratch", "rag_lora"]].eq(0).all()

    # latency_queries: each run answers that many questions alone
    fewer = plan_seconds(config.model_copy(update={"latency_queries": 1}), task, measured).set_index("method").seconds
    assert (runs.seconds - fewer).to_dict() == pytest.approx(
        {m: 2 * measured["alone_seconds_per_text"][m] for m in runs.index})


def test_without_a_prompt_run_the_pass_answers_the_test_questions_itself(tmp_path, tiny_llama):
    from core.running.estimate_decoder import _known_facts_answers
    from core.running.run import load_experiment

    config = _config(tmp_path, tiny_llama, methods=["lora"])
    experiment = load_experiment(config)
    tests = len(experiment.task.test)
    assert _known_facts_answers(experiment) == (tests + 6) * 2
    with_prompt = load_experiment(config.model_copy(update={"methods": ["prompt", "lora"]}))
    assert _known_facts_answers(with_prompt) == tests * 1 + 6 * 2


def test_each_run_times_as_many_questions_alone_as_latency_queries_says(tmp_path, tiny_llama):
    from core.results.store import SqlStore
    from core.running.runner import run_experiment

    store = SqlStore()
    run_experiment(_config(tmp_path, tiny_llama, methods=["prompt"], latency_queries=2,
                           llm={"context_length": 128, "max_new_tokens": 4, "known_facts": {"enabled": False}}), store)
    record = store.runs_frame("est-passes").record.iloc[0]
    assert record["latency_queries"] == 2


def test_the_llm_quick_looks_time_fewer_questions_alone():
    from core.task.scenarios import LLM_QUICK_LATENCY_QUERIES, demo_config

    assert parse_config(demo_config("geo-qa", quick=True)).latency_queries == LLM_QUICK_LATENCY_QUERIES == 8
    assert parse_config(demo_config("fortunes", quick=True, model="smollm2")).latency_queries == 8
    assert parse_config(demo_config("geo-qa")).latency_queries == 16  # the full grid keeps the default
    with pytest.raises(ConfigError, match="latency_queries"):
        parse_config({**demo_config("geo-qa", quick=True), "latency_queries": 0})


def test_an_llm_grid_that_names_no_methods_is_estimated_for_the_methods_the_worker_runs(tiny_llama):
    """fortunes on an LLM without `methods` (the LLM quick look): the LLM's default methods, as the worker chooses
    them, not the encoder list the config defaults to (its linear probe has no fit on an LLM: the estimate failed)."""
    from core.methods import default_methods
    from core.running.estimate import estimate_experiment

    config = parse_config({"name": "est-default-methods", "task": {"builtin": "fortunes",
                                                                    "builtin_options": {"per_class": 40}},
                           "model": {"name": str(tiny_llama), "precision": "fp32"}, "sizes": [2], "seeds": [0],
                           "budget": {"max_epochs": 1, "min_steps": 1}, "training": {"batch_size": 4},
                           "forgetting": "off", "llm": {"context_length": 128, "max_new_tokens": 4}})
    from core.running.run import load_checked_task

    task, _ = load_checked_task(config)
    estimate = estimate_experiment(config)
    has_corpus = task.corpus is not None and len(task.corpus) > 0
    assert set(estimate.runs.method) == set(default_methods("decoder", "classification", has_corpus))
    assert "probe" not in set(estimate.runs.method) and (estimate.runs.seconds > 0).all()


def test_a_resumed_grid_counts_only_the_closed_book_answers_still_to_give(tmp_path, tiny_llama):
    """The known-facts pass skips the questions it has stored and the training rows of finished runs; a finished
    prompt-only run's greedy answers are read, not generated (core/running/known_facts.py)."""
    from core.running.estimate import _answered_closed_book
    from core.running.estimate_decoder import _known_facts_answers
    from core.running.grid import plan_runs
    from core.running.known_facts import trained_rows
    from core.running.run import load_experiment

    config = _config(tmp_path, tiny_llama, methods=["lora"])
    experiment = load_experiment(config)
    tests = len(experiment.task.test)
    rows = trained_rows(config, experiment.task, plan_runs(config))
    answered = {("test", 0), ("test", 1), ("train", rows[0])}
    assert _known_facts_answers(experiment, answered=answered) == (tests - 2 + len(rows) - 1) * 2
    every_run = {spec.key for spec in plan_runs(config)}
    assert _known_facts_answers(experiment, done=every_run) == tests * 2  # no training left: the tests only
    assert _known_facts_answers(experiment, done=every_run | {"prompt|0|0"}) == tests * 1

    # what the pass stored is what the estimate reads back
    from core.results.store import SqlStore
    store = SqlStore(tmp_path / "r.db")
    assert _answered_closed_book(store, config.name) == set()  # no such experiment yet
    store.register_experiment(config.name, config.model_dump(mode="json"), "fingerprint", [], [], {})
    assert _answered_closed_book(store, config.name) == set()  # registered, no pass yet
    store.add_task_facts(config.name, known_facts={"questions": [{"split": "test", "row": 3, "category": "Unknown"},
                                                                 {"split": "train", "row": 5, "category": "Known"}]})
    assert _answered_closed_book(store, config.name) == {("test", 3), ("train", 5)}
