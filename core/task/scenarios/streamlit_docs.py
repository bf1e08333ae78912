"""`streamlit-docs`: bring your documents, built in. A real handbook, its questions built from it, and the
RAG-or-fine-tune decision on the built-in LLM.

The documents are the Markdown guides that ship inside the `streamlit` package (its
`.agents/skills/developing-with-streamlit` folder: layouts, caching, session state, testing, theming, the
API reference, ...), written by Streamlit's authors and licensed Apache-2.0 with the package. Nobody here
wrote them, and they install with adaptlab (streamlit is a dependency), so the scenario runs offline.

The path a user's own documents take, unchanged: the files are read (core/task/documents.py), cut into
chunks by the retriever's tokens (core/task/chunking.py), cloze questions are built from the chunks with no
model (core/task/questions.py), and the questions are split by their source chunk, so fine-tuning on the
training questions never saw a test question's sentence. A share of the documents is withheld from every
method (never indexed, never trained on): their questions measure how often a method makes an answer up.

The text is whatever the installed streamlit ships: the provenance records its version and the documents'
digest, so two experiments on different versions are told apart.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from core.errors import ConfigError
from core.task.data import Task

GUIDES = Path(".agents") / "skills" / "developing-with-streamlit"
# `quick`: 5 of the 32 guides (seed 0: 224 chunks, 184 of them in the corpus, 163 questions) and half the questions
# for test (89, 12 of them on the withheld guide), so the test set stays as large as 12 guides gave (77) while the
# corpus that corpus_ft trains on and every RAG run indexes is 2.6 times smaller (486 chunks at 12 guides, about
# 90 model tokens each): corpus fine-tuning, the largest training cost of the grid, shrinks with it
QUICK_DOCUMENTS = 5
QUICK_TEST_FRACTION = 0.5  # the full build keeps 0.25; 59 training questions are left, enough for size 32
TEST_FRACTION = 0.25
WITHHELD_FRACTION = 0.1  # documents no method sees: their questions can only be answered by making it up
# The grid `adaptlab demo streamlit-docs` runs on the built-in LLM: prompt-only, retrieval with each retriever,
# fine-tuning on the questions (LoRA), on the documents themselves (corpus_ft), and both (RAG + LoRA).
DEMO_GRID = {"sizes": [32, 128], "seeds": [0, 1, 2], "task": {"kind": "qa"}, "model": {"name": "smollm2"},
             "methods": ["prompt", "rag", "rag_bm25", "rag_hybrid", "lora", "corpus_ft", "rag_lora"]}
LLM_DEMO_GRID = DEMO_GRID  # an LLM is the only backbone that answers questions
# `adaptlab demo streamlit-docs --quick`: the small build, every method once at 32 training questions, four
# passages in RAG's prompts, the short fine-tuning budget geo-qa's quick look uses, no forgetting probe, the
# known-facts pass greedy only (known or unknown, no sampled answers: each sample costs as much as the greedy pass),
# and known/unknown learning followed at 2 evenly spaced epoch ends (the last among them: the finding's sentence
# reads the first and the last) instead of 4, each answering the run's training questions and 48 test questions
QUICK_OPTIONS = {"task": {"kind": "qa", "builtin_options": {"quick": True}}, "sizes": [32], "rag": {"k": 4},
                 "training": {"batch_size": 8}, "budget": {"max_epochs": 2, "min_steps": 12}, "forgetting": "off",
                 "llm": {"known_facts": {"samples": 0, "checkpoints": 2}}}

CARD = {
    "name": "streamlit-docs",
    "title": "Questions about a handbook (your documents, built in)",
    "source": "the Markdown guides inside the PyPI package streamlit (.agents/skills/developing-with-streamlit)",
    "licence": "Apache-2.0 (streamlit)",
    "labels": [],  # questions, not classes: each has its own answer
    "probes": "a folder of documents to a decision: retrieval (dense, BM25, hybrid) against fine-tuning on "
              "questions or on the documents, and made-up answers on documents no method saw",
    "built": "every Markdown guide, read and cut into chunks of the retriever's tokens (headings, paragraphs, "
             "sentences); cloze questions built offline from the chunks (a name, number, identifier or defined "
             "term hidden), at most 2 per chunk; split by source chunk (train, validation, test never share a "
             f"chunk); {WITHHELD_FRACTION:.0%} of the documents withheld from every method (their questions are "
             f"test questions, covered=false); `quick`: {QUICK_DOCUMENTS} guides, {QUICK_TEST_FRACTION:.0%} of the "
             "questions for test",
}


def guides_folder() -> Path:
    """Where the installed streamlit keeps its guides, found without importing it (core never imports the UI
    library); a clear error if this version ships none."""
    from importlib.util import find_spec

    spec = find_spec("streamlit")
    folder = Path(spec.submodule_search_locations[0]) / GUIDES if spec else Path("streamlit") / GUIDES
    if not any(folder.rglob("*.md")):
        raise ConfigError(f"streamlit {_version()} ships no Markdown guides at {folder}; the streamlit-docs "
                          "scenario needs a streamlit that does (1.67 or later)")
    return folder


def _version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("streamlit")
    except PackageNotFoundError:
        return None


def build(quick: bool = False, withheld_fraction: float = WITHHELD_FRACTION, max_per_chunk: int = 2,
          seed: int = 0, documents: int | None = None, test_fraction: float | None = None) -> Task:
    """quick: QUICK_DOCUMENTS guides drawn with the seed and QUICK_TEST_FRACTION of the questions for test, for a
    first look within minutes on a CPU. documents: that many guides drawn with the seed instead (at least 2: one
    may be withheld); test_fraction: the share of questions (by source chunk) for test instead."""
    from core.task.chunking import chunk_documents
    from core.task.coverage import load_tokenizer
    from core.task.document_settings import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_TOKENS, DocumentsSpec
    from core.task.documents import read_documents
    from core.task.questions import cloze_questions, documents_qa_task

    folder = guides_folder()
    read = read_documents(DocumentsSpec(path=folder))
    # the guides only: the folder also holds app templates (.py, .toml), which are code, not the handbook
    frame = read.frame[read.frame.document.str.endswith(".md")].reset_index(drop=True)
    count = documents if documents is not None else (QUICK_DOCUMENTS if quick else None)
    if count is not None:
        if count < 2:
            raise ConfigError(f"documents is {count}; draw at least 2 guides (one may be withheld from every method)")
        picked = np.random.default_rng([seed, 26]).choice(len(frame), min(count, len(frame)), replace=False)
        frame = frame.iloc[sorted(picked)].reset_index(drop=True)
    chunks = chunk_documents(frame, load_tokenizer("default"), DEFAULT_CHUNK_TOKENS, DEFAULT_CHUNK_OVERLAP)
    questions = cloze_questions(chunks, max_per_chunk=max_per_chunk, seed=seed)
    if test_fraction is None:
        test_fraction = QUICK_TEST_FRACTION if quick else TEST_FRACTION
    if not 0 < test_fraction < 0.9:
        raise ConfigError(f"test_fraction is {test_fraction}; it is the share of questions for test, above 0 and "
                          "below 0.9 (training and validation questions need the rest)")
    task = documents_qa_task(chunks, questions, test_fraction=test_fraction, seed=seed,
                             withheld_fraction=withheld_fraction, name="streamlit-docs")
    digest = hashlib.sha256("\n\n".join(frame.document + "\n" + frame.text).encode()).hexdigest()
    task.provenance.update(
        scenario=CARD, streamlit=_version(), sha256=digest,
        options={"quick": quick, "documents": len(frame), "test_fraction": test_fraction,
                 "withheld_fraction": withheld_fraction, "max_per_chunk": max_per_chunk,
                 "seed": seed, "chunk_tokens": DEFAULT_CHUNK_TOKENS, "chunk_overlap": DEFAULT_CHUNK_OVERLAP},
        documents={"read": len(frame), "characters": int(frame.text.str.len().sum())})
    return task
