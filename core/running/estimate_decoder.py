"""The time and cost estimate's measurements on a decoder LLM, in seconds to a minute on a CPU.

    measured, fixed_seconds = measure_decoder(config, methods)   # core/running/estimate.py turns them into runs

An LLM run's cost is not an encoder's: answering a question generates tokens (longer prompts with shots or
passages cost more), fine-tuning steps run over whole prompts, and a grid adds passes of its own (the known-facts
pass on QA, the known/unknown checkpoints during fine-tuning, the forgetting probe after it). Measuring all of it for
real took minutes per method on a busy CPU, so the estimate measures what each cost is made of and extrapolates,
saying so (ESTIMATE_NOTES):

- the model is loaded once and shared by every method;
- answering is timed twice by the base model, as runs answer: one test question alone (the latency queries), and a
  batch of test questions at the run's answering batch size (the test set, the known-facts pass, the checkpoints).
  Each gives the seconds to read a prompt token and to write an answer; a method's answer is that, scaled to its own
  prompt (its shots or passages, counted by rendering its prompt for the same questions): all methods run the same
  architecture, so a token costs the same whatever its weights;
- training is timed once per kind of step (adapters over the frozen model: lora, rag_lora, corpus_ft; every weight:
  full, scratch): the first method of a kind runs DECODER_STEPS real optimiser steps on a batch of its training
  examples of median length at the run's batch size (the first a warm-up, counted as set-up), which gives a training
  token's seconds once the optimiser's update, paid once a step and timed apart (update_seconds), is taken out. A
  step of one example costs far more per token than a packed batch (the weights are read for a few dozen tokens, not
  a thousand): on smollm2 and a 2-core CPU it cost about 2.5x a packed batch's per token. Every method of that kind
  costs one update plus that times the tokens of its own training examples (tokenized, not trained on: a rag_lora
  example carries its passages, a corpus_ft example is a passage), at its batch size.
"""

from __future__ import annotations

import dataclasses
import time

from core.config import ExperimentConfig

DECODER_STEPS = 2  # optimiser steps run per kind of step: a warm-up, then the one timed
# a validation check is a forward pass over each example, about a third of a training step's forward and backward
CHECK_SHARE_OF_STEP = 1 / 3
# what the estimate extrapolates, said beside it (decoder_estimate adds these to its notes)
ESTIMATE_NOTES = ("answering was timed by the base model on one test question alone (the latency queries) and on "
                  "a batch of test questions (the test set and the other passes), each scaled to a method's prompt "
                  "length (its shots or passages) and the base model's answer length",
                  f"training ran {DECODER_STEPS} optimiser steps on a batch of median-length examples once per kind "
                  "of step (adapters; every weight), the first a warm-up counted as set-up; each trained method's "
                  "step is one optimiser update (timed apart, "
                  "on as many weights as it trains) plus the step's forward and backward seconds per token times the "
                  "tokens of its own training examples at its batch size")


def step_kind(spec) -> str:
    """Methods whose steps cost the same per token: adapters over the shared frozen model, or every weight."""
    return "adapter" if spec.shares_base_model else "every weight"


def measure_decoder(config: ExperimentConfig, methods: list[str], done: set[str] = frozenset(),
                    answered: set[tuple[str, int]] = frozenset()) -> tuple[dict, float, object]:
    """(the timings plan_seconds reads, the grid's once-only seconds: loading the models, encoding the passages,
    the known-facts pass and the forgetting probe's base-model baseline; the torch device it ran on). done: the
    runs already stored; answered: the known-facts pass's questions already stored (a resumed grid skips both)."""
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
                      "check_seconds_per_example": {}, "forgetting_seconds": 0.0, "train_tokens": {},
                      "token_step_seconds": {}, "early_stop_examples": min(len(experiment.task.validation),
                                                                           MAX_VALIDATION_EXAMPLES),
                      "max_validation_examples": MAX_VALIDATION_EXAMPLES, "load_seconds": fixed}
    known_facts, checkpoints = _known_facts_answers(experiment, done, answered), _checkpoint_settings(experiment)
    costs, template = None, None
    # the pass and the checkpoints answer closed-book, as prompt-only does: its answering is what they cost
    for method in dict.fromkeys([*methods, *(["prompt"] if known_facts or checkpoints["checkpoints"] else [])]):
        spec = METHODS[method]
        timed = not spec.trains_network or step_kind(spec) not in measured["token_step_seconds"] or (
            _forgets(spec, config) and "forgetting_baseline_seconds" not in measured)
        fitted = _measure_method(experiment, method, measured) if timed else _count_method(experiment, method,
                                                                                             measured, template)
        if timed:
            template = template or fitted
            costs = costs or _answer_costs(experiment, fitted, measured)  # on the first method fitted: the base's
        _answering(experiment, method, fitted, costs, measured)
        if timed and _forgets(spec, config) and "forgetting_baseline_seconds" not in measured:
            fixed += _measure_forgetting(experiment, fitted, measured)
    if known_facts:
        measured["known_facts_seconds"] = known_facts * measured["batch_seconds_per_text"]["prompt"]
        fixed += measured["known_facts_seconds"]
    measured |= checkpoints | _knowledge_update_settings(experiment)
    return measured, fixed, experiment.base.device


