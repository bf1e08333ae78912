"""One run, start to end, as named steps over one `Run`: setup, fit, evaluate, measure, follow up, finish.

    record, predictions = execute_run(Run(spec, experiment, progress))

`execute_run` is the whole of it, read top to bottom. Whichever executor holds the run (one at a time, packed
processes, Ray: core/running/executor.py) calls it and stores the record.
"""

from __future__ import annotations

import copy
import dataclasses
import platform
import time
import traceback
from dataclasses import dataclass, field
from importlib import metadata

import numpy as np

from core.backbone.embeddings import Embedder, EmbeddingCache
from core.backbone.models import BaseModel, device_name
from core.config import ExperimentConfig
from core.errors import Cancelled, ConfigError, DataError
from core.evaluation.forgetting import choose_probe, forgetting_scores
from core.evaluation.learning_epochs import for_run as checkpoints_for_run
from core.evaluation.measure import (
    batch_one_latency,
    dollars,
    price_per_hour,
    stopwatch,
    stored_bytes,
    timed_in_chunks,
    track_peak_memory,
)
from core.evaluation.metrics import classification_metrics
from core.methods import METHODS, FitContext
from core.paths import adaptlab_home, now
from core.running.grid import RunSpec, subset_indices
from core.running.knowledge_update import knowledge_update
from core.running.refit import fit_and_refit, on_every_example, refit, refits
from core.running.search import search_trials, validation_score
from core.task.data import Task
from core.task.load import load_task
from core.task.sizes import NO_TRAINING_DATA
from core.task.validation import ValidationReport, unknown_descriptions, validate_task

LATENCY_SAMPLE = 256  # test texts timed uncached for the latency of methods that read the embedding cache


PACKAGES = ("adaptlab", "torch", "transformers", "peft", "sentence-transformers", "faiss-cpu", "bm25s", "scikit-learn",
            "numpy", "pandas")


class Progress:
    """What a front end hears while a grid runs. The CLI and the dashboard worker subclass it."""

    def message(self, text: str) -> None: ...
    def grid_started(self, name: str, total: int, todo: int) -> None: ...
    def run_started(self, spec: RunSpec) -> None: ...
    def run_progress(self, spec: RunSpec, fraction: float, info: dict) -> None: ...
    def run_finished(self, spec: RunSpec, record: dict) -> None: ...


def environment(base: BaseModel) -> dict:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "versions": versions,
            "device_kind": base.device.type, "device": device_name(base.device),
            "precision": "fp32" if base.autocast_dtype is None else "bf16"}


def check_task(task: Task, config: ExperimentConfig) -> ValidationReport:
    if task.kind == "qa":
        from core.task.qa import validate_qa_task

        report = validate_qa_task(task, config.sizes, config.llm.context_length, config.task.drop_leaked_from_train)
    else:
        report = validate_task(task, config.sizes, config.size_unit, config.model.max_length,
                               config.task.drop_leaked_from_train)
    if not report.ok:
        raise DataError(report.errors)
    report.warnings.extend(unknown_descriptions(config.prompt.descriptions, task.labels))
    return report


def load_checked_task(config: ExperimentConfig) -> tuple[Task, ValidationReport]:
    task = load_task(config.task, config.name, config.llm.retriever)
    return task, check_task(task, config)


RETRIEVER_MAX_LENGTH = 256  # tokens of a passage the retrieval encoder reads


def load_backbone(config: ExperimentConfig) -> tuple[BaseModel, BaseModel]:
    """(the model being adapted, the encoder whose embeddings the embedding cache and retrieval use).

    On a sentence encoder both are the same model; a decoder LLM retrieves with `llm.retriever`."""
    base = BaseModel.from_spec(config.model)
    if base.family == "encoder":
        check_length(base, "model.max_length")
        return base, base
    base.max_length = config.llm.context_length
    check_length(base, "llm.context_length")
    retriever = BaseModel.load(config.llm.retriever, config.model.device, RETRIEVER_MAX_LENGTH,
                               config.model.precision)
    if retriever.family != "encoder":
        raise ConfigError(f"llm.retriever '{config.llm.retriever}' is a decoder; retrieval embeds passages with a "
                          "sentence encoder, such as the built-in 'default'")
    return base, retriever


def check_length(base: BaseModel, setting: str) -> None:
    """Refuse a length the model cannot read: past its position embeddings, every long input fails or is garbage."""
    limit = getattr(base.config, "max_position_embeddings", None) or getattr(base.config, "n_positions", None)
    if limit and base.max_length > limit:
        raise ConfigError(f"{setting} is {base.max_length:,} tokens but {base.name} reads at most {limit:,} (its "
                          f"max_position_embeddings); set {setting} to {limit:,} or less")


