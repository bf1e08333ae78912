"""Retrieval: FAISS search at 100k and 1M vectors of dimension 384, exact against approximate (HNSW).

    python bench/retrieval.py [--sizes 100000 1000000] [--queries 1000]

Plain FAISS exact search (IndexFlatIP) is the peer; adaptlab's approximate index (the HNSW settings
RAG uses above `rag.approximate_above`) is measured against it: latency per query and recall@10
against exact. Goal: approximate at most 1 ms per query at recall@10 of at least 0.95.

The vectors are synthetic but shaped like text embeddings: unit vectors drawn around 2,000 cluster
centres (a Gaussian mixture), since a million real sentences do not ship with the package.
"""

from __future__ import annotations

import argparse

import numpy as np
from common import save, timed


def clustered_unit_vectors(n: int, dim: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    picked = centres[rng.integers(0, len(centres), n)]  # drawn before the noise, as the stored figures were
    vectors = picked + 0.6 * rng.standard_normal((n, dim), dtype=np.float32) / np.sqrt(dim)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32)


def per_query_ms(index, queries: np.ndarray, k: int) -> float:
    """Latency of one query at a time (what a RAG request pays), averaged over the queries."""
    with timed() as t:
        for q in queries:
            index.search(q[None, :], k)
    return t() / len(queries) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=384)
    args = parser.parse_args()

    import faiss

    from core.backbone.vector_index import build_index

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((2000, args.dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    figures = {"threads": faiss.omp_get_max_threads()}
    for n in args.sizes:
        data = clustered_unit_vectors(n, args.dim, rng, centres)
        queries = clustered_unit_vectors(args.queries, args.dim, rng, centres)
        exact = faiss.IndexFlatIP(args.dim)
        exact.add(data)
        truth = exact.search(queries, 10)[1]
        with timed() as t:
            approximate = build_index(data, "hnsw", approximate_above=0)
        build_seconds = t()
        chosen = approximate.hnsw.efSearch  # what adaptlab's RAG uses at this size
        exact_ms = per_query_ms(exact, queries[:200], 10)
        sweep = {}
        for ef in sorted({64, 128, 256, 512, chosen}):  # the curve the chosen breadth sits on
            approximate.hnsw.efSearch = ef
            found = approximate.search(queries, 10)[1]
            sweep[ef] = {"recall_at_10": float(np.mean([len(set(f) & set(g)) / 10 for f, g in zip(found, truth)])),
                         "ms_per_query": per_query_ms(approximate, queries, 10)}
        figures[str(n)] = {"exact_ms_per_query": exact_ms, "ef_search": chosen,
                           "hnsw_ms_per_query": sweep[chosen]["ms_per_query"],
                           "speedup": exact_ms / sweep[chosen]["ms_per_query"],
                           "hnsw_recall_at_10": sweep[chosen]["recall_at_10"], "hnsw_build_seconds": build_seconds,
                           "ef_search_sweep": {str(ef): v for ef, v in sweep.items()}}
        print(n, figures[str(n)], flush=True)
    save("retrieval", f"python bench/retrieval.py --sizes {' '.join(map(str, args.sizes))} --queries {args.queries}",
         "approximate: <= 1 ms per query at recall@10 >= 0.95", figures,
         notes="one query at a time; HNSW M=32, efConstruction=80, efSearch by size (core/methods/rag.py "
               "hnsw_ef_search; the sweep shows the curve around it); exact = plain FAISS IndexFlatIP")


if __name__ == "__main__":
    main()
