"""The estimate: measured on the real model, counting the same steps the training loop will take."""

import numpy as np
import pytest

from core.config import parse_config
from core.errors import AdaptlabError
from core.results.store import SqlStore
from core.running.estimate import Estimate, estimate_experiment, estimate_in_subprocess, training_steps
from tests.conftest import tiny_config

CONFIG = tiny_config("est", methods=["prompt", "lora", "tfidf"], sizes=[2], model={"max_length": 32},
                     training={"batch_size": 4}, budget={"max_epochs": 1, "min_steps": 3})


def test_the_estimate_times_each_method_and_counts_the_grid(tmp_path):
    store = SqlStore(tmp_path / "r.db")
    config = parse_config(CONFIG)
    estimate = estimate_experiment(config, store.url)
    assert sorted(estimate.runs.method) == ["lora", "prompt", "tfidf"]
    assert estimate.measured["step_seconds"]["lora"] > 0 and estimate.measured["encode_seconds_per_text"] > 0
    lora = estimate.runs.set_index("method").loc["lora"]
    # 2 per class: LoRA early-stops on one of each class's two (as the run will), trains on the other five, then
    # (validation: refit, the default) again on all ten for at most as many epochs
    assert lora.train_examples == 10 and lora.steps == training_steps(5, config) + training_steps(10, config)
    assert training_steps(5, config) != training_steps(10, config)
    assert (estimate.runs.seconds > 0).all() and estimate.total_seconds > estimate.runs.seconds.sum()
    assert estimate.total_dollars == pytest.approx(estimate.total_seconds / 3600 * 0.10)  # the cpu price
    assert Estimate.from_json(estimate.to_json()).by_method().equals(estimate.by_method())
    for key in ("prompt|0|0", "lora|2|0", "tfidf|2|0"):
        store.write_run("est", {"run_key": key, "status": "finished"}, None)
    resumed = estimate_experiment(config, store.url)  # every run already stored: nothing left to measure
    assert resumed.runs.empty and resumed.total_seconds == 0 and "already stored" in resumed.notes[-1]


def test_the_steps_counted_are_the_steps_the_training_loop_takes(base_model):
    from core.backbone.embeddings import Embedder, EmbeddingCache
    from core.methods import METHODS, FitContext

    config = parse_config(CONFIG)
    texts = [f"text number {i}" for i in range(10)]
    ctx = FitContext(labels=["a", "b"], train_texts=texts, train_labels=np.arange(10) % 2, val_texts=texts[:2],
                     val_labels=np.array([0, 1]), corpus=None, base=base_model,
                     embedder=Embedder(base_model, EmbeddingCache(None)), config=config, seed=0)
    fitted = METHODS["lora"].fits["encoder"](ctx)
    assert fitted.details["planned_steps"] == training_steps(10, config)


def test_the_subprocess_estimate_reports_bad_data_in_words():
    with pytest.raises(AdaptlabError, match="per class"):
        estimate_in_subprocess(parse_config(tiny_config(sizes=[500])), timeout=300)