def _run_context(experiment, method: str, config: ExperimentConfig | None = None):
    """The context a run of the grid's smallest size would fit with (under `config` where given)."""
    from core.methods import METHODS
    from core.running.grid import RunSpec
    from core.running.run import Progress, fit_context
    from core.task.sizes import NO_TRAINING_DATA

    config, spec = config or experiment.config, METHODS[method]
    size = str(config.sizes[0]) if spec.uses_training_data else NO_TRAINING_DATA
    return fit_context(RunSpec(method, size, config.seeds[0]), experiment.task, experiment.labels, experiment.base,
                       experiment.embedder, config, Progress())


def _measure_method(experiment, method: str, measured: dict):
    """Fit one method as a run of the grid's smallest size would; a trained one, the first of its kind of step, on
    one batch of training examples of median length for DECODER_STEPS steps: a step's seconds per token for the
    kind."""
    from core.methods import METHODS
    from core.running.fit_timing import timed_fit

    spec = METHODS[method]
    ctx = _run_context(experiment, method)
    if spec.trains_network:
        from core.methods.decoder.fits import build_retriever

        tokens = _training_tokens(ctx, method, build_retriever(ctx) if spec.retrieves else None)
        # one batch, every step over it: the timed step's tokens are known exactly and packed as a run packs them
        ctx = _batch_of(ctx, spec, tokens["median_batch"])
        ctx.refit_steps = DECODER_STEPS  # exactly these steps and nothing validated: the step time alone
    fitted, started, ticks = timed_fit(method, ctx)
    fit_seconds = time.perf_counter() - started
    if not spec.trains_network:
        measured["fit_seconds"][method] = fit_seconds  # a prompt written, shots chosen, passages indexed
        return fitted
    (t0, s0), (t1, s1) = (ticks[0], ticks[-1]) if ticks else ((started + fit_seconds, 1),) * 2
    step = (t1 - t0) / (s1 - s0) if s1 > s0 else fit_seconds  # one step over the batch
    # the step's update (clipping, AdamW, zeroing) is paid once a step whatever its batch: timed apart, so that a
    # full step of `batch` examples is one update plus `batch` examples' forward and backward, not `batch` updates
    update = min(step, update_seconds(getattr(fitted, "trainable_parameters", 0), experiment.base.device))
    measured.setdefault("update_seconds", {})[step_kind(spec)] = update
    stepped = tokens["median_batch_tokens"]
    if not spec.uses_training_data:  # corpus fine-tuning holds one passage in twenty out of its steps
        from core.running.estimate_counts import corpus_passages

        stepped *= corpus_passages(ctx)[0] / len(ctx.corpus)  # ctx: the timed batch's passages
    measured["token_step_seconds"][step_kind(spec)] = (step - update) / stepped
    setup = max(0.0, t0 - started - step)  # the model loaded and wrapped, the examples tokenized, the warm-up
    measured.setdefault("kind_setup_seconds", {})[step_kind(spec)] = setup
    _method_steps(method, measured, tokens, setup=setup, batch=experiment.config.training.batch_size)
    return fitted


UPDATE_SAMPLE = 4_000_000  # weights an update is timed on; it is linear in them (memory-bound), so scaled up


