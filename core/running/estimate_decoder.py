"""The time and cost estimate's measurements on a decoder LLM, in a couple of minutes on a CPU.

    measured, fixed_seconds = measure_decoder(config, methods)   # core/running/estimate.py turns them into runs

An LLM run's cost is not an encoder's: answering a question generates tokens (longer prompts with shots or
passages cost more), fine-tuning steps run over whole prompts, and a grid adds passes of its own (the known-facts
pass on QA, the forgetting probe after fine-tuning). Measuring all of it for real took minutes per method on a busy
CPU, so the estimate measures what each cost is made of and extrapolates, saying so (ESTIMATE_NOTES):

- the model is loaded once and shared by every method;
- answering is timed once, on one test question answered alone by the base model: the seconds to read a prompt
  token and to generate an answer token. Each method's answer is that, scaled to its own prompt (its shots or
  passages, counted by rendering its prompt for the same question) and the base model's answer length: all methods
  run the same architecture, so a token costs the same whatever its weights;
- a method that trains runs DECODER_STEPS real optimiser steps of one example each; the first (warm-up:
  allocations, first kernels) is counted as set-up, the second, times the batch size, is a run's step time. A step
  over a full batch took minutes on a busy 2-core CPU; its forward and backward grow with the examples in it.
"""

from __future__ import annotations

import time

from core.config import ExperimentConfig

DECODER_STEPS = 2  # optimiser steps run per trained method: a warm-up, then the one timed
# a validation check is a forward pass over each example, about a third of a training step's forward and backward
CHECK_SHARE_OF_STEP = 1 / 3
# what the estimate extrapolates, said beside it (decoder_estimate adds these to its notes)
ESTIMATE_NOTES = ("answering was timed on one test question answered alone by the base model and scaled to each "
                  "method's prompt length (its shots or passages) and the base model's answer length; runs answer in "
                  "batches, which costs less per question, so answering is an upper bound",
                  f"each trained method ran {DECODER_STEPS} optimiser steps of one example each: the first (warm-up) "
                  "counts as set-up, the second times one example, and a run's step is taken to cost that times its "
                  "batch size (an upper bound: the optimiser's update is paid once a step)")


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
    costs = None
    for method in dict.fromkeys([*methods, *(["prompt"] if known_facts else [])]):  # the pass answers as prompt does
        fitted = _measure_method(experiment, method, measured)
        costs = costs or _answer_costs(experiment, fitted, measured)  # on the first method fitted: the base model's
        _answering(experiment, method, fitted, costs, measured)
        if _forgets(METHODS[method], config) and "forgetting_baseline_seconds" not in measured:
            fixed += _measure_forgetting(experiment, fitted, measured)
    if known_facts:
        # the base model answers each question greedily, then `samples` times by sampling, each about as long
        passes = 1 + config.llm.known_facts.samples
        measured["known_facts_seconds"] = known_facts * passes * measured["predict_seconds_per_text"]["prompt"]
        fixed += measured["known_facts_seconds"]
    return measured, fixed, experiment.base.device