def uses_embeddings(method, family: str) -> bool:
    """Whether a run reads the embedding cache: an encoder's embedding methods, or a decoder's retrieval."""
    return method.retrieves if family == "decoder" else method.uses_embeddings


@dataclass
class Experiment:
    """What every run of one experiment shares, loaded once per process (the grid's, or a packed or Ray worker's)."""

    config: ExperimentConfig
    task: Task
    base: BaseModel
    embedder: Embedder
    env: dict  # environment(): versions and device, plus how the run was executed (runs_at_once, node)
    baseline: dict = field(default_factory=dict)  # the base model's forgetting-probe scores, measured once

    @property
    def labels(self) -> list[str]:
        return self.task.labels if self.task.kind == "classification" else []


def load_experiment(config: ExperimentConfig, seconds_per_text: float | None = None,
                    on_device=lambda device: None) -> Experiment:
    """Load the task and the model for a process that executes runs handed to it (packed, Ray).

    seconds_per_text: the encoding rate the grid measured once, so every run is charged alike; on_device(device):
    called once the model is on its device, before the task loads (a packed process takes its share there)."""
    base, encoder = load_backbone(config)
    on_device(base.device)
    task, _ = load_checked_task(config)
    embedder = Embedder(encoder, EmbeddingCache.shared(), batch_size=config.training.eval_batch_size)
    if seconds_per_text is not None:
        embedder.seconds_per_text = seconds_per_text
    return Experiment(config, task, base, embedder, environment(base))


@dataclass
class Run:
    """One run as it goes: its spec and experiment, then what each step adds (the method's context, the fitted
    method, the test predictions, the record)."""

    spec: RunSpec
    experiment: Experiment
    progress: Progress
    price_share: float = 1.0  # of the device's hourly price: 1/N when N runs are packed onto it
    ctx: FitContext | None = None
    fitted: object = None
    predictions: np.ndarray | list | None = None  # QA: per-question answer match
    train_seconds: float = 0.0
    record: dict = field(default_factory=dict)


def execute_run(run: Run) -> tuple[dict, list[int] | None]:
    """One run: setup, fit, evaluate and measure, follow up, finish. A failure becomes a 'failed' record; the grid
    goes on. The executor (core/running/executor.py) stores what comes back."""
    setup(run)
    try:
        with track_peak_memory(run.experiment.base.device) as peak:
            fit(run)
            evaluate(run)
        measure(run, peak)
        follow_up(run)
    except (KeyboardInterrupt, SystemExit, Cancelled):
        raise
    except Exception as error:  # one broken run must not sink a 72-run grid
        run.record.update(status="failed", error=f"{type(error).__name__}: {error}",
                          traceback=traceback.format_exc(), finished_at=now())
        return run.record, None
    return finish(run)


def setup(run: Run) -> None:
    """The method's inputs (its training subset, validation examples, the model) and the record's opening facts."""
    spec, experiment = run.spec, run.experiment
    config, env = experiment.config, experiment.env
    ctx = run.ctx = fit_context(spec, experiment.task, experiment.labels, experiment.base, experiment.embedder,
                                config, run.progress)
    method = METHODS[spec.method]
    ctx.epoch_checkpoints = checkpoints_for_run(method, ctx, experiment.task)  # known/unknown across epochs
    from_budget = holds_out(method, config)
    run.record = {
        "run_key": spec.key, "method": spec.method, "size": spec.size, "seed": spec.seed,
        "size_unit": config.size_unit, "started_at": now(),
        # the labelled examples the run had: those it trained on, and those it early-stopped on if they came out
        # of its budget
        "train_examples": len(ctx.train_texts) + (len(ctx.val_texts) if from_budget else 0),
        "validation_examples": len(ctx.val_texts), "validation": validation_words(method, ctx, from_budget),
        "device": env["device"], "environment": env, "runs_at_once": env.get("runs_at_once", 1)}


def fit(run: Run) -> None:
    """Fit the method (its settings searched, with `tuning`); its training seconds include the texts it encoded."""
    ctx = run.ctx
    embedder_charge = ctx.embedder.charged_seconds
    with stopwatch() as fit_seconds:
        run.fitted = fit_searched(METHODS[run.spec.method], ctx)
    # the known/unknown checkpoints' answering is measurement, not training (recorded apart in follow_up)
    checking = ctx.epoch_checkpoints.seconds if ctx.epoch_checkpoints is not None else 0.0
    run.train_seconds = fit_seconds() - checking + (ctx.embedder.charged_seconds - embedder_charge)


