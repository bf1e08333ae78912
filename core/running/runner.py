"""Run an experiment: load and check the task, load the model, then every run of the grid, storing each.

    run_experiment(load_config("examples/fortunes-quick.yaml"))

reads as its steps: choose the executor -> set up (load and check the task, load the model) -> register ->
plan -> warm embeddings -> the executor does each run (core/running/run.py) and stores its record. Finished
runs are skipped, so an interrupted grid resumes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.backbone.embeddings import Embedder, EmbeddingCache
from core.config import ExperimentConfig
from core.errors import ConfigError
from core.evaluation.measure import price_per_hour
from core.methods import METHODS, default_methods
from core.paths import adaptlab_home, check_free_space
from core.results.store import SqlStore
from core.running.claims import RunClaims
from core.running.executor import Executor, Grid, OneAtATime
from core.running.grid import plan_runs
from core.running.known_facts import known_facts_pass
from core.running.packing import PackedGrid
from core.running.run import (
    Experiment,
    Progress,
    environment,
    load_backbone,
    load_checked_task,
    uses_embeddings,
)
from core.running.tracking import tracked
from core.task.coverage import tokenizer_report
from core.task.data import Task
from core.task.validation import ValidationReport


@dataclass
class ExperimentResult:
    name: str
    store_url: str
    runs: pd.DataFrame
    executed: int
    skipped: int
    failed: int
    over_budget: list[str] = field(default_factory=list)  # run keys not started: the grid budget ran out


def choose_methods(config: ExperimentConfig, family: str, task: Task) -> list[str]:
    """The methods this grid runs on this backbone and task kind, refused in one sentence where they cannot.

    Methods not set in the config: the backbone's defaults that apply (core.methods.default_methods)."""

    has_corpus = task.corpus is not None and len(task.corpus) > 0
    if task.kind == "qa" and family == "encoder":
        raise ConfigError("task.kind is qa, which needs a model that generates answers, and the model is a sentence "
                          "encoder; use a decoder LLM (model: {name: smollm2}) or a classification task")
    if family == "encoder" and (config.rag.retriever != "dense" or config.rag.reranker):
        # an encoder's RAG weighs its neighbours' votes by cosine similarity, which BM25 scores are not
        raise ConfigError("rag.retriever (bm25, hybrid) and rag.reranker apply to RAG on a decoder LLM; on a "
                          "sentence encoder RAG votes by embedding similarity, so remove them from the rag: section")
    if "methods" not in config.model_fields_set:
        return default_methods(family, task.kind, has_corpus)
    model = "a sentence encoder" if family == "encoder" else "a decoder LLM"
    refused = [m for m in config.methods if not METHODS[m].supports(family, task.kind)]
    if refused:
        offered = [m for m, spec in METHODS.items() if spec.supports(family, task.kind)]
        raise ConfigError(f"method(s) {', '.join(refused)} do not run on {model} for {task.kind}; choose from "
                          f"{', '.join(offered)}")
    for method in config.methods:  # a method this machine cannot run (qlora without CUDA) says so before loading
        if METHODS[method].check_machine is not None:
            METHODS[method].check_machine()
    return list(config.methods)


def run_experiment(config: ExperimentConfig, store: SqlStore | None = None, progress: Progress | None = None,
                   executor: Executor | None = None) -> ExperimentResult:
    """Run every run of the grid not already finished; return the experiment's results.

    executor: who does the runs (core/running/executor.py); by default the config's (choose_executor)."""
    store = store or SqlStore()
    progress = tracked(progress or Progress(), store, config)  # and to MLflow, where the config names one
    store.check_sound()  # a damaged file takes no writes (it may have been damaged since the store was opened)
    check_free_space(grid_folders(store, config))  # before anything is loaded or stored
    executor = executor or choose_executor(config)  # Ray joins its cluster now: unreachable is said before loading
    experiment, report = setup(config, progress)
    register(store, experiment, report)
    plan = plan_runs(config, corpus_only_rag=config.rag.source == "corpus")
    done = store.finished_keys(config.name)
    todo = [spec for spec in plan if spec.key not in done]
    # QA on a decoder: the base model closed-book, once; the test questions after the grid where its prompt run's
    # answers are the pass's greedy ones (core/running/known_facts.py)
    known_facts_pass(store, experiment, plan, progress, before_grid=True)
    progress.grid_started(config.name, len(plan), len(todo))
    started = time.monotonic()  # the grid budget counts from here: encoding is part of the grid's cost
    if any(uses_embeddings(METHODS[spec.method], experiment.base.family) for spec in todo):
        progress.message("encoding texts once for the methods that read embeddings (cached for later runs)")
        warm_embeddings(experiment.embedder, experiment.task)
    # One process per run: another `adaptlab run` or worker of this experiment does the runs it claimed first.
    with RunClaims(store, config.name) as claims:
        grid = Grid(experiment, todo, store, progress, claims, grid_seconds_limit(config, experiment.env), started)
        executor.run(grid)
    known_facts_pass(store, experiment, plan, progress)  # the test questions the grid's prompt run answered
    return ExperimentResult(config.name, store.url, store.runs_frame(config.name), grid.executed,
                            len(plan) - len(todo) + len(claims.elsewhere), grid.failed, grid.over_budget)


