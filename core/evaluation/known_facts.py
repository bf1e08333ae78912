"""Known and unknown facts (Gekhman et al., EMNLP 2024, "Does Fine-Tuning LLMs on New Knowledge Encourage
Hallucinations?"): before any training the base model answers each question closed-book, greedily (under
one or more prompts) and by sampling; how often it is right places the question in one of four categories.

    HighlyKnown  every greedy answer is right
    MaybeKnown   some greedy answers are right
    WeaklyKnown  no greedy answer is right, some sampled one is
    Unknown      no answer is right: fine-tuning on this question teaches the model a new fact

Their finding, in shape: Unknown facts are learned slowly and, once learned, raise made-up answers on other
questions. A fine-tuning run can then record the share of Unknown facts it trained on.
"""

from __future__ import annotations

import pandas as pd

from core.evaluation.metrics import answer_match

CATEGORIES = ("HighlyKnown", "MaybeKnown", "WeaklyKnown", "Unknown")


def knowledge_categories(aliases: list[list[str]], greedy: list[list[str]], sampled: list[list[str]] | None = None
                         ) -> pd.Series:
    """Each question's category from the base model's closed-book answers (per question: its greedy answers,
    one per prompt, and its sampled answers), scored by answer match as every QA run is."""
    sampled = sampled if sampled is not None else [[] for _ in aliases]
    if not len(aliases) == len(greedy) == len(sampled):
        raise ValueError(f"{len(aliases)} questions, {len(greedy)} greedy and {len(sampled)} sampled answer lists")
    categories = []
    for accepted, greedy_answers, sampled_answers in zip(aliases, greedy, sampled):
        if not greedy_answers:
            raise ValueError("every question needs at least one greedy answer")
        right = [answer_match(answer, list(accepted)) for answer in greedy_answers]
        if all(right):
            categories.append("HighlyKnown")
        elif any(right):
            categories.append("MaybeKnown")
        elif any(answer_match(answer, list(accepted)) for answer in sampled_answers):
            categories.append("WeaklyKnown")
        else:
            categories.append("Unknown")
    return pd.Series(pd.Categorical(categories, categories=CATEGORIES), name="knowledge")


def known(categories: pd.Series) -> pd.Series:
    """Whether the base model knew the fact at all (any category but Unknown)."""
    return (categories != "Unknown").rename("known")


def unknown_share(categories: pd.Series) -> float:
    """The share of Unknown facts in a set of training questions: what a fine-tuning run records."""
    return float((categories == "Unknown").mean()) if len(categories) else float("nan")
