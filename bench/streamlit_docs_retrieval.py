"""Chunk size and retriever on the streamlit-docs quick build: recall@k and MRR of its cloze questions.

    python bench/streamlit_docs_retrieval.py [--sizes 64 128 256] [--k 4]

The guides and questions are `adaptlab demo streamlit-docs --quick`'s (core/task/scenarios/streamlit_docs.py):
the cloze questions are built once, at the default chunking, and asked against the guides cut at each size, so
every size answers the same questions. A question is found when a retrieved chunk holds its sentence around the
blank (30 characters each side), whichever chunking cut it. Every guide is indexed (none
withheld: this measures retrieval, not made-up answers). Retrieval is what RAG runs: dense over the built-in
sentence encoder (256 tokens of a passage, core/running/run.py), BM25 (bm25s), and their reciprocal rank fusion
(core/backbone/retrieval.py). bench/chunk_sizes.py measured the default chunk size on other documentation.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEPTH = 50  # ranks searched for MRR; a question found lower counts as not found (adds under 0.02 to MRR)
BEFORE = 30  # characters of the sentence on each side of the blank that a chunk must hold


def flat(text: str) -> str:
    """Whitespace as one space and no backticks: a question shows `st.login` as st.login."""
    return " ".join(text.replace("`", "").split())


def needles(questions) -> list[tuple[str, str]]:
    """What a chunk must hold for each question: the words just before the blank and just after it (the answer
    between them is in the chunk as written, perhaps in another form than the normalised answer)."""
    out = []
    for question in questions.question:
        sentence = question.split("”): ", 1)[1] if "”): " in question else question.split(": ", 1)[1]
        before, after = sentence.removeprefix("(...)").split("____", 1)
        out.append((flat(before)[-BEFORE:], flat(after)[:BEFORE]))
    return out


def holds(text: str, needle: tuple[str, str]) -> bool:
    return all(part in text for part in needle)


class Encoder:
    """The retrieval encoder as DenseSearch asks for it: unit vectors."""

    def __init__(self):
        from sentence_transformers import SentenceTransformer

        from core.backbone.models import resolve_model
        from core.running.run import RETRIEVER_MAX_LENGTH

        self.model = SentenceTransformer(str(resolve_model("default")[1]), device="cpu")
        self.model.max_seq_length = RETRIEVER_MAX_LENGTH

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, normalize_embeddings=True, batch_size=32).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--k", type=int, default=4)
    args = parser.parse_args()
    import faiss

    from core.backbone.retrieval import build_search
    from core.task.chunking import chunk_documents
    from core.task.coverage import load_tokenizer
    from core.task.document_settings import DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_TOKENS, DocumentsSpec
    from core.task.documents import read_documents
    from core.task.questions import cloze_questions
    from core.task.scenarios import streamlit_docs

    quick = streamlit_docs.build(quick=True)
    drawn = set(quick.corpus.document) | set(quick.provenance["withheld_documents"])  # the guides it drew
    read = read_documents(DocumentsSpec(path=streamlit_docs.guides_folder())).frame
    frame = read[read.document.isin(drawn)].reset_index(drop=True)
    tokenizer = load_tokenizer("default")
    built = chunk_documents(frame, tokenizer, DEFAULT_CHUNK_TOKENS, DEFAULT_CHUNK_OVERLAP)
    questions = cloze_questions(built).frame
    # a sentence whose Markdown the question rewrote (emphasis, list marks) cannot be matched in any chunk: left out
    own = dict(zip(built.id, (flat(t) for t in built.text)))
    matched = [holds(own[source], needle) for source, needle in zip(questions.source, needles(questions))]
    print(f"{len(questions) - sum(matched)} of {len(questions)} questions left out: their sentence is not found "
          "as written in their own chunk")
    questions = questions[matched].reset_index(drop=True)
    wanted, asked = needles(questions), questions.question.tolist()
    document_of = questions.source.str.split("#").str[0].tolist()
    encoder = Encoder()
    print(f"{len(frame)} guides, {len(questions)} questions (built at {DEFAULT_CHUNK_TOKENS} tokens), k={args.k}")
    for size in args.sizes:
        chunks = chunk_documents(frame, tokenizer, size, min(DEFAULT_CHUNK_OVERLAP, size // 4))
        texts, documents = [flat(t) for t in chunks.text], chunks.document.tolist()
        index = faiss.IndexFlatIP(384)
        index.add(encoder.encode(chunks.text.tolist()))
        for kind in ("dense", "bm25", "hybrid"):
            search = build_search(kind, chunks.text.tolist(), embedder=encoder, dense_index=index)
            found = search.search(asked, DEPTH)
            ranks = [next((r + 1 for r, i in enumerate(row) if documents[i] == doc and holds(texts[i], needle)),
                          np.inf) for row, doc, needle in zip(found, document_of, wanted)]
            ranks = np.array(ranks, dtype=float)
            print(f"chunk_tokens={size:4d} {len(chunks):4d} chunks {kind:6s} recall@1 {np.mean(ranks <= 1):.3f} "
                  f"recall@{args.k} {np.mean(ranks <= args.k):.3f} MRR {np.mean(1 / ranks):.3f} "
                  f"(never found {int(np.isinf(ranks).sum())})", flush=True)


if __name__ == "__main__":
    main()
