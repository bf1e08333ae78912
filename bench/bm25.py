"""BM25 through adaptlab (rag.retriever: bm25) against the bm25s library called directly, on the same texts.

    python bench/bm25.py [--passages 50000] [--queries 1000] [--repeats 3]

The peer is what a user would write with bm25s alone: `bm25s.tokenize` (English stopwords, Snowball stemmer),
`BM25().index`, `retrieve(k=10)`. adaptlab's LexicalSearch (core/backbone/retrieval.py) does the same plus its own
bookkeeping (a copy of the passage list, dropping passages that share no word with a question). Indexing and
answering all queries are timed apart, each the best of --repeats, the two sides taking turns to go first. Goal:
adaptlab at most 1.1x the library on both. The results must agree: the same passages for every query.

The texts are real English: the docstrings of installed packages (transformers, pandas, scikit-learn, torch) of
at least 200 characters (about 17,000, 17 MB, in the versions installed here); the queries are the summary lines
of evenly spaced ones, short like a user's question, each with a passage that answers it.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
from pathlib import Path

from common import save, timed

PACKAGES = ("transformers", "pandas", "sklearn", "torch")
MIN_CHARS = 200  # a docstring shorter than this is a one-liner, not a passage


def docstrings(limit: int) -> list[str]:
    """Up to `limit` distinct docstrings of at least MIN_CHARS characters, in a fixed order."""
    seen, texts = set(), []
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        for path in sorted(Path(spec.submodule_search_locations[0]).rglob("*.py")):
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError, ValueError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    text = ast.get_docstring(node)
                    if text and len(text) >= MIN_CHARS and text not in seen:
                        seen.add(text)
                        texts.append(text)
                        if len(texts) >= limit:
                            return texts
    return texts


def direct(passages: list[str], queries: list[str], k: int):
    """bm25s as its README shows it."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    with timed() as index_seconds:
        model = bm25s.BM25()
        model.index(bm25s.tokenize(passages, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False)
    with timed() as query_seconds:
        found, _ = model.retrieve(bm25s.tokenize(queries, stopwords="en", stemmer=stemmer, show_progress=False), k=k,
                                  show_progress=False)
    return index_seconds(), query_seconds(), found


def through_adaptlab(passages: list[str], queries: list[str], k: int):
    from core.backbone.retrieval import build_search

    with timed() as index_seconds:
        search = build_search("bm25", passages)
    with timed() as query_seconds:
        found = search.search(queries, k)
    return index_seconds(), query_seconds(), found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passages", type=int, default=20_000)  # at most: as many docstrings as there are
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()

    passages = docstrings(args.passages)
    step = max(1, len(passages) // args.queries)  # evenly spaced over the packages, each a passage's summary line
    queries = [text.splitlines()[0] for text in passages[::step]][:args.queries]
    best: dict[str, list[float]] = {"direct": [float("inf")] * 2, "adaptlab": [float("inf")] * 2}
    results = {}
    for repeat in range(args.repeats):
        sides = (("direct", direct), ("adaptlab", through_adaptlab))
        for side, run in sides if repeat % 2 == 0 else sides[::-1]:  # neither side always goes first
            index_s, query_s, results[side] = run(passages, queries, args.k)
            best[side] = [min(best[side][0], index_s), min(best[side][1], query_s)]
    # the same passages, less those that share no word with the question (score 0, which adaptlab drops)
    agree = all(list(row) == [int(i) for i in want][:len(row)] for row, want in zip(results["adaptlab"],
                                                                                    results["direct"]))
    figures = {"passages": len(passages), "characters": sum(map(len, passages)), "queries": len(queries),
               "k": args.k, "same_results": agree,
               "direct_index_seconds": best["direct"][0], "adaptlab_index_seconds": best["adaptlab"][0],
               "index_ratio": best["adaptlab"][0] / best["direct"][0],
               "direct_query_seconds": best["direct"][1], "adaptlab_query_seconds": best["adaptlab"][1],
               "query_ratio": best["adaptlab"][1] / best["direct"][1],
               "adaptlab_ms_per_query": best["adaptlab"][1] / len(queries) * 1000}
    save("bm25", f"python bench/bm25.py --passages {args.passages} --queries {args.queries} --repeats {args.repeats}",
         "adaptlab's BM25 at most 1.1x bm25s called directly (indexing and queries)", figures,
         notes="best of the repeats, the two sides taking turns to go first, in one process; bm25s numpy backend, "
               "English stopwords, PyStemmer's Snowball stemmer; texts: docstrings of transformers, pandas, "
               "scikit-learn, torch")


if __name__ == "__main__":
    main()
