"""The settings of a task's documents (`task.documents` in a config); reading them is core/task/documents.py.

Apart from the reader so that core/config.py can hold them without importing the task loaders (which import it).
"""

from __future__ import annotations

from pathlib import Path
from string import Formatter
from typing import Literal

from pydantic import Field, field_validator, model_validator

from core.schema import Strict

# Chosen by measurement (bench/chunk_sizes.py): dense retrieval with the default encoder of 166 cloze questions
# over the READMEs of 32 installed packages (367,478 characters), overlap 32 tokens. Chunks of 128 tokens:
# recall@5 0.916, MRR 0.801; 256: 0.837, 0.737; 384: 0.795, 0.698 (and the retriever reads only 256 tokens of a
# passage, so longer chunks are partly unseen). Three 128-token chunks also fit a 1,024-token LLM context.
DEFAULT_CHUNK_TOKENS = 128
DEFAULT_CHUNK_OVERLAP = 32
QUESTION_SOURCES = ("cloze", "llm")
PROMPT_FIELDS = ("passage", "n")  # what core/task/llm_questions.py fills in: the chunk's text, the question's number


class QuestionsSpec(Strict):
    """Where a documents task's questions come from when it brings no QA file (`adaptlab questions` writes them too).

        documents: {path: handbook/, questions: {source: llm, model: HuggingFaceTB/SmolLM2-1.7B-Instruct}}
    """

    # cloze: built offline from the chunks' sentences, no model (core/task/questions.py; the default, fit for a CPU);
    # llm: written by a language model, question and answer per chunk, kept only when the chunk supports the answer
    source: Literal["cloze", "llm"] = "cloze"
    # llm: the model that writes them (smollm2, a Hub id or a local folder inside ADAPTLAB_MODEL_ROOTS); not set: the
    # experiment's model.name (filled in by core/config.py). On a GPU a larger instruct model writes better questions.
    model: str | None = Field(None, min_length=1, max_length=500)
    prompt: str | None = Field(None, max_length=4000)  # llm: holds {passage} and {n}; not set: llm_questions.PROMPT
    max_per_chunk: int = Field(2, ge=1, le=20)  # questions kept per chunk at most
    seed: int | None = Field(None, ge=0, le=2**32 - 1)  # cloze: which sentences are asked; not set: task.split_seed

    @field_validator("source", mode="before")
    @classmethod
    def _known_source(cls, value):
        if value not in QUESTION_SOURCES:
            raise ValueError(f"source '{value}' is not a question source; choose cloze (built from the sentences, no "
                             "model) or llm (written by a language model)")
        return value

    @field_validator("prompt")
    @classmethod
    def _fillable_prompt(cls, value: str | None) -> str | None:
        if value is not None:
            check_prompt(value)
        return value


def check_prompt(prompt: str) -> None:
    """Refuse, in one sentence, a question-writing prompt the code cannot fill: each chunk's text goes into
    {passage} and the question's number into {n} (asking again with another number is what varies the replies)."""
    try:
        fields = {name for _, name, _, _ in Formatter().parse(prompt) if name is not None}
    except ValueError:
        fields = None  # a lone { or }
    missing = [f"{{{name}}}" for name in PROMPT_FIELDS if fields is not None and name not in fields]
    if fields is None or missing or fields - set(PROMPT_FIELDS):
        problem = (f"it has no {' and no '.join(missing)}" if missing else
                   "it has a brace that is not {passage} or {n}")
        raise ValueError(f"the question-writing prompt cannot be filled: {problem}; put {{passage}} where the chunk's "
                         "text goes and {n} where the question's number goes, and write any other brace twice ({{ or "
                         "}})")


class DocumentsSpec(Strict):
    """Where the documents are, how they are cut into chunks, and how much may be read."""

    path: Path | list[Path]  # a folder (read recursively), a .zip, or a list of files (folders and zips too)
    text_column: str = "text"  # .jsonl/.csv/.parquet: the column holding each document's text
    name_column: str | None = None  # and the column naming it (else "file.csv#<row>")
    chunk_tokens: int = Field(DEFAULT_CHUNK_TOKENS, ge=16, le=8192)  # tokens of the retriever's tokenizer
    chunk_overlap: int = Field(DEFAULT_CHUNK_OVERLAP, ge=0, le=4096)  # tokens a chunk repeats from the one before
    max_documents: int = Field(100_000, ge=1)  # more is a job for a search engine, not an experiment
    max_file_bytes: int = Field(100 * 1024**2, ge=1)  # one file (a 100 MB PDF is a scanned book, not a handbook)
    max_total_bytes: int = Field(1024**3, ge=1)  # every file together
    max_zip_expanded_bytes: int = Field(1024**3, ge=1)  # a zip, expanded: refused past it (a zip bomb)
    withheld_fraction: float = Field(0.0, ge=0, lt=1)  # documents never indexed nor trained on (core/task/questions.py)
    questions: QuestionsSpec = Field(default_factory=QuestionsSpec)  # without a QA file: how they are built

    @model_validator(mode="after")
    def _overlap_below_size(self) -> DocumentsSpec:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_tokens "
                             f"({self.chunk_tokens}), or every chunk would repeat the last")
        return self

    def paths(self) -> list[Path]:
        return list(self.path) if isinstance(self.path, list) else [self.path]
