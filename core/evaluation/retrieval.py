"""How well retrieval finds the passage a question came from: recall@k and mean reciprocal rank.

A question's source is a chunk id or a document name (the QA file's `source` column, or a built-in scenario's
`passage_id`); a retrieved passage is a hit when its id equals the source or its document does. Questions with
no source (their fact is in no passage) are left out of both. Pure functions, lists in, numbers out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def known(source) -> bool:
    """Whether a question names a source ("" , None and NaN do not)."""
    return isinstance(source, str) and source != ""


def first_hit(retrieved_ids: list[str], source: str, documents: list[str] | None = None) -> int | None:
    """The rank (from 1) of the first retrieved passage whose id, or document, is the source; None when none is."""
    documents = documents or [""] * len(retrieved_ids)
    for rank, (passage, document) in enumerate(zip(retrieved_ids, documents), start=1):
        if source in (passage, document):
            return rank
    return None


def _ranks(retrieved_ids: list[list[str]], source_ids: list, documents: list[list[str]] | None) -> list[int | None]:
    documents = documents or [None] * len(retrieved_ids)
    return [first_hit(found, source, docs) for found, source, docs in zip(retrieved_ids, source_ids, documents)
            if known(source)]


def recall_at_k(retrieved_ids: list[list[str]], source_ids: list, k: int,
                documents: list[list[str]] | None = None) -> float | None:
    """The share of questions with a source whose source is among their first k retrieved passages (None: no
    question names a source). documents: each retrieved passage's document, row for row, where known."""
    ranks = _ranks(retrieved_ids, source_ids, documents)
    return float(np.mean([rank is not None and rank <= k for rank in ranks])) if ranks else None


def mrr(retrieved_ids: list[list[str]], source_ids: list, documents: list[list[str]] | None = None) -> float | None:
    """Mean reciprocal rank of the first hit over the questions with a source (0 where none of what was
    retrieved is a hit, so it is MRR@k for k passages retrieved); None when no question names a source."""
    ranks = _ranks(retrieved_ids, source_ids, documents)
    return float(np.mean([0.0 if rank is None else 1.0 / rank for rank in ranks])) if ranks else None


def retrieval_metrics(retrieved_ids: list[list[str]], source_ids: list, k: int,
                      documents: list[list[str]] | None = None) -> dict:
    """The run record's retrieval fields: recall@k (`retrieval_recall`, its name since it first counted chunk ids),
    MRR, k, and how many questions named a source; empty when none did."""
    recall = recall_at_k(retrieved_ids, source_ids, k, documents)
    if recall is None:
        return {}
    return {"retrieval_recall": recall, "retrieval_mrr": mrr(retrieved_ids, source_ids, documents),
            "retrieval_k": k, "retrieval_known": sum(map(known, source_ids))}


RETRIEVAL_FIELDS = ("retrieval_recall", "retrieval_mrr")


def retrieval_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Recall@k and MRR per (method, size), mean over the finished runs that recorded them (runs: the store's
    runs frame with its `record` column); empty when none did."""
    rows = [{"method": run.method, "size": run.size, "k": record.get("retrieval_k"),
             **{name: record[name] for name in RETRIEVAL_FIELDS}}
            for run, record in zip(runs.itertuples(), runs.get("record", [])) if run.status == "finished"
            and isinstance(record, dict) and record.get("retrieval_mrr") is not None]
    if not rows:
        return pd.DataFrame(columns=["method", "size", "k", *RETRIEVAL_FIELDS])
    return pd.DataFrame(rows).groupby(["method", "size"], sort=False, as_index=False).mean()
