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

from core.config import ExperimentConfig
from core.data import Task, load_task
from core.embeddings import Embedder, EmbeddingCache
from core.errors import Cancelled, DataError
from core.forgetting import choose_probe, forgetting_scores
from core.grid import RunSpec, plan_runs, subset_indices
from core.measure import dollars, price_per_hour, stopwatch, stored_bytes, track_peak_memory
from core.methods import METHODS, FitContext
from core.metrics import classification_metrics, knowledge_update_scores
from core.models import BaseModel, device_name
from core.store import SqlStore, adaptlab_home, check_free_space, now
from core.validation import ValidationReport, validate_task

FORGETTING_METHODS = ("lora", "full")  # methods that change the base model's weights in place
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
    report = validate_task(task, config.sizes, config.size_unit, config.model.max_length,
                           config.task.drop_leaked_from_train)
    if not report.ok:
        raise DataError(report.errors)
    return report


def load_checked_task(config: ExperimentConfig) -> tuple[Task, ValidationReport]:
    task = load_task(config.task, config.name)
    return task, check_task(task, config)


def run_experiment(config: ExperimentConfig, store: SqlStore | None = None,
                   progress: Progress | None = None) -> ExperimentResult:
    """Run every run of the grid not already finished; return the experiment's results."""
    progress = progress or Progress()
    store = store or SqlStore()
    check_free_space(grid_folders(store, config))  # before anything is loaded or stored
    task, report = load_checked_task(config)
    for warning in report.warnings:
        progress.message(f"warning: {warning}")
    base = BaseModel.from_spec(config.model)
    labels = task.labels
    label_index = {label: i for i, label in enumerate(labels)}
    env = environment(base)
    store.register_experiment(config.name, config.model_dump(mode="json"), task.fingerprint(), labels,
                              task.test.label.map(label_index).tolist(),
                              {"provenance": task.provenance, "stats": report.stats, "warnings": report.warnings,
                               "environment": env})
    plan = plan_runs(config, corpus_only_rag=config.rag.source == "corpus")
    done = store.finished_keys(config.name)
    todo = [spec for spec in plan if spec.key not in done]
    progress.grid_started(config.name, len(plan), len(todo))
    started = time.monotonic()  # the grid budget counts from here: encoding is part of the grid's cost
    embedder = Embedder(base, EmbeddingCache.shared(),
                        batch_size=config.training.eval_batch_size)
    if any(METHODS[spec.method].uses_embeddings for spec in todo):
        progress.message("encoding texts once for prompt-only, RAG and the probe (cached for later runs)")
        warm_embeddings(embedder, task)
    failed, baseline = 0, {}  # baseline: the base model's forgetting-probe recall, measured once
    limit = grid_seconds_limit(config, env)
    executed, over_budget = 0, []
    one_at_a_time = todo
    if config.parallel_runs > 1 and len(todo) > 1:
        from core.packing import PackedGrid

        outcome = PackedGrid(todo, config, store, progress, embedder.seconds_per_text, env).run(
            limit, started, budget_message)
        executed, failed, over_budget, one_at_a_time = outcome.executed, outcome.failed, outcome.over_budget, []
    for position, spec in enumerate(one_at_a_time):
        if limit is not None and time.monotonic() - started >= limit:
            over_budget = [later.key for later in one_at_a_time[position:]]
            progress.message(budget_message(config, time.monotonic() - started, executed, over_budget))
            break
        progress.run_started(spec)
        record, predictions = execute_run(spec, task, labels, base, embedder, config, env, progress, baseline)
        store.write_run(config.name, record, predictions)
        failed += record["status"] != "finished"
        executed += 1
        progress.run_finished(spec, record)
    return ExperimentResult(config.name, store.url, store.runs_frame(config.name), executed,
                            len(plan) - len(todo), failed, over_budget)


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
    y_train = task.train.label.map(label_index).to_numpy()
    chosen = np.array([], dtype=int) if spec.size == "0" else subset_indices(
        y_train, spec.size, config.size_unit, spec.seed)
    record = {"run_key": spec.key, "method": spec.method, "size": spec.size, "seed": spec.seed,
              "size_unit": config.size_unit, "train_examples": int(len(chosen)), "started_at": now(),
              "device": env["device"], "environment": env, "runs_at_once": env.get("runs_at_once", 1)}
    ctx = FitContext(
        labels=labels, train_texts=task.train.text.iloc[chosen].tolist(), train_labels=y_train[chosen],
        val_texts=task.validation.text.tolist(), val_labels=task.validation.label.map(label_index).to_numpy(),
        corpus=task.corpus, base=base, embedder=embedder, config=config, seed=spec.seed,
        progress=lambda fraction, info: progress.run_progress(spec, fraction, info))
    test_texts = task.test.text.tolist()
    y_test = task.test.label.map(label_index).to_numpy()
    try:
        predictions, fitted = _fit_and_measure(spec, ctx, test_texts, config, env, record, price_share)
        _follow_up(spec, fitted, task, labels, base, config, record, {} if baseline is None else baseline)
    except (KeyboardInterrupt, SystemExit, Cancelled):
        raise
    except Exception as error:  # one broken run must not sink a 72-run grid
        record.update(status="failed", error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc(),
                      finished_at=now())
        return record, None
    record.update(classification_metrics(y_test, predictions, labels))
    record.update(status="finished", finished_at=now())
    return record, predictions.tolist()


def _fit_and_measure(spec: RunSpec, ctx: FitContext, test_texts: list[str], config: ExperimentConfig,
                     env: dict, record: dict, price_share: float = 1.0) -> np.ndarray:
    method = METHODS[spec.method]
    with track_peak_memory(ctx.base.device) as peak:
        embedder_charge = ctx.embedder.charged_seconds
        with stopwatch() as fit_seconds:
            fitted = method.fit(ctx)
        train_seconds = fit_seconds() + (ctx.embedder.charged_seconds - embedder_charge)
        with stopwatch() as predicting:
            predictions = fitted.predict_proba(test_texts).argmax(axis=1)
        if method.uses_embeddings:  # the test set's encodings came from the cache: time a sample for real
            sample = test_texts[:LATENCY_SAMPLE]
            with ctx.embedder.uncached(), stopwatch() as latency:
                fitted.predict_proba(sample)
            per_1k = latency() / len(sample) * 1000
        else:  # nothing cached: predicting the test set is the latency measurement, with no second pass
            per_1k = predicting() / len(test_texts) * 1000
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


def _follow_up(spec: RunSpec, fitted, task: Task, labels: list[str], base: BaseModel, config: ExperimentConfig,
               record: dict, baseline: dict) -> None:
    """Evaluations beyond the test set, outside the timed region: knowledge update, forgetting."""
    if task.knowledge_update is not None:
        record["knowledge_update"] = knowledge_update_scores(fitted, task.knowledge_update, labels)
    probe = choose_probe(config.forgetting, task.avoid_probes)
    if probe and spec.method in FORGETTING_METHODS:
        record["forgetting"] = forgetting_scores(fitted, base, probe, baseline)


def load_results(name: str, store: SqlStore | str | Path | None = None, with_predictions: bool = False) -> pd.DataFrame:
    """The runs of a stored experiment as a DataFrame (one row per run)."""
    store = store if isinstance(store, SqlStore) else SqlStore(store)
    store.experiment(name)  # a clear error for an unknown name
    return store.runs_frame(name, with_predictions=with_predictions)
