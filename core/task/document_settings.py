"""The settings of a task's documents (`task.documents` in a config); reading them is core/task/documents.py.

Apart from the reader so that core/config.py can hold them without importing the task loaders (which import it).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from core.schema import Strict

# Chosen by measurement (bench/chunk_sizes.py): dense retrieval with the default encoder of 166 cloze questions
# over the READMEs of 32 installed packages (367,478 characters), overlap 32 tokens. Chunks of 128 tokens:
# recall@5 0.916, MRR 0.801; 256: 0.837, 0.737; 384: 0.795, 0.698 (and the retriever reads only 256 tokens of a
# passage, so longer chunks are partly unseen). Three 128-token chunks also fit a 1,024-token LLM context.
DEFAULT_CHUNK_TOKENS = 128
DEFAULT_CHUNK_OVERLAP = 32


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

    @model_validator(mode="after")
    def _overlap_below_size(self) -> DocumentsSpec:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_tokens "
                             f"({self.chunk_tokens}), or every chunk would repeat the last")
        return self

    def paths(self) -> list[Path]:
        return list(self.path) if isinstance(self.path, list) else [self.path]