def update_seconds(parameters: int, device) -> float:
    """Seconds of one optimiser update of `parameters` trainable weights as the training loop does it (clipping the
    gradient norm, a fused AdamW step, zeroing the gradients), timed on a flat tensor of at most UPDATE_SAMPLE
    weights on the run's device and scaled to `parameters`."""
    import torch

    if parameters <= 0:
        return 0.0
    sample = min(parameters, UPDATE_SAMPLE)
    weights = torch.nn.Parameter(torch.zeros(sample, device=device))
    optimizer = torch.optim.AdamW([weights], lr=1e-4, fused=torch.device(device).type in ("cuda", "cpu"))
    best = float("inf")
    for _ in range(3):  # the first allocates AdamW's state: the best of the rest
        weights.grad = torch.ones_like(weights)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        torch.nn.utils.clip_grad_norm_([weights], 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - started)
    return best * parameters / sample


def _batch_of(ctx, spec, rows: list[int]):
    """The context with only these training examples (passages, for a method that trains on the documents)."""
    if not spec.uses_training_data:
        return dataclasses.replace(ctx, corpus=ctx.corpus.iloc[rows].reset_index(drop=True))
    frame = ctx.train_frame.iloc[rows].reset_index(drop=True) if ctx.train_frame is not None else None
    return dataclasses.replace(ctx, train_texts=[ctx.train_texts[row] for row in rows],
                               train_labels=ctx.train_labels[rows], train_frame=frame)


def _count_method(experiment, method: str, measured: dict, template):
    """A trained method whose kind of step was timed: its training examples tokenized, not trained on; its step the
    kind's seconds per token times its own tokens. Returns what renders its prompts (the template's model and
    prompt builder, its own instruction and retrieval)."""
    from core.methods import METHODS
    from core.methods.decoder.fits import build_retriever, instruction

    spec = METHODS[method]
    ctx = _run_context(experiment, method)
    started = time.perf_counter()
    retriever = build_retriever(ctx) if spec.retrieves else None  # part of its set-up, as in its fit
    tokens = _training_tokens(ctx, method, retriever)
    setup = measured["kind_setup_seconds"][step_kind(spec)] + time.perf_counter() - started
    _method_steps(method, measured, tokens, setup=setup, batch=experiment.config.training.batch_size)
    # a fine-tuned model answers with the prompt-only (or RAG) prompt: no shots, its own retrieval
    return dataclasses.replace(template, instruction=instruction(ctx, passages=retriever is not None),
                               retriever=retriever, shots=[], shot_picker=None)


def _method_steps(method: str, measured: dict, tokens: dict, setup: float, batch: int) -> None:
    """A run's step over `batch` of its examples: forward and backward grow with the tokens in the step; the
    optimiser's update is paid once a step."""
    from core.methods import METHODS

    kind = step_kind(METHODS[method])
    measured["train_tokens"][method] = tokens["mean"]
    measured["step_seconds"][method], measured["check_seconds_per_example"][method] = _step_and_check(
        measured, kind, tokens["mean"], min(batch, max(1, tokens["examples"])))
    measured["setup_seconds"][method] = setup  # the model loaded and wrapped, examples tokenized, the warm-up step


def _step_and_check(measured: dict, kind: str, tokens: float, batch: int) -> tuple[float, float]:
    """(a step's seconds over `batch` examples of `tokens` tokens, a validation check's seconds per example) for a
    kind of step: one optimiser update plus forward and backward per token; a check a share of one example's."""
    per_token = measured["token_step_seconds"][kind]
    return (measured.get("update_seconds", {}).get(kind, 0.0) + per_token * tokens * batch,
            per_token * tokens * CHECK_SHARE_OF_STEP)


