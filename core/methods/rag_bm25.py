"""`rag_bm25`: RAG with BM25 (bm25s: words, stemmed, stopwords out) fixed, run beside `rag` (which follows
rag.retriever, dense by default) in one grid, so which retrieval works best is part of the evidence. Everything else
in the `rag:` section (k, reranker) applies to both. Decoder LLMs only."""

from __future__ import annotations

import dataclasses

from core.methods.base import FitContext
from core.methods.rag import SPEC as RAG
from core.methods.rag import fit_decoder as rag_fit_decoder
from core.methods.rag import with_retriever


def fit_decoder(ctx: FitContext):
    return rag_fit_decoder(with_retriever(ctx, "bm25"))


# as rag on a decoder (same task kinds, same costs), off the default grid, no encoder fit, no section of its own
SPEC = dataclasses.replace(RAG, name="rag_bm25", title="RAG, BM25 retrieval (words, bm25s)",
                           fits={"decoder": fit_decoder}, colour="#5AB4AC", default_on=(), settings=None, dash="dot",
                           decoder_search=None)  # the retriever is fixed: k alone is searched