def evaluate(run: Run) -> None:
    """Predict the test set (timed: throughput), then the latency; QA runs score their answers as they go."""
    fitted, ctx, record, task = run.fitted, run.ctx, run.record, run.experiment.task
    test_texts = task.test.text.tolist()
    decoder = ctx.base.family == "decoder"
    if ctx.kind == "qa":
        from core.evaluation.qa import evaluate_qa

        metrics, run.predictions, shown = evaluate_qa(fitted, task.test)
        record.update(metrics, **shown)
        # answering alone is what serving costs (the option scoring that follows it is evaluation)
        record["inference_seconds_per_1k"] = record["answer_seconds"] / len(test_texts) * 1000
    else:
        parts, throughput = timed_in_chunks(fitted.predict_proba, test_texts)
        run.predictions = np.concatenate(parts).argmax(axis=1)
        record.update(throughput)
    if decoder and hasattr(fitted, "latency"):
        _decoder_extras(fitted, ctx.kind, test_texts, task, labels=ctx.labels, record=record,
                        queries=ctx.config.latency_queries)
    elif not decoder:
        record.update(_encoder_latency(fitted, METHODS[run.spec.method], ctx, test_texts))


def measure(run: Run, peak) -> None:
    """What the run cost: seconds, peak memory, parameters, bytes stored, and dollars at its share of the device."""
    config, env, fitted, spec = run.experiment.config, run.experiment.env, run.fitted, run.spec
    keep = (adaptlab_home() / "artifacts" / config.name / spec.key.replace("|", "-")) if config.keep_artifacts else None
    price = price_per_hour(config.prices, env["device_kind"], env["device"]) * run.price_share
    run.record.update(
        train_seconds=run.train_seconds, peak_memory_mb=peak.megabytes, peak_memory_kind=peak.kind,
        memory_baseline_mb=peak.baseline_megabytes, trainable_parameters=int(fitted.trainable_parameters),
        total_parameters=int(fitted.total_parameters), bytes_stored=stored_bytes(fitted, keep),
        price_per_hour=price, train_dollars=dollars(run.train_seconds, price),
        inference_dollars_per_1k=dollars(run.record["inference_seconds_per_1k"], price), details=fitted.details,
        artifacts=str(keep) if keep else None)


def follow_up(run: Run) -> None:
    """Evaluations beyond the test set, outside the timed region: forgetting, then the knowledge update (last:
    a method may retrain on the new facts)."""
    experiment, method, record = run.experiment, METHODS[run.spec.method], run.record
    config, base, task = experiment.config, experiment.base, experiment.task
    probe = choose_probe(config.forgetting, task.avoid_probes)
    if base.family == "decoder" and config.forgetting != "off" and method.changes_base_weights:
        from core.evaluation.llm_forgetting import decoder_forgetting

        record["forgetting"] = decoder_forgetting(run.fitted, base, experiment.baseline)
    elif base.family == "encoder" and probe and method.changes_base_weights:
        record["forgetting"] = forgetting_scores(run.fitted, base, probe, experiment.baseline)
    if method.trains_network and "knowledge" in getattr(run.ctx.train_frame, "columns", ()):  # known-facts pass
        from core.evaluation.known_facts import training_fit

        record["known_facts_fit"] = training_fit(run.fitted, run.ctx.train_frame)  # None: no training questions
    if run.ctx.epoch_checkpoints is not None:
        record["learning_across_epochs"] = run.ctx.epoch_checkpoints.record()
    if task.knowledge_update is not None:
        record["knowledge_update"] = knowledge_update(method, run.fitted, run.ctx, task.knowledge_update,
                                                      experiment.labels, record["price_per_hour"])


def finish(run: Run) -> tuple[dict, list[int] | None]:
    """Score a classification run's predictions (QA runs scored their answers while answering); close the record."""
    predictions = run.predictions
    if run.experiment.task.kind == "classification":
        run.record.update(_scores(run.experiment.task, run.experiment.labels, predictions))
        predictions = predictions.tolist()
    run.record.update(status="finished", finished_at=now())
    return run.record, predictions


