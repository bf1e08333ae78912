"""The time and cost estimate's measurements on a decoder LLM: each method of the grid fitted and asked for real.

    measured, fixed_seconds = measure_decoder(config, methods)   # core/running/estimate.py turns them into runs

An LLM run's cost is not an encoder's: answering a question generates tokens (longer prompts with shots or
passages cost more), fine-tuning steps run over whole prompts, and a grid adds passes of its own (the known-facts
pass on QA, the forgetting probe after fine-tuning). So each method is fitted the way its runs will fit it (a few
real optimiser steps for those that train), then answers a sample of test questions with the runs' own evaluation
(batched, then one at a time for the latency); the grid's passes are timed on the same model.
"""

from __future__ import annotations

import dataclasses
import time

from core.config import ExperimentConfig

SAMPLE_QUESTIONS = 2  # test questions each method answers to time its evaluation: in a batch of 2, then alone (a
# run answers in larger batches, so its answering is estimated high; generating is most of an LLM estimate's time)
# a validation check is a forward pass over each example, about a third of a training step's forward and backward
CHECK_SHARE_OF_STEP = 1 / 3


def measure_decoder(config: ExperimentConfig, methods: list[str]) -> tuple[dict, float, object]:
    """(the timings plan_seconds reads, the grid's once-only seconds: loading the models, encoding the passages,
    the known-facts pass and the forgetting probe's base-model baseline; the torch device it ran on)."""
    from core.methods import METHODS
    from core.running.run import load_experiment
    from core.running.runner import warm_embeddings
    from core.training.sft import MAX_VALIDATION_EXAMPLES

    started = time.perf_counter()
    experiment = load_experiment(config)
    fixed = time.perf_counter() - started
    if any(METHODS[m].retrieves for m in methods):  # the runner encodes every text once before the grid
        started = time.perf_counter()
        warm_embeddings(experiment.embedder, experiment.task)
        fixed += time.perf_counter() - started
    measured: dict = {"family": "decoder", "step_seconds": {}, "setup_seconds": {}, "fit_seconds": {},
                      "predict_seconds_per_text": {}, "alone_seconds_per_text": {},
                      "check_seconds_per_example": {}, "forgetting_seconds": 0.0,
                      "early_stop_examples": min(len(experiment.task.validation), MAX_VALIDATION_EXAMPLES),
                      "max_validation_examples": MAX_VALIDATION_EXAMPLES, "load_seconds": fixed}
    known_facts = _known_facts_questions(experiment)
    for method in dict.fromkeys([*methods, *(["prompt"] if known_facts else [])]):  # the pass answers as prompt does
        fitted = _measure_method(experiment, method, measured)
        if _forgets(METHODS[method], config) and "forgetting_baseline_seconds" not in measured:
            fixed += _measure_forgetting(experiment, fitted, measured)
    if known_facts:
        # the base model answers each question greedily, then `samples` times by sampling, each about as long
        passes = 1 + config.llm.known_facts.samples
        measured["known_facts_seconds"] = known_facts * passes * measured["predict_seconds_per_text"]["prompt"]
        fixed += measured["known_facts_seconds"]
    return measured, fixed, experiment.base.device


def _measure_method(experiment, method: str, measured: dict):
    """Fit one method as a run of the grid's smallest size would, then time it answering a sample of questions."""
    from core.methods import METHODS
    from core.running.fit_timing import MEASURE_STEPS, timed_fit
    from core.running.grid import RunSpec
    from core.running.run import Progress, Run, evaluate, fit_context
    from core.task.sizes import NO_TRAINING_DATA

    config, task, spec = experiment.config, experiment.task, METHODS[method]
    size = str(config.sizes[0]) if spec.uses_training_data else NO_TRAINING_DATA
    run_spec = RunSpec(method, size, config.seeds[0])
    ctx = fit_context(run_spec, task, experiment.labels, experiment.base, experiment.embedder, config, Progress())
    if spec.trains_network:
        ctx.refit_steps = MEASURE_STEPS  # exactly these steps and nothing validated: the step time alone
    fitted, started, ticks = timed_fit(method, ctx)
    fit_seconds = time.perf_counter() - started
    if spec.trains_network:
        (t0, s0), (t1, s1) = (ticks[0], ticks[-1]) if ticks else ((started + fit_seconds, 1),) * 2
        step = (t1 - t0) / (s1 - s0) if s1 > s0 else fit_seconds
        measured["step_seconds"][method] = step
        measured["setup_seconds"][method] = max(0.0, t0 - started - step)  # the model loaded, examples tokenized
        batch = min(config.training.batch_size, max(1, len(ctx.train_texts)))
        measured["check_seconds_per_example"][method] = step / batch * CHECK_SHARE_OF_STEP
    else:
        measured["fit_seconds"][method] = fit_seconds  # a prompt written, shots chosen, passages indexed
    sample = task.test.head(SAMPLE_QUESTIONS)
    run = Run(run_spec, dataclasses.replace(experiment, task=dataclasses.replace(task, test=sample)), Progress(),
              ctx=ctx, fitted=fitted)
    started = time.perf_counter()
    evaluate(run)  # the runs' own evaluation: answers in a batch, then the latency questions one at a time
    seconds = time.perf_counter() - started
    alone = run.record.get("latency_p50_ms", 0.0) / 1000
    measured["alone_seconds_per_text"][method] = alone
    measured["predict_seconds_per_text"][method] = max(0.0, seconds - alone * run.record.get(
        "latency_queries", 0)) / len(sample)
    return fitted


def _forgets(spec, config: ExperimentConfig) -> bool:
    """Whether a run of this method measures forgetting after it (the runner's follow-up on a decoder)."""
    return config.forgetting != "off" and spec.changes_base_weights


def _measure_forgetting(experiment, fitted, measured: dict) -> float:
    """Time the forgetting probe twice on a fine-tuned model: the first also measures the base model (once per
    grid), the second is what every later run pays. Returns the once-per-grid seconds."""
    from core.evaluation.llm_forgetting import decoder_forgetting

    baseline: dict = {}
    started = time.perf_counter()
    decoder_forgetting(fitted, experiment.base, baseline)
    first = time.perf_counter() - started
    started = time.perf_counter()
    decoder_forgetting(fitted, experiment.base, baseline)
    measured["forgetting_seconds"] = time.perf_counter() - started
    measured["forgetting_baseline_seconds"] = max(0.0, first - measured["forgetting_seconds"])
    return measured["forgetting_baseline_seconds"]


def _known_facts_questions(experiment) -> int:
    """Questions the known-facts pass will answer before the grid: every test question and every training question
    a fine-tuning run uses (0 where the pass does not apply)."""
    from core.running.grid import plan_runs
    from core.running.known_facts import applies, trained_rows

    if not applies(experiment):
        return 0
    config = experiment.config
    plan = plan_runs(config, corpus_only_rag=config.rag.source == "corpus")
    return len(experiment.task.test) + len(trained_rows(config, experiment.task, plan))


def forgetting_seconds(method: str, config: ExperimentConfig, measured: dict) -> float:
    """The forgetting probe's seconds after a run of this method (0 where none follows)."""
    from core.methods import METHODS

    return measured.get("forgetting_seconds", 0.0) if _forgets(METHODS[method], config) else 0.0
