"""FAISS indexes over unit-length embeddings, so inner products are cosine similarities: exact by default, HNSW
(or IVF, if asked) above a size. RAG on an encoder votes over one; RAG on an LLM retrieves passages with one.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import faiss


HNSW_NEIGHBOURS = 32  # graph degree: the usual speed/recall balance for 384-d text vectors
HNSW_EF_CONSTRUCTION = 80  # build-time breadth: FAISS's 40 leaves a 1M-vector graph at recall@10 0.87
HNSW_EF_SEARCH = 128  # search breadth at 100k vectors and below; larger graphs get more (hnsw_ef_search)
HNSW_EF_SEARCH_MAX = 512
IVF_PROBES = 16


def hnsw_ef_search(vectors: int) -> int:
    """Search breadth for an HNSW graph of this many vectors: twice as broad per tenfold growth past 100k.

    A bigger graph needs a broader search for the same recall (bench/retrieval.py measures the curve).
    """
    return int(min(HNSW_EF_SEARCH_MAX, HNSW_EF_SEARCH * 2 ** max(0.0, math.log10(max(vectors, 1) / 100_000))))


def build_index(vectors: np.ndarray, kind: str, approximate_above: int) -> faiss.Index:
    """An inner-product index over unit vectors (so scores are cosine similarities)."""
    import faiss

    dim = vectors.shape[1]
    if kind == "auto":
        kind = "hnsw" if len(vectors) > approximate_above else "flat"
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = hnsw_ef_search(len(vectors))
    elif kind == "ivf":
        lists = max(1, min(int(4 * math.sqrt(len(vectors))), len(vectors) // 39))  # FAISS wants ~39 points per list
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = min(IVF_PROBES, lists)
    else:
        raise ValueError(f"unknown index type {kind!r}")
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def save_index(index: faiss.Index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def load_index(path: Path) -> faiss.Index:
    import faiss

    return faiss.read_index(str(path))
