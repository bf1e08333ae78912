"""RAG with its retriever fixed: `rag_bm25` and `rag_hybrid` run beside `rag` (which follows rag.retriever, dense
by default) in one grid, so which retrieval works best is part of the evidence. Each is rag's decoder fit with
rag.retriever set; everything else in the `rag:` section (k, reranker) applies to all three. Decoder LLMs only.
"""

from __future__ import annotations

import dataclasses

from core.methods.base import FitContext
from core.methods.rag import SPEC as RAG


def with_retriever(ctx: FitContext, kind: str) -> FitContext:
    """The same run context with rag.retriever set to this kind (the experiment's config is left as it was)."""
    settings = ctx.config.rag.model_copy(update={"retriever": kind})
    return dataclasses.replace(ctx, config=ctx.config.model_copy(update={"rag": settings}))


def fit_bm25(ctx: FitContext):
    return RAG.fit_for("decoder")(with_retriever(ctx, "bm25"))


def fit_hybrid(ctx: FitContext):
    return RAG.fit_for("decoder")(with_retriever(ctx, "hybrid"))


# as rag on a decoder (same task kinds, same costs), off the default grid, no encoder fit and no section of its own
BM25 = dataclasses.replace(RAG, name="rag_bm25", title="RAG, BM25 retrieval (words, bm25s)",
                           fits={"decoder": fit_bm25}, colour="#5AB4AC", default_on=(), settings=None, dash="dot")
HYBRID = dataclasses.replace(RAG, name="rag_hybrid", title="RAG, hybrid retrieval (dense + BM25 fused)",
                             fits={"decoder": fit_hybrid}, colour="#01665E", default_on=(), settings=None,
                             dash="dot")
VARIANTS = (BM25.name, HYBRID.name)
