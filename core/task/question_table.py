"""The question table on disk: what `adaptlab questions CONFIG -o questions.jsonl` writes, for the user to read,
edit and give back as the task's QA file (`task.path`; core/task/qa.py reads every column written here).

    adaptlab questions handbook.yaml -o questions.jsonl      # then: task: {kind: qa, path: questions.jsonl, ...}
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from pydantic import ValidationError

from core.errors import AdaptlabError, ConfigError
from core.task.document_settings import QuestionsSpec
from core.task.questions import QUESTION_COLUMNS

FORMATS = (".jsonl", ".csv", ".parquet")


def write_question_table(frame: pd.DataFrame, path: Path) -> None:
    """Write the question table as JSON Lines, CSV (aliases as a JSON list per cell) or Parquet, by the suffix."""
    suffix = question_file_format(path)
    table = frame[list(QUESTION_COLUMNS)].reset_index(drop=True)
    try:
        if suffix == ".jsonl":
            path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n"
                                    for record in table.to_dict("records")), encoding="utf-8")
        elif suffix == ".csv":  # a spreadsheet cell holds the aliases as a JSON list, which the QA reader parses
            table.assign(aliases=table.aliases.map(lambda a: json.dumps(list(a), ensure_ascii=False))).to_csv(
                path, index=False)
        else:
            table.to_parquet(path, index=False)
    except OSError as error:  # permission denied, a read-only or full disk
        raise AdaptlabError(f"cannot write {path}: {error.strerror or error}") from None


def question_file_format(path: Path) -> str:
    """The file's format by its suffix; anything else is refused before any document is read."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise AdaptlabError(f"{path.name}: write the question table as {', '.join(FORMATS)}; the file name says "
                            "which (e.g. -o questions.jsonl)")
    return suffix


def chunks_from_config(config) -> pd.DataFrame:
    """The chunk table of the config's documents (task.documents), cut with the retriever's tokenizer."""
    spec = getattr(config.task, "documents", None)
    if spec is None:
        raise ConfigError(f"{config.name}: the task names no documents; questions are built from them. Add "
                          "`documents: {path: FOLDER}` under `task:`")
    # imported here: the documents reader and the chunker are their own modules (core/task/documents.py,
    # core/task/chunking.py), and reading PDFs or loading a tokenizer is not needed for anything else here
    from core.task.chunking import chunk_documents
    from core.task.coverage import load_tokenizer
    from core.task.documents import read_documents

    documents = read_documents(spec)
    return chunk_documents(documents.frame, load_tokenizer(config.llm.retriever), spec.chunk_tokens,
                           spec.chunk_overlap)


def question_settings(config, **overrides) -> QuestionsSpec:
    """The config's task.documents.questions with the command line's choices over it (source, model, max_per_chunk,
    seed; None keeps the config's); source llm without a model is written by the experiment's model.name."""
    documents = getattr(config.task, "documents", None)
    settings = documents.questions.model_copy() if documents is not None else QuestionsSpec()
    try:
        for name, value in overrides.items():
            if value is not None:
                setattr(settings, name, value)  # validated as the config is (QuestionsSpec validates assignments)
    except ValidationError as error:
        problem = error.errors()[0]
        raise ConfigError(f"--{str(problem['loc'][0]).replace('_', '-')}: "
                          f"{problem['msg'].removeprefix('Value error, ')}") from None
    if settings.source == "llm" and settings.model is None and config.model.name != "default":
        settings.model = config.model.name
    return settings