def fit_context(spec: RunSpec, task: Task, labels: list[str], base: BaseModel, embedder: Embedder,
                config: ExperimentConfig, progress: Progress) -> FitContext:
    """What a method is given: the run's nested training subset, its validation examples, the model, the budget.

    A method that early-stops gets its validation examples from the run's own budget (a quarter of them, by
    class): at 8 per class it sees 8 labelled examples per class in all, like every other method
    (`validation: separate` uses the task's validation split instead)."""
    qa = task.kind == "qa"
    # QA has no classes: one "class" makes the nested subsets plain seeded random prefixes
    y_train = np.zeros(len(task.train), dtype=int) if qa else _label_indices(task.train, labels)
    # with label noise the subsets are drawn by the true labels: the same texts train, some with a wrong label
    by = _label_indices(task.train, labels, "clean_label") if "clean_label" in task.train else y_train
    chosen = np.array([], dtype=int) if spec.size == NO_TRAINING_DATA else subset_indices(
        by, spec.size, config.size_unit, spec.seed)
    if holds_out(METHODS[spec.method], config):
        chosen, held = validation_from_budget(chosen, by[chosen], spec.seed)
        validation = task.train.iloc[held]
        val_labels = np.zeros(len(held), dtype=int) if qa else y_train[held]
    else:
        validation = task.validation
        val_labels = np.zeros(len(validation), dtype=int) if qa else _label_indices(validation, labels)
    return FitContext(
        labels=labels, train_texts=task.train.text.iloc[chosen].tolist(), train_labels=y_train[chosen],
        val_texts=validation.text.tolist(), val_labels=val_labels,
        corpus=task.corpus, base=base, embedder=embedder, config=config, seed=spec.seed,
        progress=lambda fraction, info: progress.run_progress(spec, fraction, info),
        kind=task.kind, train_frame=task.train.iloc[chosen].reset_index(drop=True),
        val_frame=validation.reset_index(drop=True), retrieval=embedder)


def holds_out(method, config: ExperimentConfig) -> bool:
    """Whether a run of this method holds validation examples out of its training budget: it early-stops, or it
    searches its settings (`tuning`), and validation comes from the budget (`from_budget`, or `refit`, which
    trains again on them once the choice is made)."""
    return config.validation in ("from_budget", "refit") and (
        method.early_stops or (config.tuning and bool(method.search)))


def validation_words(method, ctx: FitContext, from_budget: bool) -> str:
    """Where the run's validation examples came from, as the record says it."""
    if refits(method, ctx):
        return "from the budget, then refit on every example"
    if from_budget:
        return "from the budget"
    searched = ctx.config.tuning and method.search_on(ctx.base.family)
    return "the task's validation split" if method.early_stops or searched else "none"


def fit_searched(method, ctx: FitContext) -> object:
    """Fit the method; with `tuning`, once per trial setting (the same count for every method: search_trials) on
    the training part, keep the one that scores best on the validation examples (accuracy, or answer match on
    questions; ties keep the configured setting), then: an early-stopping method under `refit` trains again on
    every example for the chosen step count; one that does not early-stop fits again with the chosen setting on
    all its examples. The whole search is the run's training."""
    fit, search = method.fit_for(ctx.base.family), method.search_on(ctx.base.family)
    if not (ctx.config.tuning and search and ctx.val_texts):
        return fit_and_refit(fit, ctx) if refits(method, ctx) else fit(ctx)
    trials, best, searching = [], None, time.perf_counter()
    # after the search: an early-stopping method under `refit` trains again for the chosen steps; one that does not
    # early-stop fits again with the chosen setting on every example
    fits_on_all = not method.early_stops and ctx.config.validation in ("from_budget", "refit")
    trains_again = refits(method, ctx) or fits_on_all
    followed = ctx.epoch_checkpoints  # known/unknown across epochs: the model the run keeps is the one followed
    for hyper in search_trials(search, ctx.config.tuning_trials, ctx.seed):  # the configured setting first
        # a trial that trains again later is not followed; one that may be kept follows on a copy of its own
        own = None if followed is None or trains_again else dataclasses.replace(followed, points=[], seconds=0.0)
        fitted = fit(dataclasses.replace(ctx, hyper=hyper, epoch_checkpoints=own))
        measured, score = validation_score(fitted, ctx)
        trials.append({**hyper, measured: score})
        if own is not None:  # every trial's answering is paid; the kept trial's points are the run's
            followed.seconds += own.seconds
        if best is None or score > best[0]:
            best = (score, hyper, fitted)
            if own is not None:
                followed.points = own.points
    score, hyper, fitted = best
    held_out = len(ctx.val_texts)
    if refits(method, ctx):  # the chosen setting's chosen step count, on every example
        selection, fitted, best = fitted.details, None, None
        fitted = refit(fit, dataclasses.replace(ctx, hyper=hyper), selection, time.perf_counter() - searching)
    elif fits_on_all:  # the chosen setting on all
        fitted = fit(on_every_example(ctx, hyper=hyper, val_texts=ctx.val_texts, val_labels=ctx.val_labels,
                                      val_frame=ctx.val_frame))
    fitted.details["search"] = {"trials": trials, "chosen": hyper, "validation_examples": held_out,
                                "refit_on_all": not method.early_stops or refits(method, ctx),
                                "seconds": time.perf_counter() - searching}  # trials and refit, in train_seconds
    return fitted