def test_an_llm_grid_is_estimated_from_its_methods_fitted_and_asked_for_real(tiny_llama, monkeypatch):
    """A QA grid on the tiny Llama: each method fitted, answering timed once and scaled to each method's prompt,
    the grid's own passes counted once, corpus fine-tuning counted over the documents it trains on (it uses no
    training questions)."""
    from core.backbone.lm import LanguageModel
    from core.running.estimate import corpus_passages
    from core.running.estimate_decoder import DECODER_STEPS
    from core.running.run import load_checked_task

    answered_alone = []  # every question answered one at a time, by any method: what made an LLM estimate slow
    generate = LanguageModel.generate
    monkeypatch.setattr(LanguageModel, "generate", lambda lm, prompts, batch_size=None, **kw: (
        answered_alone.append(len(prompts)) if batch_size == 1 else None) or generate(lm, prompts, batch_size, **kw))

    config = parse_config({
        "name": "est-llm", "task": {"builtin": "geo-qa", "kind": "qa", "builtin_options": {"quick": True}},
        "model": {"name": str(tiny_llama), "precision": "fp32"}, "methods": ["prompt", "rag", "lora", "corpus_ft"],
        "sizes": [16], "seeds": [0], "budget": {"max_epochs": 1, "min_steps": 2}, "training": {"batch_size": 8},
        "rag": {"k": 2}, "llm": {"context_length": 256, "max_new_tokens": 4, "known_facts": {"samples": 1}}})
    estimate = estimate_experiment(config)
    runs = estimate.runs.set_index("method")
    assert sorted(runs.index) == ["corpus_ft", "lora", "prompt", "rag"] and (runs.seconds > 0).all()
    measured = estimate.measured
    assert measured["family"] == "decoder" and set(measured["step_seconds"]) == {"lora", "corpus_ft"}
    assert all(measured["alone_seconds_per_text"][m] > 0 for m in runs.index)  # the latency questions, one at a time
    # one question answered alone once (timed; the warm-up reads it, generating nothing) for the whole grid, not a
    # sample per method: each method's answer is the measured cost per token times its own prompt, which passages
    # make longer
    assert answered_alone == [1]
    costs, tokens = measured["answer_costs"], measured["prompt_tokens"]
    assert costs["prompt_token_seconds"] > 0 and costs["answer_tokens"] >= 1
    assert tokens["rag"] > tokens["prompt"] and tokens["lora"] == tokens["prompt"]  # passages; the same question
    assert measured["alone_seconds_per_text"]["rag"] > measured["alone_seconds_per_text"]["prompt"]
    said = " ".join(estimate.notes)  # what it extrapolates, in words
    assert "on one test question alone" in said and "on a batch of test questions" in said
    assert f"ran {DECODER_STEPS} optimiser steps on a batch" in said
    assert "may read up to a quarter low" in said and "upper bound" not in said  # measured against a real grid
    # the grid's once-only work: loading, the passages encoded, the known-facts pass, the forgetting baseline
    # (the baseline is the difference of two timed probes, which a busy machine can make 0: measured, not its size)
    assert measured["known_facts_seconds"] > 0 and measured["forgetting_baseline_seconds"] >= 0
    assert estimate.fixed_seconds > measured["known_facts_seconds"] + measured["load_seconds"]
    task, _ = load_checked_task(config)
    passages, _ = corpus_passages(task)
    assert passages > 100 and runs.loc["corpus_ft", "steps"] == training_steps(passages, config)
    assert runs.loc["corpus_ft", "size"] == "0"  # one run serves every size
    # LoRA changes the base weights: the forgetting probe follows it, not prompting
    lora_after = runs.loc["lora", "seconds"] - measured["forgetting_seconds"]
    assert measured["forgetting_seconds"] > 0 and lora_after > 0

    # geo-qa's knowledge update follows every run: its questions asked before the new facts, and again after where
    # the method takes them in: retrieval indexes them, a fine-tuned LLM trains on them, prompting cannot (about a
    # sixth of a full fine-tuning run on smollm2, which the estimate left out)
    from core.running.estimate import plan_seconds
    from core.running.estimate_decoder import knowledge_update_seconds

    update = measured["knowledge_update"]
    assert update["questions"] == len(task.knowledge_update.test) > 0 and update["qa"]
    assert update["documents"] == len(task.knowledge_update.documents) > 0 and update["document_tokens"] > 1

    def asked(method):
        return update["questions"] * measured["predict_seconds_per_text"][method]

    assert knowledge_update_seconds("prompt", 0, config, measured) == pytest.approx(asked("prompt"))
    assert knowledge_update_seconds("rag", 16, config, measured) == pytest.approx(2 * asked("rag"))
    assert knowledge_update_seconds("lora", 16, config, measured) > 2 * asked("lora")  # and training on them
    without = plan_seconds(config, task, {**measured, "knowledge_update": {}}).set_index("method").seconds
    assert ((runs.seconds - without) > 0).all()
