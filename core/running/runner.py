"""Run an experiment: load and check the task, load the model, then every run of the grid, storing each.

    run_experiment(load_config("examples/fortunes-quick.yaml"))

reads as its steps: load task -> validate -> load model -> register -> plan -> warm embeddings ->
execute each run -> write each record. Finished runs are skipped, so an interrupted grid resumes.
"""

from __future__ import annotations

import platform
import time
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from core.backbone.embeddings import Embedder, EmbeddingCache
from core.backbone.models import BaseModel, device_name
from core.config import DECODER_METHODS, ENCODER_METHODS, METHOD_NAMES, ExperimentConfig
from core.errors import Cancelled, ConfigError, DataError
from core.evaluation.forgetting import choose_probe, forgetting_scores
from core.evaluation.measure import dollars, price_per_hour, stopwatch, stored_bytes, track_peak_memory
from core.evaluation.metrics import classification_metrics
from core.methods import METHODS, FitContext
from core.paths import adaptlab_home, check_free_space, now
from core.results.store import SqlStore
from core.running.claims import RunClaims
from core.running.grid import RunSpec, plan_runs, subset_indices
from core.running.knowledge_update import knowledge_update
from core.task.data import Task, load_task
from core.task.validation import ValidationReport, validate_task

LATENCY_SAMPLE = 256  # test texts timed uncached for the latency of methods that read the embedding cache
PACKAGES = ("adaptlab", "torch", "transformers", "peft", "sentence-transformers", "faiss-cpu", "scikit-learn",
            "numpy", "pandas")


class Progress:
    """What a front end hears while a grid runs. The CLI and the dashboard worker subclass it."""

    def message(self, text: str) -> None: ...
    def grid_started(self, name: str, total: int, todo: int) -> None: ...
    def run_started(self, spec: RunSpec) -> None: ...
    def run_progress(self, spec: RunSpec, fraction: float, info: dict) -> None: ...
    def run_finished(self, spec: RunSpec, record: dict) -> None: ...


@dataclass
class ExperimentResult:
    name: str
    store_url: str
    runs: pd.DataFrame
    executed: int
    skipped: int
    failed: int
    over_budget: list[str] = field(default_factory=list)  # run keys not started: the grid budget ran out


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
    return report


def load_checked_task(config: ExperimentConfig) -> tuple[Task, ValidationReport]:
    task = load_task(config.task, config.name)
    return task, check_task(task, config)


RETRIEVER_MAX_LENGTH = 256  # tokens of a passage the retrieval encoder reads


def load_backbone(config: ExperimentConfig) -> tuple[BaseModel, BaseModel]:
    """(the model being adapted, the encoder whose embeddings the embedding cache and retrieval use).

    On a sentence encoder both are the same model; a decoder LLM retrieves with `llm.retriever`."""
    base = BaseModel.from_spec(config.model)
    if base.family == "encoder":
        return base, base
    base.max_length = config.llm.context_length
    retriever = BaseModel.load(config.llm.retriever, config.model.device, RETRIEVER_MAX_LENGTH,
                               config.model.precision)
    if retriever.family != "encoder":
        raise ConfigError(f"llm.retriever '{config.llm.retriever}' is a decoder; retrieval embeds passages with a "
                          "sentence encoder, such as the built-in 'default'")
    return base, retriever


def choose_methods(config: ExperimentConfig, family: str, task: Task) -> list[str]:
    """The methods this grid runs on this backbone and task kind, refused in one sentence where they cannot.

    Methods not set in the config: the backbone's defaults that apply (corpus fine-tuning joins on a decoder
    when the task has a corpus; RAG on QA needs one)."""
    has_corpus = task.corpus is not None and len(task.corpus) > 0
    if task.kind == "qa" and family == "encoder":
        raise ConfigError("task.kind is qa, which needs a model that generates answers, and the model is a sentence "
                          "encoder; use a decoder LLM (model: {name: smollm2}) or a classification task")
    if "methods" not in config.model_fields_set:
        wanted = list(ENCODER_METHODS if family == "encoder" else DECODER_METHODS)
        if family == "decoder" and has_corpus:
            wanted.append("corpus_ft")
        return [m for m in wanted if METHODS[m].supports(family, task.kind)
                and not (task.kind == "qa" and METHODS[m].retrieves and not has_corpus)]
    model = "a sentence encoder" if family == "encoder" else "a decoder LLM"
    refused = [m for m in config.methods if not METHODS[m].supports(family, task.kind)]
    if refused:
        offered = [m for m in METHOD_NAMES if METHODS[m].supports(family, task.kind)]
        raise ConfigError(f"method(s) {', '.join(refused)} do not run on {model} for {task.kind}; choose from "
                          f"{', '.join(offered)}")
    if "qlora" in config.methods:
        from core.methods.decoder.fits import require_cuda_4bit

        require_cuda_4bit()
    return list(config.methods)


