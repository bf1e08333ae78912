"""Run an experiment: load and check the task, load the model, then every run of the grid, storing each.

    run_experiment(load_config("examples/fortunes-quick.yaml"))

reads as its steps: load task -> validate -> load model -> register -> plan -> warm embeddings ->
execute each run -> write each record. Finished runs are skipped, so an interrupted grid resumes.
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
from core.running.grid import plan_runs
from core.running.packing import PackedGrid
from core.running.run import (
    Progress,
    environment,
    execute_run,
    load_backbone,
    load_checked_task,
    uses_embeddings,
)
from core.task.coverage import tokenizer_report
from core.task.data import Task


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


def run_experiment(config: ExperimentConfig, store: SqlStore | None = None,
                   progress: Progress | None = None) -> ExperimentResult:
    """Run every run of the grid not already finished; return the experiment's results."""
    progress = progress or Progress()
    store = store or SqlStore()
    store.check_sound()  # a damaged file takes no writes (it may have been damaged since the store was opened)
    check_free_space(grid_folders(store, config))  # before anything is loaded or stored
    cluster = None
    if config.executor == "ray":  # an unreachable cluster, another adaptlab on a node, no GPU: said before loading
        from core.running.ray_grid import join_cluster

        cluster = join_cluster(config)
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
                               "environment": env, "kind": task.kind, "family": base.family,
                               "tokenizer": tokenizer_report(task, base.tokenizer, base.max_length),
                               **qa_reference(task)})
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
        on_ray = config.executor == "ray"
        mine = claims.take_all(todo) if (on_ray or config.parallel_runs > 1 and len(todo) > 1) and todo else []
        if mine:
            if on_ray:
                from core.running.ray_grid import RayGrid

                grid = RayGrid(mine, config, store, progress, embedder.seconds_per_text, env,
                               (encoder.fingerprint, embedder.cache.held(encoder.fingerprint)), cluster)
            else:
                grid = PackedGrid(mine, config, store, progress, embedder.seconds_per_text, env)
            outcome = grid.run(limit, started, budget_message)
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


def load_results(name: str, store: SqlStore | str | Path | None = None, with_predictions: bool = False) -> pd.DataFrame:
    """The runs of a stored experiment as a DataFrame (one row per run)."""
    store = store if isinstance(store, SqlStore) else SqlStore(store)
    store.experiment(name)  # a clear error for an unknown name
    return store.runs_frame(name, with_predictions=with_predictions)
