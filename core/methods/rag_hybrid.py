"""`rag_hybrid`: RAG with hybrid retrieval
(dense and BM25 fused by reciprocal rank, k=60) fixed, run beside `rag` (which follows
rag.retriever, dense by default) in one grid, so which retrieval works best is part of the evidence. Everything else
in the `rag:` section (k, reranker) applies to both. Decoder LLMs only."""

from __future__ import annotations

import dataclasses

from core.methods.base import FitContext
from core.methods.rag import SPEC as RAG
from core.methods.rag import fit_decoder as rag_fit_decoder
from core.methods.rag import with_retriever


def fit_decoder(ctx: FitContext):
    return rag_fit_decoder(with_retriever(ctx, "hybrid"))


# as rag on a decoder (same task kinds, same costs), off the default grid, no encoder fit, no section of its own
SPEC = dataclasses.replace(RAG, name="rag_hybrid", title="RAG, hybrid retrieval (dense + BM25 fused)",
                           fits={"decoder": fit_decoder}, colour="#01665E", default_on=(), settings=None, dash="dot",
                           decoder_search=None)  # the retriever is fixed: k alone is searched