def _training_tokens(ctx, method: str, retriever) -> dict:
    """{'mean': tokens per training example, 'examples': how many, 'median_batch': the positions of a batch (the
    run's batch size) of examples around the median length, 'median_batch_tokens': their tokens}, the examples
    built as the method's fit builds them: the rendered training prompts and answers (with retrieved passages for a
    method that retrieves), or the corpus passages for one that trains on the documents."""
    from core.backbone.prompts import PromptBuilder
    from core.methods import METHODS
    from core.methods.decoder.fits import sft_examples, training_pairs
    from core.training.sft import Example, encode_examples

    base = ctx.base
    prompts = PromptBuilder(base.tokenizer, base.max_length - ctx.config.llm.max_new_tokens)
    if METHODS[method].uses_training_data:
        train, _ = training_pairs(ctx)
        examples = sft_examples(ctx, prompts, train, retriever)
        suffix = prompts.answer_suffix()
    else:  # continued pre-training on the passages (core/methods/corpus_ft.py)
        examples = [Example("", text) for text in (ctx.corpus.text.tolist() if ctx.corpus is not None else [])]
        suffix = base.tokenizer.eos_token or ""
    ids, _ = encode_examples(base.tokenizer, examples, base.max_length, suffix)
    lengths = [len(row) for row in ids] or [1]
    by_length = sorted(range(len(lengths)), key=lengths.__getitem__)
    batch = min(ctx.config.training.batch_size, len(by_length))
    first = max(0, min(len(by_length) - batch, len(by_length) // 2 - batch // 2))
    rows = by_length[first:first + batch]  # the batch around the median length
    return {"mean": sum(lengths) / len(lengths), "examples": len(ids), "median_batch": rows,
            "median_batch_tokens": max(1, sum(lengths[row] for row in rows))}


def _question(experiment, count: int = 1) -> tuple[list[str], list[str]]:
    """The first `count` test questions, which every method is timed on, with their contexts."""
    test = experiment.task.test.head(count)
    return test.text.tolist(), (test.context.tolist() if "context" in test else [""] * len(test))


def _answer_costs(experiment, fitted, measured: dict) -> dict:
    """Seconds per prompt token read and per answer written, alone and in a batch, and the answer's length.

    Alone: one question read once to warm up (the first call allocates and loads kernels), read again, timed (a
    forward pass over the prompt, as scoring an option does), then answered, timed (which gives the answer's length).
    In a batch: the first test questions, as many as a run answers at once, read (one token written) and answered
    as the test set, the known-facts pass and the checkpoints answer them (a batch reads the weights once for every
    question in it and a start its prompts share once, so a question costs a fraction of one answered alone).
    Measured on a method that does not change the weights where one is first (prompt-only); the architecture, and
    so a token's cost, is the same for all."""
    lm = fitted.lm
    test = experiment.task.test
    questions, contexts = _question(experiment)
    prompts = fitted.render(questions, contexts)
    tokens = max(1, fitted.prompt_tokens[0])
    reference = [" " + test.label.iloc[0]]
    lm.loglikelihoods(prompts, reference)  # warm-up: one forward pass, not a whole generation
    started = time.perf_counter()
    lm.loglikelihoods(prompts, reference)
    read = time.perf_counter() - started
    started = time.perf_counter()
    _, generated = lm.generate(prompts, batch_size=1)
    answered = time.perf_counter() - started
    answer_tokens = max(1, generated[0])
    costs = {"prompt_token_seconds": read / tokens, "answer_token_seconds": max(0.0, answered - read) / answer_tokens,
             "answer_tokens": answer_tokens, "timed_prompt_tokens": tokens}
    questions, contexts = _question(experiment, min(lm.batch_size, len(test)))
    prompts = fitted.render(questions, contexts)
    new_tokens, lm.max_new_tokens = lm.max_new_tokens, 1
    try:  # the batch read: its prompts' first forward (a start they share runs once), one token written
        started = time.perf_counter()
        lm.generate(prompts)
        read = time.perf_counter() - started
    finally:
        lm.max_new_tokens = new_tokens
    started = time.perf_counter()
    lm.generate(prompts)  # the whole answers: the batch's rows stop as they finish, as in a run
    answered = time.perf_counter() - started
    costs |= {"batch_prompt_token_seconds": read / _tokens_read(lm, prompts),
              "batch_answer_seconds": max(0.0, answered - read) / len(prompts), "batch_questions": len(prompts)}
    measured["answer_costs"] = costs
    return costs


def _tokens_read(lm, prompts: list[str]) -> int:
    """Tokens a batch of prompts runs through the model before answering: a start they all share runs once
    (LanguageModel.generate's shared prefix: an instruction, few-shot examples chosen once), the rest once a row."""
    rows = lm.encode(prompts)
    shared = lm.shared_prefix(rows)
    return max(1, shared + sum(len(row) - shared for row in rows))


def _answering(experiment, method: str, fitted, costs: dict, measured: dict) -> None:
    """A method's seconds per question, alone and in a batch, from the measured token costs and its own prompt
    length; scoring a question's answer options (where the task has them) reads the prompt once more."""
    questions, contexts = _question(experiment)
    fitted.render(questions, contexts)  # its shots or passages, as its runs prompt
    tokens = fitted.prompt_tokens[0]
    read = tokens * costs["prompt_token_seconds"]
    alone = read + costs["answer_tokens"] * costs["answer_token_seconds"]
    questions, contexts = _question(experiment, costs["batch_questions"])  # its batch: what it shares, what not
    read_batched = _tokens_read(fitted.lm, fitted.render(questions, contexts)) / costs["batch_questions"] * \
        costs["batch_prompt_token_seconds"]
    batched = read_batched + costs["batch_answer_seconds"]
    measured["prompt_tokens"] = measured.get("prompt_tokens", {}) | {method: tokens}
    measured.setdefault("batch_seconds_per_text", {})[method] = batched
    test = experiment.task.test
    if fitted.kind == "classification":  # labels scored after one reading of the prompt; a sample also generates
        from core.evaluation.qa import GENERATED_SAMPLE

        measured["alone_seconds_per_text"][method] = read
        measured["predict_seconds_per_text"][method] = read_batched + min(GENERATED_SAMPLE, len(test)) * batched / \
            len(test)
        return
    options = "options" in test and any(len(o) for o in test.options)
    measured["alone_seconds_per_text"][method] = alone
    measured["predict_seconds_per_text"][method] = batched + (read_batched if options else 0.0)


def _forgets(spec, config: ExperimentConfig) -> bool:
    """Whether a run of this method measures forgetting after it (the runner's follow-up on a decoder)."""
    return config.forgetting != "off" and spec.changes_base_weights


def _measure_forgetting(experiment, fitted, measured: dict) -> float:
    """Time the forgetting probe once on a fine-tuned model; its first probe of a grid also measures the base model
    (once per grid). The two halves read the same texts on the same architecture, so each is taken as half of it
    (the base half also loads the base model: an upper bound for the later runs). Returns the once-per-grid
    seconds."""
    from core.evaluation.llm_forgetting import decoder_forgetting

    started = time.perf_counter()
    decoder_forgetting(fitted, experiment.base, {})
    measured["forgetting_seconds"] = measured["forgetting_baseline_seconds"] = (time.perf_counter() - started) / 2
    return measured["forgetting_baseline_seconds"]


def _known_facts_answers(experiment, done: set[str] = frozenset(),
                         answered: set[tuple[str, int]] = frozenset()) -> int:
    """Answers the known-facts pass will generate before or after the grid (0 where it does not apply): every
    training question a fine-tuning run still to do uses, greedily and `samples` times by sampling; every test
    question the same, except that the greedy answers come from the grid's prompt-only run where it has one to do
    (the very answers the pass would generate: core/running/known_facts.py), leaving only the samples. Questions
    the pass has already answered (`answered`, a resumed grid) are not answered again, as the pass skips them."""
    from core.running.grid import plan_runs
    from core.running.known_facts import applies, trained_rows

    if not applies(experiment):
        return 0
    config = experiment.config
    plan = plan_runs(config, corpus_only_rag=config.rag.source == "corpus")
    answers = 1 + config.llm.known_facts.samples
    # a prompt-only run to do answers them first; a finished one's stored answers are read (prompt_run_answers)
    tests_greedy_from_prompt = any(spec.method == "prompt" for spec in plan) or any(
        key.split("|")[0] == "prompt" for key in done)
    tests = sum(("test", row) not in answered for row in range(len(experiment.task.test)))
    to_do = [spec for spec in plan if spec.key not in done]
    trained = sum(("train", row) not in answered for row in trained_rows(config, experiment.task, to_do))
    return tests * (answers - tests_greedy_from_prompt) + trained * answers


def _checkpoint_settings(experiment) -> dict:
    """What checkpoint_seconds reads: the known/unknown checkpoints each fine-tuning run answers at its epoch ends
    (core/evaluation/learning_epochs.py), none where the known-facts pass does not apply."""
    from core.evaluation.learning_epochs import TEST_QUESTIONS
    from core.running.grid import plan_runs
    from core.running.known_facts import applies, trained_rows

    if not applies(experiment):
        return {"checkpoints": 0}
    config, task = experiment.config, experiment.task
    plan = plan_runs(config, corpus_only_rag=config.rag.source == "corpus")
    return {"checkpoints": config.llm.known_facts.checkpoints, "checkpoint_tests": min(TEST_QUESTIONS, len(task.test)),
            # a method that trains on the documents answers every categorised training question (learning_epochs.py)
            "checkpoint_corpus_questions": len(trained_rows(config, task, plan))}


def checkpoint_seconds(method: str, trainings: list[int], config: ExperimentConfig, measured: dict) -> float:
    """Seconds a run of this method spends answering at its known/unknown checkpoints: at each chosen epoch end
    (checkpoint_epochs) of each training it follows (trainings: the examples each trains on; under a refit, the
    refit's alone),
    its training questions and a sample of test questions, closed-book, as the prompt-only method answers."""
    from core.evaluation.learning_epochs import checkpoint_epochs
    from core.methods import METHODS
    from core.training.loop import plan_steps

    spec = METHODS[method]
    if not measured.get("checkpoints") or not spec.changes_base_weights or spec.retrieves:
        return 0.0
    budget, per_question = config.budget, measured["batch_seconds_per_text"]["prompt"]
    seconds = 0.0
    for examples in trainings:
        epochs = plan_steps(examples, config.training.batch_size, budget.max_epochs, budget.min_steps).epochs
        asked = (examples if spec.uses_training_data else measured["checkpoint_corpus_questions"]) + \
            measured["checkpoint_tests"]
        seconds += len(checkpoint_epochs(epochs, measured["checkpoints"])) * asked * per_question
    return seconds


def _knowledge_update_settings(experiment) -> dict:
    """What knowledge_update_seconds reads: the new facts' questions, documents and the documents' tokens (none
    where the task has no knowledge update)."""
    update = experiment.task.knowledge_update
    if update is None:
        return {}
    tokenizer, passages = experiment.base.tokenizer, update.documents.text.tolist()
    lengths = [len(ids) + 1 for ids in tokenizer(passages, add_special_tokens=False)["input_ids"]] or [1]
    labelled = int(update.documents.label.isin(experiment.labels).sum()) if "label" in update.documents else 0
    return {"knowledge_update": {"questions": len(update.test), "documents": len(passages), "labelled": labelled,
                                 "document_tokens": sum(lengths) / len(lengths),
                                 "qa": experiment.task.kind == "qa"}}


def knowledge_update_seconds(method: str, examples: int, config: ExperimentConfig, measured: dict) -> float:
    """The knowledge update after a run (core/running/knowledge_update.py): the new facts' questions answered
    before, and again after where the method takes the facts in: retrieval indexes the new documents; an LLM
    fine-tuned on questions continues training on them (the budget's steps over the documents); one fine-tuned on
    labels fits again with the labelled ones added to its `examples`. Prompting takes nothing in."""
    from core.methods import METHODS
    from core.running.estimate_counts import evaluations, training_steps

    update, spec = measured.get("knowledge_update"), METHODS[method]
    if not update:
        return 0.0
    asked = update["questions"] * measured["predict_seconds_per_text"][method]
    if spec.retrieves:
        return 2 * asked
    if not spec.trains_network:
        if update["qa"] or not spec.uses_training_data:
            return asked
        return 2 * asked + measured["fit_seconds"].get(method, 0.0)
    if not update["qa"]:
        steps = training_steps(examples + update["labelled"], config)
        return 2 * asked + measured["setup_seconds"][method] + steps * measured["step_seconds"][method]
    documents, steps = update["documents"], training_steps(update["documents"], config)
    step, check = _step_and_check(measured, step_kind(spec), update["document_tokens"],
                                  min(config.training.batch_size, documents))
    return 2 * asked + steps * step + evaluations(steps) * max(1, documents // 10) * check  # a tenth checked


def forgetting_seconds(method: str, config: ExperimentConfig, measured: dict) -> float:
    """The forgetting probe's seconds after a run of this method (0 where none follows)."""
    from core.methods import METHODS

    return measured.get("forgetting_seconds", 0.0) if _forgets(METHODS[method], config) else 0.0
