"""Which chunk size retrieves best: dense recall@k of cloze questions over real documentation, per chunk size.

    python bench/chunk_sizes.py [--sizes 128 256 384] [--overlap 32]

The documents are the long descriptions (READMEs) of the Python packages installed beside adaptlab
(their METADATA files; real documentation no one here wrote, under the packages' own open licences).
A cloze question is one of their sentences with a number or a name hidden; a question is answered
when a retrieved chunk of its document holds the hidden span. Retrieval is the default RAG
retriever's: the built-in sentence encoder, reading 256 tokens of a passage (core/running/run.py).
The result chose DEFAULT_CHUNK_TOKENS in core/task/document_settings.py (on a 2-core CPU, 2026-12-07):

    chunk_tokens=128: 1536 chunks, recall@1 0.717, recall@5 0.916, recall@10 0.946, MRR 0.801
    chunk_tokens=256:  793 chunks, recall@1 0.657, recall@5 0.837, recall@10 0.861, MRR 0.737
    chunk_tokens=384:  614 chunks, recall@1 0.614, recall@5 0.795, recall@10 0.861, MRR 0.698
"""

from __future__ import annotations

import argparse
import importlib.metadata
import random
import re

import numpy as np
import pandas as pd

SALIENT = re.compile(r"(?<=\s)(\d[\d.,]*|[A-Z][a-zA-Z]+[A-Z][a-zA-Z]*|`[^`\s]{3,30}`)")  # numbers, CamelCase, `code`
SENTENCE = re.compile(r"[^.!?\n][^.!?]{60,300}[.!?](?=\s)")


def package_documents(min_chars: int = 8000, max_chars: int = 12_000) -> pd.DataFrame:
    rows = []
    for dist in importlib.metadata.distributions():
        text = dist.read_text("METADATA") or ""
        body = text.split("\n\n", 1)[-1]
        name = dist.metadata["Name"]
        if len(body) >= min_chars and name and name.lower() != "adaptlab":
            rows.append((f"{name}/README", body[:max_chars]))  # the first pages: a 2-core CPU encodes them in minutes
    return pd.DataFrame(rows, columns=["document", "text"]).drop_duplicates("document").sort_values("document")


def cloze(documents: pd.DataFrame, per_document: int = 6, seed: int = 0) -> pd.DataFrame:
    rng, rows = random.Random(seed), []
    for document, text in zip(documents.document, documents.text):
        found = []
        for sentence in SENTENCE.finditer(text):
            spans = list(SALIENT.finditer(sentence.group()))
            if spans and "http" not in sentence.group():
                span = rng.choice(spans)
                question = sentence.group()[:span.start()] + "____" + sentence.group()[span.end():]
                found.append((document, " ".join(question.split()), sentence.start() + span.start()))
        rows += rng.sample(found, min(per_document, len(found)))
    return pd.DataFrame(rows, columns=["document", "question", "answer_at"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 384])
    parser.add_argument("--overlap", type=int, default=32)
    args = parser.parse_args()
    from sentence_transformers import SentenceTransformer

    from core.backbone.models import resolve_model
    from core.running.run import RETRIEVER_MAX_LENGTH
    from core.task.chunking import chunk_documents
    from core.task.coverage import load_tokenizer

    documents = package_documents()
    questions = cloze(documents)
    print(f"{len(documents)} documents, {documents.text.str.len().sum():,} characters, {len(questions)} questions")
    encoder = SentenceTransformer(str(resolve_model("default")[1]), device="cpu")
    encoder.max_seq_length = RETRIEVER_MAX_LENGTH
    asked = encoder.encode(questions.question.tolist(), normalize_embeddings=True, batch_size=64)
    tokenizer = load_tokenizer("default")
    for size in args.sizes:
        chunks = chunk_documents(documents, tokenizer, size, min(args.overlap, size // 4))
        passages = encoder.encode(chunks.text.tolist(), normalize_embeddings=True, batch_size=32)
        ranked = np.argsort(-(asked @ passages.T), axis=1)
        ranks = []
        for row, question in enumerate(questions.itertuples()):
            holds = ((chunks.document == question.document) & (chunks.start <= question.answer_at)
                     & (chunks.end > question.answer_at)).to_numpy()
            hits = np.flatnonzero(holds[ranked[row]])
            ranks.append(hits[0] + 1 if len(hits) else np.inf)
        ranks = np.array(ranks)
        print(f"chunk_tokens={size}: {len(chunks)} chunks, recall@1 {np.mean(ranks <= 1):.3f}, recall@5 "
              f"{np.mean(ranks <= 5):.3f}, recall@10 {np.mean(ranks <= 10):.3f}, MRR {np.mean(1 / ranks):.3f}",
              flush=True)


if __name__ == "__main__":
    main()
