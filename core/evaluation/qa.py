"""Scoring a decoder method on a QA test set: answers, option choice, retrieval recall, tokens per query.

The run's `predictions` are the per-question answer-match 0/1 vector (an accepted answer appears in
the reply; the experiment's test labels are all 1), so every paired analysis (intervals, negative
transfer, ties) works on it unchanged. The answers themselves and the passages retrieved for each
question are kept in the run record for the dashboard's Answers view.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from core.evaluation.metrics import qa_metrics
from core.evaluation.retrieval import retrieval_metrics

GENERATED_SAMPLE = 64  # classification on an LLM: test texts also answered by generation, then parsed


def column(frame: pd.DataFrame, name: str, default) -> list:
    return frame[name].tolist() if name in frame else [default] * len(frame)


def accepted_answers(frame: pd.DataFrame) -> list[list[str]]:
    """Each question's accepted answers: its aliases, or its reference answer alone."""
    return [list(a) if len(a) else [ref] for a, ref in zip(column(frame, "aliases", []), frame.label)]


def evaluate_qa(fitted, test: pd.DataFrame) -> tuple[dict, list[int], dict]:
    """(metric fields for the record, per-question EM 0/1, what the Answers view shows)."""
    questions, contexts = test.text.tolist(), column(test, "context", "")
    aliases = accepted_answers(test)
    started = time.perf_counter()
    answers = fitted.answer(questions, contexts)  # what serving costs: option scoring below is evaluation only
    answer_seconds = time.perf_counter() - started
    prompts_cut = fitted.prompts.cut  # read now: scoring the options below renders the same prompts again
    retrieved = list(fitted.last_retrieved)
    prompt_tokens, generated_tokens = list(fitted.prompt_tokens), list(fitted.generated_tokens)
    cut_off = list(getattr(fitted, "cut_off", None) or [])  # answers stopped by max_new_tokens before they ended
    options = [list(o) for o in column(test, "options", [])]
    option_correct = None
    if any(options):
        chosen = fitted.option_choice(questions, options, contexts)
        option_correct = np.array([np.nan if pick is None else float(opts[pick] == ref)
                                   for pick, opts, ref in zip(chosen, options, test.label)])
    covered = np.asarray(test.covered, dtype=bool) if "covered" in test else None
    metrics, correct = qa_metrics(answers, aliases, option_correct, covered, cut_off or None)
    metrics.update(tokens_per_query(prompt_tokens, generated_tokens))
    sources = "source" if "source" in test else "passage_id"  # a user's source column, or a scenario's passage
    if retrieved and sources in test:
        metrics.update(retrieval_of(fitted.retriever, retrieved, test[sources].tolist()))
    metrics.update(answer_seconds=answer_seconds, prompts_cut=prompts_cut)
    shown = {"answers": answers, "retrieved": retrieved or None, "cut_off": cut_off or None}
    return metrics, [int(c) for c in correct], shown


def tokens_per_query(prompt_tokens: list[int], generated_tokens: list[int]) -> dict:
    out = {}
    if prompt_tokens:
        out["prompt_tokens_per_query"] = float(np.mean(prompt_tokens))
    if generated_tokens:
        out["generated_tokens_per_query"] = float(np.mean(generated_tokens))
    return out


def retrieval_of(retriever, retrieved: list[list[str]], sources: list) -> dict:
    """Recall@k and MRR of what the retriever found for each question against the question's source (chunk id or
    document name; core/evaluation/retrieval.py)."""
    document_of = dict(zip(retriever.ids, retriever.documents))
    documents = [[document_of.get(i, "") for i in row] for row in retrieved] if document_of else None
    return retrieval_metrics(retrieved, sources, retriever.k, documents)


def generated_accuracy(fitted, texts: list[str], truth: np.ndarray) -> dict:
    """Classification on an LLM, read the other way: generate, parse the label named, compare (on a sample)."""
    sample = min(GENERATED_SAMPLE, len(texts))
    parsed = fitted.generated_labels(texts[:sample])
    hits = [p is not None and p == t for p, t in zip(parsed, truth[:sample])]
    return {"generated_accuracy": float(np.mean(hits)) if hits else None,
            "generated_unparsed": int(sum(p is None for p in parsed)), "generated_sample": sample}