def run_experiment(config: ExperimentConfig, store: SqlStore | None = None,
                   progress: Progress | None = None) -> ExperimentResult:
    """Run every run of the grid not already finished; return the experiment's results."""
    progress = progress or Progress()
    store = store or SqlStore()
    check_free_space(grid_folders(store, config))  # before anything is loaded or stored
    task, report = load_checked_task(config)
    for warning in report.warnings:
        progress.message(f"warning: {warning}")
    base, encoder = load_backbone(config)
    config.methods = choose_methods(config, base.family, task)
    if base.family == "decoder" and not getattr(base.tokenizer, "chat_template", None):
        progress.message(f"warning: {base.name} has no chat template, so prompts use a plain 'Question: ... "
                         "Answer:' layout (each run records it); instruct models answer better with their own")
    labels = task.labels if task.kind == "classification" else []
    label_index = {label: i for i, label in enumerate(labels)}
    # QA: a run's predictions are its per-question answer match (0/1), so the truth is 1 for every question
    test_labels = task.test.label.map(label_index).tolist() if labels else [1] * len(task.test)
    env = environment(base)
    store.register_experiment(config.name, config.model_dump(mode="json"), task.fingerprint(), labels,
                              test_labels,
                              {"provenance": task.provenance, "stats": report.stats, "warnings": report.warnings,
                               "environment": env, "kind": task.kind, "family": base.family, **qa_reference(task)})
    plan = plan_runs(config, corpus_only_rag=config.rag.source == "corpus")
    done = store.finished_keys(config.name)
    todo = [spec for spec in plan if spec.key not in done]
    progress.grid_started(config.name, len(plan), len(todo))
    started = time.monotonic()  # the grid budget counts from here: encoding is part of the grid's cost
    embedder = Embedder(encoder, EmbeddingCache.shared(),
                        batch_size=config.training.eval_batch_size)
    if any(uses_embeddings(METHODS[spec.method], base.family) for spec in todo):
        progress.message("encoding texts once for the methods that read embeddings (cached for later runs)")
        warm_embeddings(embedder, task)
    failed, baseline = 0, {}  # baseline: the base model's forgetting-probe recall, measured once
    limit = grid_seconds_limit(config, env)
    executed, over_budget = 0, []
    one_at_a_time = todo
    # One process per run: another `adaptlab run` or worker of this experiment does the runs it claimed first.
    with RunClaims(store, config.name) as claims:
        mine = claims.take_all(todo) if config.parallel_runs > 1 and len(todo) > 1 else []
        if mine:
            from core.running.packing import PackedGrid

            outcome = PackedGrid(mine, config, store, progress, embedder.seconds_per_text, env).run(
                limit, started, budget_message)
            executed, failed, over_budget = outcome.executed, outcome.failed, outcome.over_budget
            # the runs other processes hold are waited for below (and done here if their process stops)
            one_at_a_time = [] if over_budget else [spec for spec in todo
                                                    if spec not in mine and spec.key not in claims.elsewhere]
        for spec in claims.each(one_at_a_time):
            if limit is not None and time.monotonic() - started >= limit:
                over_budget = [spec.key, *claims.left()]
                progress.message(budget_message(config, time.monotonic() - started, executed, over_budget))
                break
            progress.run_started(spec)
            record, predictions = execute_run(spec, task, labels, base, embedder, config, env, progress, baseline)
            store.write_run(config.name, record, predictions)
            failed += record["status"] != "finished"
            executed += 1
            progress.run_finished(spec, record)
    return ExperimentResult(config.name, store.url, store.runs_frame(config.name), executed,
                            len(plan) - len(todo) + len(claims.elsewhere), failed, over_budget)


def qa_reference(task: Task) -> dict:
    """What the Answers view shows beside each run's answers: the questions, references and passages."""
    if task.kind != "qa":
        return {}
    keep = [c for c in ("text", "label", "aliases", "options", "covered", "passage_id") if c in task.test]
    questions = task.test[keep].rename(columns={"text": "question", "label": "answer"})
    passages = {} if task.corpus is None else dict(zip(task.corpus["id"].astype(str), task.corpus.text))
    if task.knowledge_update is not None and "id" in task.knowledge_update.documents:
        passages.update(zip(task.knowledge_update.documents["id"].astype(str), task.knowledge_update.documents.text))
    return {"questions": questions.to_dict("records"), "passages": passages}


