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
QUICK_DOCUMENTS = 12  # of the ~30 guides: about 250 chunks and 80 test questions, a first look within minutes
WITHHELD_FRACTION = 0.1  # documents no method sees: their questions can only be answered by making it up
# The grid `adaptlab demo streamlit-docs` runs on the built-in LLM: prompt-only, retrieval with each retriever,
# fine-tuning on the questions (LoRA), on the documents themselves (corpus_ft), and both (RAG + LoRA).
DEMO_GRID = {"sizes": [32, 128], "seeds": [0, 1, 2], "task": {"kind": "qa"}, "model": {"name": "smollm2"},
             "methods": ["prompt", "rag", "rag_bm25", "rag_hybrid", "lora", "corpus_ft", "rag_lora"]}
LLM_DEMO_GRID = DEMO_GRID  # an LLM is the only backbone that answers questions
# `adaptlab demo streamlit-docs --quick`: the small build, every method once at 32 training questions, four
# passages in RAG's prompts, the short fine-tuning budget geo-qa's quick look uses, no forgetting probe.
QUICK_OPTIONS = {"task": {"kind": "qa", "builtin_options": {"quick": True}}, "sizes": [32], "rag": {"k": 4},
                 "training": {"batch_size": 8}, "budget": {"max_epochs": 2, "min_steps": 12}, "forgetting": "off"}

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
             f"test questions, covered=false); `quick`: {QUICK_DOCUMENTS} guides",
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
          seed: int = 0) -> Task:
    """quick: QUICK_DOCUMENTS guides drawn with the seed, for a first look within minutes on a CPU."""
    from core.task.chunking import chunk_documents
    from core.task.coverage import load_tokenizer
    from core.task.document_settings import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_TOKENS, DocumentsSpec
    from core.task.documents import read_documents
    from core.task.questions import cloze_questions, documents_qa_task

    folder = guides_folder()
    documents = read_documents(DocumentsSpec(path=folder))
    # the guides only: the folder also holds app templates (.py, .toml), which are code, not the handbook
    frame = documents.frame[documents.frame.document.str.endswith(".md")].reset_index(drop=True)
    if quick:
        picked = np.random.default_rng([seed, 26]).choice(len(frame), min(QUICK_DOCUMENTS, len(frame)),
                                                           replace=False)
        frame = frame.iloc[sorted(picked)].reset_index(drop=True)
    chunks = chunk_documents(frame, load_tokenizer("default"), DEFAULT_CHUNK_TOKENS, DEFAULT_CHUNK_OVERLAP)
    questions = cloze_questions(chunks, max_per_chunk=max_per_chunk, seed=seed)
    task = documents_qa_task(chunks, questions, seed=seed, withheld_fraction=withheld_fraction,
                             name="streamlit-docs")
    digest = hashlib.sha256("\n\n".join(frame.document + "\n" + frame.text).encode()).hexdigest()
    task.provenance.update(
        scenario=CARD, streamlit=_version(), sha256=digest,
        options={"quick": quick, "withheld_fraction": withheld_fraction, "max_per_chunk": max_per_chunk,
                 "seed": seed, "chunk_tokens": DEFAULT_CHUNK_TOKENS, "chunk_overlap": DEFAULT_CHUNK_OVERLAP},
        documents={"read": len(frame), "characters": int(frame.text.str.len().sum())})
    return task