def _measure_method(experiment, method: str, measured: dict):
    """Fit one method as a run of the grid's smallest size would (DECODER_STEPS steps where it trains)."""
    from core.methods import METHODS
    from core.running.fit_timing import timed_fit
    from core.running.grid import RunSpec
    from core.running.run import Progress, fit_context
    from core.task.sizes import NO_TRAINING_DATA

    config, task, spec = experiment.config, experiment.task, METHODS[method]
    size = str(config.sizes[0]) if spec.uses_training_data else NO_TRAINING_DATA
    run_spec = RunSpec(method, size, config.seeds[0])
    batch = config.training.batch_size
    if spec.trains_network:  # steps of one example each: a step's work grows with the examples in it (see below)
        config = config.model_copy(update={"training": config.training.model_copy(update={"batch_size": 1})})
    ctx = fit_context(run_spec, task, experiment.labels, experiment.base, experiment.embedder, config, Progress())
    if spec.trains_network:
        ctx.refit_steps = DECODER_STEPS  # exactly these steps and nothing validated: the step time alone
    fitted, started, ticks = timed_fit(method, ctx)
    fit_seconds = time.perf_counter() - started
    if spec.trains_network:
        (t0, s0), (t1, s1) = (ticks[0], ticks[-1]) if ticks else ((started + fit_seconds, 1),) * 2
        step = (t1 - t0) / (s1 - s0) if s1 > s0 else fit_seconds  # one example's step
        batch = min(batch, max(1, len(ctx.train_texts)))
        # a run's step over `batch` examples: forward and backward grow with the tokens in the step, and the
        # optimiser's update, paid once a step, is counted `batch` times: an upper bound
        measured["step_seconds"][method] = step * batch
        measured["setup_seconds"][method] = max(0.0, t0 - started - step)  # the model loaded, examples tokenized
        measured["check_seconds_per_example"][method] = step * CHECK_SHARE_OF_STEP
    else:
        measured["fit_seconds"][method] = fit_seconds  # a prompt written, shots chosen, passages indexed
    return fitted


def _question(experiment) -> tuple[list[str], list[str]]:
    """The one test question every method is timed on, with its context."""
    test = experiment.task.test.head(1)
    return test.text.tolist(), (test.context.tolist() if "context" in test else [""])


def _answer_costs(experiment, fitted, measured: dict) -> dict:
    """Seconds per prompt token read and per answer token generated, and the answer's length, from one question
    answered alone: once to warm up (and to know the answer's length), then read alone (a forward pass over the
    prompt, as scoring an option does), then answered again, timed. Measured on a method that does not change the
    weights where one is first (prompt-only); the architecture, and so a token's cost, is the same for all."""
    questions, contexts = _question(experiment)
    lm = fitted.lm
    prompts = fitted.render(questions, contexts)
    tokens = max(1, fitted.prompt_tokens[0])
    _, generated = lm.generate(prompts, batch_size=1)  # warm-up: the first call allocates and loads kernels
    started = time.perf_counter()
    lm.loglikelihoods(prompts, [" " + experiment.task.test.label.iloc[0]])
    read = time.perf_counter() - started
    started = time.perf_counter()
    lm.generate(prompts, batch_size=1)
    answered = time.perf_counter() - started
    answer_tokens = max(1, generated[0])
    costs = {"prompt_token_seconds": read / tokens, "answer_token_seconds": max(0.0, answered - read) / answer_tokens,
             "answer_tokens": answer_tokens, "timed_prompt_tokens": tokens}
    measured["answer_costs"] = costs
    return costs


def _answering(experiment, method: str, fitted, costs: dict, measured: dict) -> None:
    """A method's seconds per question, alone and in a batch, from the measured token costs and its own prompt
    length; scoring a question's answer options (where the task has them) reads the prompt once more."""
    questions, contexts = _question(experiment)
    fitted.render(questions, contexts)  # its shots or passages, as its runs prompt
    tokens = fitted.prompt_tokens[0]
    read = tokens * costs["prompt_token_seconds"]
    alone = read + costs["answer_tokens"] * costs["answer_token_seconds"]
    measured["prompt_tokens"] = measured.get("prompt_tokens", {}) | {method: tokens}
    test = experiment.task.test
    if fitted.kind == "classification":  # labels scored after one reading of the prompt; a sample also generates
        from core.evaluation.qa import GENERATED_SAMPLE

        measured["alone_seconds_per_text"][method] = read
        measured["predict_seconds_per_text"][method] = read + min(GENERATED_SAMPLE, len(test)) * alone / len(test)
        return
    options = "options" in test and any(len(o) for o in test.options)
    measured["alone_seconds_per_text"][method] = alone
    measured["predict_seconds_per_text"][method] = alone + (read if options else 0.0)


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