def grid_folders(store: SqlStore, config: ExperimentConfig) -> dict[str, Path]:
    """The folders a grid writes to, by what they hold: the SQLite file, caches, and kept artifacts."""
    folders = {}
    if store.engine.dialect.name == "sqlite" and store.engine.url.database:
        folders["results database"] = Path(store.engine.url.database).parent
    folders["adaptlab folder, which holds the caches"] = adaptlab_home()
    if config.keep_artifacts:
        folders["kept artifacts"] = adaptlab_home() / "artifacts"
    return folders


def grid_seconds_limit(config: ExperimentConfig, env: dict) -> float | None:
    """The grid budget as seconds of wall time: the tighter of its time and its dollars at this device's price."""
    limits = []
    if config.grid_budget.max_seconds is not None:
        limits.append(config.grid_budget.max_seconds)
    if config.grid_budget.max_dollars is not None:
        price = price_per_hour(config.prices, env["device_kind"], env["device"])
        if price > 0:
            limits.append(config.grid_budget.max_dollars / price * 3600)
    return min(limits) if limits else None


def budget_message(config: ExperimentConfig, elapsed: float, executed: int, skipped: list[str]) -> str:
    shown = ", ".join(skipped[:6]) + (f" and {len(skipped) - 6} more" if len(skipped) > 6 else "")
    return (f"grid budget reached after {elapsed:.0f} s and {executed} run(s): {len(skipped)} run(s) not started "
            f"({shown}). Finished runs are kept; raise grid_budget and run again to do the rest")


def uses_embeddings(method, family: str) -> bool:
    """Whether a run reads the embedding cache: an encoder's embedding methods, or a decoder's retrieval."""
    return method.retrieves if family == "decoder" else method.uses_embeddings


def warm_embeddings(embedder: Embedder, task: Task) -> None:
    texts = [*task.train.text, *task.validation.text, *task.test.text]
    if task.corpus is not None:
        texts.extend(task.corpus.text)
    embedder.calibrate(list(task.test.text))
    embedder.encode(list(dict.fromkeys(texts)))


def execute_run(spec: RunSpec, task: Task, labels: list[str], base: BaseModel, embedder: Embedder,
                config: ExperimentConfig, env: dict, progress: Progress,
                baseline: dict | None = None, price_share: float = 1.0) -> tuple[dict, list[int] | None]:
    """One run: fit, predict, measure. A failure becomes a 'failed' record; the grid goes on.

    price_share: the part of the device this run had (1/N when N runs are packed onto it), so its
    dollars are that share of the device's hourly price.
    """
    label_index = {label: i for i, label in enumerate(labels)}
    qa = task.kind == "qa"
    # QA has no classes: one "class" makes the nested subsets plain seeded random prefixes
    y_train = np.zeros(len(task.train), dtype=int) if qa else task.train.label.map(label_index).to_numpy()
    chosen = np.array([], dtype=int) if spec.size == "0" else subset_indices(
        y_train, spec.size, config.size_unit, spec.seed)
    record = {"run_key": spec.key, "method": spec.method, "size": spec.size, "seed": spec.seed,
              "size_unit": config.size_unit, "train_examples": int(len(chosen)), "started_at": now(),
              "device": env["device"], "environment": env, "runs_at_once": env.get("runs_at_once", 1)}
    ctx = FitContext(
        labels=labels, train_texts=task.train.text.iloc[chosen].tolist(), train_labels=y_train[chosen],
        val_texts=task.validation.text.tolist(),
        val_labels=np.zeros(len(task.validation), dtype=int) if qa else task.validation.label.map(label_index).to_numpy(),
        corpus=task.corpus, base=base, embedder=embedder, config=config, seed=spec.seed,
        progress=lambda fraction, info: progress.run_progress(spec, fraction, info),
        kind=task.kind, train_frame=task.train.iloc[chosen].reset_index(drop=True), val_frame=task.validation,
        retrieval=embedder)
    test_texts = task.test.text.tolist()
    y_test = None if qa else task.test.label.map(label_index).to_numpy()
    try:
        predictions, fitted = _fit_and_measure(spec, ctx, test_texts, config, env, record, price_share, task, y_test)
        _follow_up(spec, fitted, task, labels, base, config, record, {} if baseline is None else baseline, ctx)
    except (KeyboardInterrupt, SystemExit, Cancelled):
        raise
    except Exception as error:  # one broken run must not sink a 72-run grid
        record.update(status="failed", error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc(),
                      finished_at=now())
        return record, None
    if not qa:
        record.update(classification_metrics(y_test, predictions, labels))
        if "covered" in task.test:  # e.g. geo-knowledge: what retrieval adds where the corpus has the fact
            record["by_coverage"] = coverage_accuracy(y_test, predictions, task.test.covered.to_numpy(dtype=bool))
        predictions = predictions.tolist()
    record.update(status="finished", finished_at=now())
    return record, predictions


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


