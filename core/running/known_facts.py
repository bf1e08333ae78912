"""The known-facts pass (Gekhman et al., EMNLP 2024): before any training, on a QA task and a decoder LLM, the base
model answers each test question, and each training question a fine-tuning run of the grid will use, closed-book,
with the prompt-only method's prompt: greedily, then `llm.known_facts.samples` times by sampling. Each question's
category (core/evaluation/known_facts.py) is stored with the experiment (its task information, `known_facts`), so
reading the experiment back needs no model; the pass's seconds are stored beside it (its cost).

    known_facts_pass(store, experiment, plan, progress, before_grid=True)   # core/running/runner.py: training rows
    known_facts_pass(store, experiment, plan, progress)                     # after the grid: the test questions

Training questions are answered before the grid (each fine-tuning run records its share of Unknown facts). Test
questions wait for the grid where it holds a prompt-only run still to do: that run's greedy answers are the very
answers the pass would generate (same model, same prompt), so they are not generated twice. A grid that resumes
or grows answers only the questions not answered yet. The training questions then carry
their category in a `knowledge` column, from which each fine-tuning run records the share of Unknown facts it
trained on (core/methods/decoder/fits.py's `supervised`) and, after training, how many of them it now answers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.evaluation.known_facts import closed_book_answers, knowledge_categories
from core.evaluation.measure import stopwatch
from core.evaluation.qa import accepted_answers, column
from core.methods import METHODS
from core.running.grid import RunSpec, subset_indices
from core.task.data import Task
from core.task.sizes import NO_TRAINING_DATA

KNOWLEDGE = "knowledge"  # the column of task.train holding each question's category (None: not answered)


def applies(experiment) -> bool:
    return (experiment.task.kind == "qa" and experiment.base.family == "decoder"
            and experiment.config.llm.known_facts.enabled)


def known_facts_pass(store, experiment, plan: list[RunSpec], progress, before_grid: bool = False) -> dict | None:
    """Answer the questions not yet answered closed-book, store every category, and mark the training questions
    with theirs. None where the pass does not apply (not QA on a decoder, or `llm.known_facts.enabled: false`).
    before_grid: the test questions wait where a prompt-only run of the plan will answer them (see above)."""
    if not applies(experiment):
        return None
    config, task = experiment.config, experiment.task
    settings = config.llm.known_facts
    stored = store.experiment(config.name)["task"].get("known_facts") or {
        "samples": settings.samples, "temperature": settings.temperature, "seconds": 0.0, "questions": []}
    answered = answered_questions(stored)
    tests_wait = before_grid and prompt_run_to_do(store, config.name, plan)
    wanted = [("test", row) for row in range(len(task.test)) if not tests_wait] + \
        [("train", row) for row in trained_rows(config, task, plan)]
    missing = [key for key in wanted if key not in answered]
    if missing:
        progress.message(f"known facts: the base model answers {len(missing)} question(s) closed-book (greedy and "
                         f"{settings.samples} sample(s)) before any training")
        reused = prompt_run_answers(store, config.name, len(task.test))
        with stopwatch() as seconds:
            found = answer_closed_book(experiment, missing, progress, reused)
        # test questions first, then training ones, each by row: the same order whichever part was answered first
        questions = sorted(stored["questions"] + found, key=lambda q: (q["split"] != "test", q["row"]))
        stored = {**stored, "seconds": stored["seconds"] + seconds(), "questions": questions}
        if reused and any(split == "test" for split, _ in missing):
            stored["greedy_test_answers_from"] = "the finished prompt run"
        store.add_task_facts(config.name, known_facts=stored)
    with_categories(task, train_categories_of(stored, len(task.train)))
    return stored


def answered_questions(stored: dict | None) -> set[tuple[str, int]]:
    """(split, row) of every question a stored pass (the experiment's task information, `known_facts`) answered:
    a grid that resumes or grows does not answer them again, and the estimate does not count them."""
    return {(q["split"], q["row"]) for q in (stored or {}).get("questions", [])}


def trained_rows(config, task: Task, plan: list[RunSpec]) -> list[int]:
    """The training rows (positions in task.train) that a run of the plan fine-tunes or early-stops on: the nested
    subsets of the fine-tuning methods' sizes (QA has no classes: one 'class', as core/running/run.py draws them)."""
    one_class = np.zeros(len(task.train), dtype=int)
    rows: set[int] = set()
    for spec in plan:
        method = METHODS[spec.method]
        if method.trains_network and method.uses_training_data and spec.size != NO_TRAINING_DATA:
            rows.update(subset_indices(one_class, spec.size, config.size_unit, spec.seed).tolist())
    return sorted(rows)


def prompt_run_to_do(store, name: str, plan: list[RunSpec]) -> bool:
    """Whether the plan holds a prompt-only run not finished yet (its greedy test answers are the pass's)."""
    done = store.finished_keys(name)
    return any(spec.method == "prompt" and spec.key not in done for spec in plan)


def prompt_run_answers(store, name: str, tests: int) -> list[str] | None:
    """A finished prompt-only run's test answers, where one is stored (an experiment the pass joins late): the very
    greedy answers the pass would generate (same model, same prompt), so they are not generated twice."""
    runs = store.runs_frame(name)
    for record in runs[(runs.method == "prompt") & (runs.status == "finished")].record:
        if len(record.get("answers") or []) == tests:
            return list(record["answers"])
    return None


def answer_closed_book(experiment, keys: list[tuple[str, int]], progress,
                       test_greedy: list[str] | None = None) -> list[dict]:
    """Each (split, row) answered by the base model with the prompt-only method's prompt, and its category.
    test_greedy: the test questions' greedy answers where already known (a finished prompt run's)."""
    from core.running.run import fit_context

    config, task = experiment.config, experiment.task
    settings = config.llm.known_facts
    ctx = fit_context(RunSpec("prompt", NO_TRAINING_DATA, config.seeds[0]), task, experiment.labels, experiment.base,
                      experiment.embedder, config, progress)
    fitted = METHODS["prompt"].fit_for("decoder")(ctx)
    out = []
    for split, frame in (("test", task.test), ("train", task.train)):
        rows = [row for name, row in keys if name == split]
        if not rows:
            continue
        chosen = frame.iloc[rows]
        known = [test_greedy[row] for row in rows] if split == "test" and test_greedy else None
        greedy, sampled = closed_book_answers(fitted, chosen.text.tolist(), column(chosen, "context", ""),
                                              settings.samples, settings.temperature, config.seeds[0], known)
        categories = knowledge_categories(accepted_answers(chosen), [[g] for g in greedy], sampled)
        out += [{"split": split, "row": int(row), "question": question, "greedy": g, "sampled": s, "category": c}
                for row, question, g, s, c in zip(rows, chosen.text, greedy, sampled, categories.astype(str))]
    return out


def train_categories_of(stored: dict, rows: int) -> list[str | None]:
    by_row = {q["row"]: q["category"] for q in stored["questions"] if q["split"] == "train"}
    return [by_row.get(row) for row in range(rows)]


def train_categories(task: Task) -> list[str | None] | None:
    """What a packed or Ray worker is handed, so its runs read the same categories (None: no pass ran)."""
    return task.train[KNOWLEDGE].tolist() if KNOWLEDGE in task.train else None


def with_categories(task: Task, categories: list[str | None] | None) -> None:
    if categories is not None:
        task.train = task.train.assign(**{KNOWLEDGE: pd.Series(categories, index=task.train.index, dtype=object)})
