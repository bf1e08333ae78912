"""The built-in SmolLM2 writing questions from real documentation: a few chunks of streamlit's own guides.

Slow (the GGUF conversion takes about 20 s, the writing a minute or more on 2 shared cores): the check that what the
filter keeps from a real model's replies is supported by the chunk it came from, which a random tiny model (the
unit tests) never writes.
"""

from __future__ import annotations

import pytest

from core.backbone.gguf import builtin_gguf
from core.errors import ModelLoadError

pytestmark = pytest.mark.slow

GUIDE = "session-state.md"  # prose with names and code words, as handbooks are
CHUNKS = [0, 3, 6]  # a few chunks apart: the CPU is shared


def test_smollm2_keeps_only_questions_whose_answers_are_in_their_source_chunks():
    from core.task.chunking import chunk_documents
    from core.task.coverage import load_tokenizer
    from core.task.document_settings import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_TOKENS, DocumentsSpec
    from core.task.documents import read_documents
    from core.task.llm_questions import write_questions
    from core.task.questions import normalize_answer
    from core.task.scenarios.streamlit_docs import guides_folder

    try:
        builtin_gguf("smollm2")
    except ModelLoadError as missing:
        pytest.skip(f"{missing}")
    documents = read_documents(DocumentsSpec(path=[guides_folder() / "references" / GUIDE]))
    chunks = chunk_documents(documents.frame, load_tokenizer("default"), DEFAULT_CHUNK_TOKENS,
                             DEFAULT_CHUNK_OVERLAP).iloc[CHUNKS]
    questions = write_questions(chunks, "smollm2", device="cpu")
    report = questions.report
    dropped = sum(report["dropped"].values())
    assert report["generated"] == 3 * len(chunks) + report["retried"] == report["kept"] + dropped
    assert report["model"] == "SmolLM2-135M-Instruct" and report["chat_template"]
    text = dict(zip(chunks.id, chunks.text))
    for row in questions.frame.itertuples():
        assert row.source in text and row.origin == "llm"
        assert f" {normalize_answer(row.answer)} " in f" {normalize_answer(text[row.source])} ", row
        assert not row.answer.startswith(("```", "Question")) and row.question.strip(), row