def _fit_and_measure(spec: RunSpec, ctx: FitContext, test_texts: list[str], config: ExperimentConfig,
                     env: dict, record: dict, price_share: float = 1.0, task: Task | None = None,
                     y_test: np.ndarray | None = None):
    """Fit, predict the test set (timed), measure; QA runs return per-question answer match as predictions."""
    method = METHODS[spec.method]
    decoder = ctx.base.family == "decoder"
    with track_peak_memory(ctx.base.device) as peak:
        embedder_charge = ctx.embedder.charged_seconds
        with stopwatch() as fit_seconds:
            fitted = method.fit_for(ctx.base.family)(ctx)
        train_seconds = fit_seconds() + (ctx.embedder.charged_seconds - embedder_charge)
        with stopwatch() as predicting:
            if ctx.kind == "qa":
                from core.evaluation.qa import evaluate_qa

                metrics, predictions, shown = evaluate_qa(fitted, task.test)
                record.update(metrics, **shown)
            else:
                predictions = fitted.predict_proba(test_texts).argmax(axis=1)
        if decoder and hasattr(fitted, "latency"):
            _decoder_extras(fitted, ctx.kind, test_texts, task, y_test, record)
        # QA: answering alone is what serving costs (the option scoring that follows it is evaluation)
        per_1k = record.get("answer_seconds", predicting()) / len(test_texts) * 1000
        if not decoder and method.uses_embeddings:  # the test set's encodings came from the cache: time a sample for real
            sample = test_texts[:LATENCY_SAMPLE]
            with ctx.embedder.uncached(), stopwatch() as latency:
                fitted.predict_proba(sample)
            per_1k = latency() / len(sample) * 1000
        # otherwise nothing was cached: predicting the test set is the latency measurement, with no second pass
    keep = (adaptlab_home() / "artifacts" / config.name / spec.key.replace("|", "-")) if config.keep_artifacts else None
    price = price_per_hour(config.prices, env["device_kind"], env["device"]) * price_share
    record.update(
        train_seconds=train_seconds, inference_seconds_per_1k=per_1k, peak_memory_mb=peak.megabytes,
        peak_memory_kind=peak.kind, trainable_parameters=int(fitted.trainable_parameters),
        total_parameters=int(fitted.total_parameters), bytes_stored=stored_bytes(fitted, keep),
        price_per_hour=price, train_dollars=dollars(train_seconds, price),
        inference_dollars_per_1k=dollars(per_1k, price), details=fitted.details,
        artifacts=str(keep) if keep else None)
    return predictions, fitted


def _decoder_extras(fitted, kind: str, test_texts: list[str], task: Task, y_test, record: dict) -> None:
    """An LLM run also records its prompt size, its batch-1 latency and, classifying, its generated answers."""
    from core.evaluation.qa import generated_accuracy, tokens_per_query

    if kind == "classification":
        record.update(tokens_per_query(fitted.prompt_tokens, []), prompts_cut=fitted.prompts.cut)
        record.update(generated_accuracy(fitted, test_texts, y_test))
    contexts = task.test.context.tolist() if "context" in task.test else None
    record.update(fitted.latency(test_texts, contexts))


def _follow_up(spec: RunSpec, fitted, task: Task, labels: list[str], base: BaseModel, config: ExperimentConfig,
               record: dict, baseline: dict, ctx: FitContext) -> None:
    """Evaluations beyond the test set, outside the timed region: forgetting, then the knowledge update (last:
    a method may retrain on the new facts)."""
    probe = choose_probe(config.forgetting, task.avoid_probes)
    if base.family == "decoder" and config.forgetting != "off" and METHODS[spec.method].changes_base_weights:
        from core.evaluation.llm_forgetting import decoder_forgetting

        record["forgetting"] = decoder_forgetting(fitted, base, baseline)
    elif base.family == "encoder" and probe and METHODS[spec.method].changes_base_weights:
        record["forgetting"] = forgetting_scores(fitted, base, probe, baseline)
    if task.knowledge_update is not None:
        record["knowledge_update"] = knowledge_update(METHODS[spec.method], fitted, ctx, task.knowledge_update,
                                                      labels, record["price_per_hour"])


def load_results(name: str, store: SqlStore | str | Path | None = None, with_predictions: bool = False) -> pd.DataFrame:
    """The runs of a stored experiment as a DataFrame (one row per run)."""
    store = store if isinstance(store, SqlStore) else SqlStore(store)
    store.experiment(name)  # a clear error for an unknown name
    return store.runs_frame(name, with_predictions=with_predictions)
