"""RAG: retrieve the k nearest documents from a FAISS index and let them vote, weighted by similarity.

The index holds the knowledge corpus, the training examples, or both. A labelled entry votes for its
label; an unlabelled document votes with the prompt-only label distribution of its own text, so a
corpus without labels still carries knowledge. Exact inner-product search by default; above
`rag.approximate_above` vectors, HNSW (or IVF if asked). The index saves in FAISS's own format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field

from core.backbone.vector_index import build_index, save_index
from core.methods.base import FitContext, MethodSpec
from core.methods.prompt import PromptClassifier
from core.methods.prompt import build as build_prompt
from core.schema import Strict

if TYPE_CHECKING:
    import faiss

    from core.backbone.embeddings import Embedder
    from core.methods.decoder.predictors import DecoderPredictor


class RagSettings(Strict):
    """The `rag:` section of a config."""

    k: int = Field(8, ge=1, le=1000)
    source: Literal["auto", "corpus", "train", "both"] = "auto"  # auto: both if a corpus is given
    index: Literal["auto", "flat", "hnsw", "ivf"] = "auto"
    approximate_above: int = Field(50_000, ge=1)  # auto switches from exact to HNSW above this many vectors
    # on an LLM: dense (FAISS over the retrieval encoder), bm25 (words), or hybrid (the two fused by reciprocal
    # rank); core/backbone/retrieval.py. The rag_bm25 and rag_hybrid methods fix it, to compare them in one grid
    retriever: Literal["dense", "bm25", "hybrid"] = "dense"
    # on an LLM: a cross-encoder (local folder or Hub id in the cache) that reranks the top 4k passages down to k
    reranker: str | None = Field(None, min_length=1)
    # on an LLM: each passage cut to this many tokens, as it is indexed and shown in the prompt (a labelled example
    # keeps its label line); None: model.max_length, what the model reads of a question or a shot
    passage_tokens: int | None = Field(None, ge=8, le=8192)


ENTRIES_FILE = "entries.jsonl"  # what a kept (and exported) run's index holds, one {"text"} a line
VOTE_TEMPERATURE = 0.05  # cosine similarities of neighbours differ by a few hundredths: sharpen them


@dataclass
class RagClassifier:
    embedder: Embedder
    index: faiss.Index
    votes: np.ndarray  # (entries, classes): what each indexed entry votes for
    k: int
    labeller: PromptClassifier  # gives unlabelled documents their vote
    trainable_parameters: int = 0
    total_parameters: int = 0
    details: dict = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)  # each indexed entry's text, row for row: the store a user reads

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        scores, ids = self.index.search(self.embedder.encode(texts), min(self.k, self.index.ntotal))
        # softmax over similarities: a clearly closer neighbour (the fact itself) outvotes the rest
        weights = np.exp((scores - scores.max(axis=1, keepdims=True)) / VOTE_TEMPERATURE)[..., None]
        valid = (ids >= 0)[..., None]  # approximate indexes pad with -1 when they find fewer than k
        tally = (self.votes[np.where(ids >= 0, ids, 0)] * weights * valid).sum(axis=1)
        totals = tally.sum(axis=1, keepdims=True)
        uniform = np.full_like(tally, 1.0 / tally.shape[1])
        return np.where(totals > 0, tally / np.where(totals > 0, totals, 1), uniform)

    def add_documents(self, texts: list[str], labels: list[int | None]) -> None:
        """New knowledge without retraining: embed, add to the index; unlabelled documents vote via the prompt."""
        votes = np.zeros((len(texts), self.votes.shape[1]), dtype=np.float32)
        unlabelled = [i for i, label in enumerate(labels) if label is None]
        for i, label in enumerate(labels):
            if label is not None:
                votes[i, label] = 1.0
        if unlabelled:
            votes[unlabelled] = self.labeller.predict_proba([texts[i] for i in unlabelled])
        self.index.add(np.ascontiguousarray(self.embedder.encode(texts), dtype=np.float32))
        self.votes = np.vstack([self.votes, votes])
        self.texts.extend(texts)

    def save(self, folder: Path) -> None:
        save_index(self.index, folder / "index.faiss")
        np.save(folder / "votes.npy", self.votes)
        with open(folder / ENTRIES_FILE, "w", encoding="utf-8") as lines:  # line i is the index's row i
            lines.writelines(json.dumps({"text": text}, ensure_ascii=False) + "\n" for text in self.texts)


def _sources(ctx: FitContext) -> list[str]:
    source = ctx.config.rag.source
    has_corpus = ctx.corpus is not None and len(ctx.corpus) > 0
    if source == "auto":
        return ["corpus", "train"] if has_corpus else ["train"]
    if source in ("corpus", "both") and not has_corpus:
        from core.errors import ConfigError

        raise ConfigError(f"rag.source is '{source}' but the task has no knowledge corpus; "
                          "add task.corpus or set rag.source: train")
    return {"both": ["corpus", "train"], "corpus": ["corpus"], "train": ["train"]}[source]


def fit(ctx: FitContext) -> RagClassifier:
    texts, votes, index_of = [], [], {label: i for i, label in enumerate(ctx.labels)}
    sources = _sources(ctx)
    labeller = build_prompt(ctx.embedder, ctx.labels, ctx.config.prompt.template, ctx.config.prompt.descriptions)
    if "corpus" in sources:
        for text, label in zip(ctx.corpus.text, ctx.corpus.label):
            texts.append(text)
            votes.append(_one_hot(index_of[label], len(ctx.labels)) if label in index_of else None)
    if "train" in sources:
        texts.extend(ctx.train_texts)
        votes.extend(_one_hot(label, len(ctx.labels)) for label in ctx.train_labels)
    vectors = ctx.embedder.encode(texts)
    unlabelled = [i for i, vote in enumerate(votes) if vote is None]
    if unlabelled:
        guesses = labeller.predict_proba([texts[i] for i in unlabelled])
        for i, guess in zip(unlabelled, guesses):
            votes[i] = guess
    settings = ctx.config.rag
    index = build_index(vectors, settings.index, settings.approximate_above)
    total = sum(p.numel() for p in ctx.embedder.base.encoder().parameters())
    k = int(ctx.hyper.get("k", settings.k))
    return RagClassifier(ctx.embedder, index, np.stack(votes).astype(np.float32), k, labeller, 0, total,
                         details={"index": type(index).__name__, "entries": index.ntotal, "sources": sources,
                                  "unlabelled_entries": len(unlabelled), "k": k}, texts=texts)


def _one_hot(label: int, classes: int) -> np.ndarray:
    vote = np.zeros(classes, dtype=np.float32)
    vote[label] = 1.0
    return vote


def fit_decoder(ctx: FitContext) -> DecoderPredictor:
    """On an LLM: the top-k corpus passages (or labelled training examples) retrieved into the prompt."""
    from core.methods.decoder.fits import build_retriever, frozen_dtype, predictor

    ctx = with_searched(ctx)
    return predictor(ctx, ctx.base.causal_lm(dtype=frozen_dtype(ctx)), retriever=build_retriever(ctx))


SPEC = MethodSpec("rag", "RAG (retrieve + vote; on an LLM, passages in the prompt)", colour="#17A2B8",
                  fits={"encoder": fit, "decoder": fit_decoder}, task_kinds=("classification", "qa"),
                  needs_corpus=("qa",), uses_embeddings=True, retrieves=True,
                  shares_base_model=True, updates_without_training=True,
                  default_on=("encoder", "decoder"), settings=RagSettings, dash="dashdot",
                  # on an LLM the retriever too (the middle one, dense, is the configured default); rag_bm25 and
                  # rag_hybrid fix theirs and search k alone
                  search={"k": (4, 8, 16)}, decoder_search={"k": (4, 8, 16), "retriever": ("bm25", "dense", "hybrid")})


def with_searched(ctx: FitContext) -> FitContext:
    """The run context with the `rag:` settings under trial in the run's search (k, retriever) put in its config."""
    searched = {name: ctx.hyper[name] for name in ("k", "retriever") if name in ctx.hyper}
    return _with_rag(ctx, **searched) if searched else ctx


def with_retriever(ctx: FitContext, kind: str) -> FitContext:
    """The same run context with rag.retriever set to this kind (the experiment's config is left as it was): what
    rag_bm25 and rag_hybrid run, so one grid compares retrievers."""
    return _with_rag(ctx, retriever=kind)


def _with_rag(ctx: FitContext, **update) -> FitContext:
    import dataclasses

    settings = ctx.config.rag.model_copy(update=update)
    return dataclasses.replace(ctx, config=ctx.config.model_copy(update={"rag": settings}))
