"""Finding the passages for a question: dense (FAISS), lexical (BM25), hybrid (reciprocal rank fusion of the
two), and an optional cross-encoder that reranks a wider candidate list.

Every search answers one request, `search(queries, k) -> list[list[int]]`: for each query the row indices of
its passages, best first. `rag.retriever` chooses the search and `rag.reranker` names a cross-encoder;
`build_search` puts them together. Dense search is today's FAISS index over the retrieval encoder's unit
vectors (core/methods/rag.py builds it); BM25 is the `bm25s` library (tokenize once, a sparse matrix, scored in
numpy), with its English stopwords and the Snowball stemmer (PyStemmer), both offline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RRF_CONSTANT = 60  # Cormack, Clarke and Buettcher (SIGIR 2009): k=60 in 1/(k + rank), robust across collections
FUSION_DEPTH = 4  # hybrid: each retriever's top (this x k) passages are fused, so one ranked lower by both can rise
RERANK_WIDTH = 4  # a reranker rescores the first stage's top (this x k) passages and keeps k
RETRIEVERS = ("dense", "bm25", "hybrid")


@dataclass
class DenseSearch:
    """Exact or approximate inner product over the retrieval encoder's unit vectors (cosine similarity)."""

    embedder: object  # core.backbone.embeddings.Embedder over the retrieval encoder
    index: object  # faiss.Index

    def search(self, queries: list[str], k: int) -> list[list[int]]:
        if not queries or self.index.ntotal == 0:
            return [[] for _ in queries]
        _, found = self.index.search(self.embedder.encode(queries), min(k, self.index.ntotal))
        return [[int(i) for i in row if i >= 0] for row in found]  # approximate indexes pad with -1

    def add(self, passages: list[str]) -> None:
        self.index.add(np.ascontiguousarray(self.embedder.encode(passages), dtype=np.float32))

    def save(self, folder: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(folder / "index.faiss"))


def bm25_tokens(texts: list[str]):
    """bm25s's own tokenizer: lower case, words of two or more characters, English stopwords out, Snowball stems."""
    import bm25s
    import Stemmer

    return bm25s.tokenize(texts, stopwords="en", stemmer=Stemmer.Stemmer("english"), show_progress=False)


@dataclass
class LexicalSearch:
    """BM25 (bm25s, Lucene's variant, k1=1.5, b=0.75) over the passages' words."""

    passages: list[str]
    model: object = None  # bm25s.BM25, built from the passages

    def __post_init__(self) -> None:
        self.passages = list(self.passages)
        self._index()

    def _index(self) -> None:
        import bm25s

        tokens = bm25_tokens(self.passages)
        self.model = None
        if tokens.vocab:  # passages of stopwords and one-letter words only: no word to find, and bm25s would fail
            self.model = bm25s.BM25()
            self.model.index(tokens, show_progress=False)

    def search(self, queries: list[str], k: int) -> list[list[int]]:
        if not queries or self.model is None:
            return [[] for _ in queries]
        found, scores = self.model.retrieve(bm25_tokens(queries), k=min(k, len(self.passages)),
                                            show_progress=False)
        # a passage sharing no word with the question scores 0: bm25s still fills k places, with no evidence
        return [[int(i) for i, score in zip(row, row_scores) if score > 0] for row, row_scores in zip(found, scores)]

    def add(self, passages: list[str]) -> None:
        self.passages.extend(passages)
        self._index()  # bm25s indexes at once: its document frequencies change with every passage, so index again

    def save(self, folder: Path) -> None:
        self.model.save(str(folder / "bm25"))


def reciprocal_rank_fusion(rankings: list[list[list[int]]], k: int, constant: int = RRF_CONSTANT) -> list[list[int]]:
    """Fuse several rankings per query: a passage scores sum(1 / (constant + rank)) over the rankings it is in
    (rank from 1); the top k, ties broken by the first ranking that has the passage, then by index."""
    fused = []
    for per_query in zip(*rankings):
        scores: dict[int, float] = {}
        for ranking in per_query:
            for rank, passage in enumerate(ranking, start=1):
                scores[passage] = scores.get(passage, 0.0) + 1.0 / (constant + rank)
        fused.append(sorted(scores, key=lambda p: -scores[p])[:k])  # sorted is stable: first seen wins a tie
    return fused


@dataclass
class HybridSearch:
    """Dense and BM25 rankings, fused by reciprocal rank (no score scales to calibrate against each other)."""

    dense: DenseSearch
    lexical: LexicalSearch

    def search(self, queries: list[str], k: int) -> list[list[int]]:
        depth = k * FUSION_DEPTH
        return reciprocal_rank_fusion([self.dense.search(queries, depth), self.lexical.search(queries, depth)], k)

    def add(self, passages: list[str]) -> None:
        self.dense.add(passages)
        self.lexical.add(passages)

    def save(self, folder: Path) -> None:
        self.dense.save(folder)
        self.lexical.save(folder)


def load_reranker(name: str, device: str | None = None):
    """A sentence-transformers CrossEncoder from a local folder or the Hub cache (no download, no custom code)."""
    from sentence_transformers import CrossEncoder

    from core.errors import ConfigError

    try:
        return CrossEncoder(name, device=device, local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError) as error:
        raise ConfigError(f"rag.reranker '{name}' could not be loaded as a cross-encoder from a local folder or the "
                          f"Hub cache ({type(error).__name__}: {str(error).splitlines()[0][:200]}); give a folder "
                          "holding one, or download it first") from None


@dataclass
class Reranked:
    """A first-stage search whose top (RERANK_WIDTH x k) passages a cross-encoder rescores; the best k are kept."""

    first: object  # any search above
    model: object  # sentence_transformers.CrossEncoder
    passages: list[str] = field(default_factory=list)  # what the cross-encoder reads, row for row as indexed

    def search(self, queries: list[str], k: int) -> list[list[int]]:
        candidates = self.first.search(queries, k * RERANK_WIDTH)
        pairs = [(query, self.passages[i]) for query, row in zip(queries, candidates) for i in row]
        scores = iter(self.model.predict(pairs, show_progress_bar=False).tolist() if pairs else [])
        ranked = []
        for row in candidates:
            row_scores = [next(scores) for _ in row]
            order = sorted(range(len(row)), key=lambda j: -row_scores[j])  # stable: the first stage breaks ties
            ranked.append([row[j] for j in order[:k]])
        return ranked

    def add(self, passages: list[str]) -> None:
        self.first.add(passages)
        self.passages.extend(passages)

    def save(self, folder: Path) -> None:
        self.first.save(folder)  # the cross-encoder is a model beside the index, like the retrieval encoder


def build_search(kind: str, passages: list[str], embedder=None, dense_index=None, reranker=None):
    """The search `rag.retriever` names over these passages (dense needs the embedder and its FAISS index);
    reranked by a loaded cross-encoder when one is given."""
    if kind not in RETRIEVERS:
        raise ValueError(f"unknown retriever {kind!r}; choose from {', '.join(RETRIEVERS)}")
    if kind == "dense":
        search = DenseSearch(embedder, dense_index)
    elif kind == "bm25":
        search = LexicalSearch(passages)
    else:
        search = HybridSearch(DenseSearch(embedder, dense_index), LexicalSearch(passages))
    return Reranked(search, reranker, list(passages)) if reranker is not None else search
