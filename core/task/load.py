"""A task from its spec: a built-in scenario, a question-answering file, or labelled text files."""

from __future__ import annotations

from core.task.data import Task, flip_labels, load_files
from core.task.qa import load_qa_task
from core.task.scenarios import build_scenario
from core.task.spec import TaskSpec


def load_task(spec: TaskSpec, name: str = "task", retriever: str = "default") -> Task:
    """Build a Task from the spec: built-in scenario, one file (split here or by column), or one file per split.

    retriever: the encoder whose tokenizer measures chunks, when a qa task brings documents."""
    if spec.builtin is not None:
        task = build_scenario(spec.builtin, **spec.builtin_options)
    elif spec.kind == "qa":
        task = load_qa_task(spec, name, retriever)
    else:
        task = load_files(spec, name)
    if spec.label_noise:
        flip_labels(task, spec.label_noise, spec.split_seed)
    return task
