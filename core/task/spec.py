"""Where a task's examples come from (`task:` in a config): a built-in scenario or the user's own file(s), and an
optional document corpus. The config (core/config.py) holds it; the task's loaders (data.py, qa.py, load.py) read
it, so it sits here, beside the task, at the start of the flow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from core.schema import Strict as _Strict
from core.task.document_settings import DocumentsSpec

MAX_SEED = 2**32 - 1  # numpy's legacy seeding (transformers' set_seed) and scikit-learn take 32-bit seeds


class CorpusSpec(_Strict):
    """An optional knowledge corpus for RAG: documents with text and, optionally, a label."""

    path: Path
    format: Literal["auto", "csv", "jsonl", "parquet"] = "auto"
    text_column: str = "text"
    label_column: str | None = "label"


class TaskSpec(_Strict):
    """Where the labelled examples come from: a built-in scenario or the user's own file(s)."""

    builtin: str | None = None
    builtin_options: dict[str, Any] = Field(default_factory=dict)
    path: Path | None = None  # one file holding every split (or to be split here)
    train: Path | None = None  # or one file per split
    validation: Path | None = None
    test: Path | None = None
    format: Literal["auto", "csv", "jsonl", "parquet"] = "auto"
    text_column: str = "text"
    label_column: str = "label"
    split_column: str | None = None
    split_names: dict[str, str] = Field(
        default_factory=lambda: {"train": "train", "validation": "validation", "test": "test"}
    )
    validation_fraction: float = Field(0.1, gt=0, lt=0.5)
    test_fraction: float = Field(0.25, gt=0, lt=0.9)
    split_seed: int = Field(0, ge=0, le=MAX_SEED)
    corpus: CorpusSpec | None = None
    documents: DocumentsSpec | None = None  # qa: the user's documents, chunked into the corpus (core/task/documents.py)
    drop_leaked_from_train: bool = False  # else a text in both train and test stops the run
    label_noise: float = Field(0.0, ge=0, le=0.9)  # share of train labels flipped to another class (data-quality drill)
    # qa: a question and its reference answer per row (core/task/qa.py); the three optional columns may be absent
    kind: Literal["classification", "qa"] = "classification"
    question_column: str = "question"
    answer_column: str = "answer"
    aliases_column: str | None = "aliases"  # other accepted answers: a list, a JSON list, or "a|b|c"
    options_column: str | None = "options"  # multiple-choice options, scored by likelihood; must hold the answer
    context_column: str | None = "context"  # a passage given with the question to every method

    @model_validator(mode="after")
    def _one_source(self) -> TaskSpec:
        sources = [self.builtin is not None, self.path is not None, self.train is not None]
        if sum(sources) == 0 and self.documents is not None and self.kind == "qa":
            return self  # questions built from the documents themselves (core/task/questions.py)
        if sum(sources) != 1:
            raise ValueError(
                "give exactly one data source: `builtin: <scenario>`, `path: <file>`, "
                "or `train:` (with `test:`, and optionally `validation:`); a qa task may give `documents:` "
                "alone, and its questions are built from them"
            )
        if self.train is not None and self.test is None:
            raise ValueError("`train:` needs a `test:` file too (validation is optional)")
        return self

    @model_validator(mode="after")
    def _documents_for_questions(self) -> TaskSpec:
        if self.documents is not None and self.kind != "qa":
            raise ValueError("`documents:` are chunked into passages that questions are answered from; set "
                             "`kind: qa` (with a QA file) or give the passages as `corpus:`")
        if self.documents is not None and self.corpus is not None:
            raise ValueError("give `documents:` (chunked here) or `corpus:` (passages cut already), not both")
        return self