VALIDATION_SHARE = 0.25  # of a run's training examples, held out to early-stop on (by class, at least one)


def validation_from_budget(chosen: np.ndarray, classes: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, validation rows) out of a run's chosen rows: a quarter of each class (at least one where
    the class has two or more), drawn with the seed; together they are exactly the chosen rows."""
    rng = np.random.default_rng([seed, 104729])
    held = []
    for label in np.unique(classes):
        rows = chosen[classes == label]
        count = max(1, round(VALIDATION_SHARE * len(rows))) if len(rows) >= 2 else 0
        held.extend(rng.choice(rows, count, replace=False).tolist())
    held = np.array(sorted(held), dtype=int)
    return chosen[~np.isin(chosen, held)], held


def _label_indices(split, labels: list[str], column: str = "label") -> np.ndarray:
    return split[column].map({label: i for i, label in enumerate(labels)}).to_numpy()


def _scores(task: Task, labels: list[str], predictions: np.ndarray) -> dict:
    """A classification run's accuracy, macro-F1 and per-class F1 with intervals (and by corpus coverage)."""
    truth = _label_indices(task.test, labels)
    scores = classification_metrics(truth, predictions, labels)
    if "covered" in task.test:  # e.g. geo-knowledge: what retrieval adds where the corpus has the fact
        scores["by_coverage"] = coverage_accuracy(truth, predictions, task.test.covered.to_numpy(dtype=bool))
    return scores


def coverage_accuracy(truth: np.ndarray, predicted: np.ndarray, covered: np.ndarray) -> dict:
    """Accuracy with its interval on the test examples the corpus covers, and on the rest."""
    from core.evaluation.metrics import bootstrap_interval

    out = {}
    for group, mask in (("covered", covered), ("uncovered", ~covered)):
        if mask.any():
            correct = truth[mask] == predicted[mask]
            low, high = bootstrap_interval(correct)
            out[group] = {"accuracy": float(correct.mean()), "accuracy_low": low, "accuracy_high": high,
                          "examples": int(mask.sum())}
    return out


def _encoder_latency(fitted, method, ctx: FitContext, test_texts: list[str]) -> dict:
    """Batch-1 latency; a method that reads cached embeddings is timed uncached (throughput too, on a sample),
    and a LoRA adapter is timed again merged into its base (how it would be served)."""
    out, queries = {}, ctx.config.latency_queries
    if method.uses_embeddings:  # the test set's encodings came from the cache: time a sample for real
        with ctx.embedder.uncached():
            _, out = timed_in_chunks(fitted.predict_proba, test_texts[:LATENCY_SAMPLE])
            out.update(batch_one_latency(fitted.predict_proba, test_texts, queries))
        return out
    out.update(batch_one_latency(fitted.predict_proba, test_texts, queries))
    model = getattr(fitted, "model", None)
    if hasattr(model, "merge_and_unload"):  # peft: serve the adapter folded into the weights, no extra matmuls
        merged = copy.copy(fitted)
        merged.model = copy.deepcopy(model).merge_and_unload()
        out.update(batch_one_latency(merged.predict_proba, test_texts, queries, prefix="merged_latency"))
        del merged
    return out


def _decoder_extras(fitted, kind: str, test_texts: list[str], task: Task, labels: list[str], record: dict,
                    queries: int) -> None:
    """An LLM run also records its prompt size, its batch-1 latency and, classifying, its generated answers."""
    from core.evaluation.qa import generated_accuracy, tokens_per_query

    if kind == "classification":
        record.update(tokens_per_query(fitted.prompt_tokens, []), prompts_cut=fitted.prompts.cut)
        record.update(generated_accuracy(fitted, test_texts, _label_indices(task.test, labels)))
    contexts = task.test.context.tolist() if "context" in task.test else None
    record.update(fitted.latency(test_texts, contexts, queries))