def choose_executor(config: ExperimentConfig) -> Executor:
    """Who does the runs (core/running/executor.py): Ray tasks on a cluster (joined and checked here), packed
    processes on this device, or this process one at a time."""
    if config.executor == "ray":  # an unreachable cluster, another adaptlab on a node, no GPU: said before loading
        from core.running.ray_grid import RayGrid, join_cluster

        return RayGrid(join_cluster(config))
    if config.parallel_runs > 1:
        return PackedGrid()
    return OneAtATime()


def setup(config: ExperimentConfig, progress: Progress) -> tuple[Experiment, ValidationReport]:
    """Load and check the task, load the model, choose the methods that run on them; warn where it matters."""
    task, report = load_checked_task(config)
    for warning in report.warnings:
        progress.message(f"warning: {warning}")
    base, encoder = load_backbone(config)
    config.methods = choose_methods(config, base.family, task)
    if base.family == "decoder" and not getattr(base.tokenizer, "chat_template", None):
        progress.message(f"warning: {base.name} has no chat template, so prompts use a plain 'Question: ... "
                         "Answer:' layout (each run records it); instruct models answer better with their own")
    embedder = Embedder(encoder, EmbeddingCache.shared(), batch_size=config.training.eval_batch_size)
    return Experiment(config, task, base, embedder, environment(base)), report


def register(store: SqlStore, experiment: Experiment, report: ValidationReport) -> None:
    """Store the experiment: its config, the task's fingerprint and test labels, and what the pages show of it."""
    config, task, base, labels = experiment.config, experiment.task, experiment.base, experiment.labels
    label_index = {label: i for i, label in enumerate(labels)}
    # QA: a run's predictions are its per-question answer match (0/1), so the truth is 1 for every question
    test_labels = task.test.label.map(label_index).tolist() if labels else [1] * len(task.test)
    store.register_experiment(config.name, config.model_dump(mode="json"), task.fingerprint(), labels, test_labels,
                              {"provenance": task.provenance, "stats": report.stats, "warnings": report.warnings,
                               "environment": experiment.env, "kind": task.kind, "family": base.family,
                               "tokenizer": tokenizer_report(task, base.tokenizer, base.max_length),
                               **qa_reference(task)})


def qa_reference(task: Task) -> dict:
    """What the Answers view shows beside each run's answers: the questions, references and passages."""
    if task.kind != "qa":
        return {}
    # source: the chunk (or document) a question came from, which the Answers view shows beside what was retrieved
    keep = [c for c in ("text", "label", "aliases", "options", "covered", "passage_id", "source") if c in task.test]
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


def warm_embeddings(embedder: Embedder, task: Task) -> None:
    texts = [*task.train.text, *task.validation.text, *task.test.text]
    if task.corpus is not None:
        texts.extend(task.corpus.text)
    embedder.calibrate(list(task.test.text))
    embedder.encode(list(dict.fromkeys(texts)))


def load_results(name: str, store: SqlStore | str | Path | None = None, with_predictions: bool = False) -> pd.DataFrame:
    """The runs of a stored experiment as a DataFrame (one row per run)."""
    store = store if isinstance(store, SqlStore) else SqlStore(store)
    store.experiment(name)  # a clear error for an unknown name
    return store.runs_frame(name, with_predictions=with_predictions)
