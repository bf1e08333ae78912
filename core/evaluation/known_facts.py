"""Known and unknown facts (Gekhman et al., EMNLP 2024, "Does Fine-Tuning LLMs on New Knowledge Encourage
Hallucinations?"): before any training the base model answers each question closed-book, greedily (under
one or more prompts) and by sampling; how often it is right places the question in one of four categories.

    HighlyKnown  every greedy answer is right
    MaybeKnown   some greedy answers are right
    WeaklyKnown  no greedy answer is right, some sampled one is
    Unknown      no answer is right: fine-tuning on this question teaches the model a new fact

Their finding, in shape: Unknown facts are learned slowly and, once learned, raise made-up answers on other
questions. A fine-tuning run can then record the share of Unknown facts it trained on.

Here one prompt is used (the prompt-only method's), so a question is HighlyKnown or, failing greedily, WeaklyKnown
or Unknown by its samples; MaybeKnown needs several prompts. The pass itself runs in core/running/known_facts.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.evaluation.metrics import answer_match, is_abstention

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


def closed_book_answers(fitted, questions: list[str], contexts: list[str], samples: int, temperature: float,
                        seed: int = 0, greedy: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """(greedy answer, sampled answers) per question from a prompt-only predictor (a DecoderPredictor without
    shots or retrieval): the same prompts the prompt-only method renders, answered closed-book. greedy: the greedy
    answers where already known (only the samples are generated)."""
    from transformers import set_seed

    prompts = fitted.render(questions, contexts)
    if greedy is None:
        greedy, _ = fitted.lm.generate(prompts)
    sampled: list[list[str]] = [[] for _ in questions]
    for draw in range(samples):
        set_seed(seed * 1009 + draw)  # repeatable samples, a different draw each time
        answers, _ = fitted.lm.generate(prompts, temperature=temperature)
        for row, answer in zip(sampled, answers):
            row.append(answer)
    return greedy, sampled


def accepted_of(question: dict) -> list[str]:
    """A stored question's accepted answers: its aliases where it has them, else its answer."""
    aliases = question.get("aliases")
    return [str(a) for a in aliases] if aliases is not None and len(aliases) else [str(question["answer"])]


def made_up(answer: str, accepted: list[str]) -> bool:
    """A made-up answer: something was said, it is not an abstention, and it is wrong."""
    return bool(answer.strip()) and not is_abstention(answer) and not answer_match(answer, accepted)


def known(categories: pd.Series) -> pd.Series:
    """Whether the base model knew the fact at all (any category but Unknown)."""
    return (categories != "Unknown").rename("known")


def unknown_share(categories: pd.Series) -> float:
    """The share of Unknown facts in a set of training questions: what a fine-tuning run records."""
    return float((categories == "Unknown").mean()) if len(categories) else float("nan")


def trained_on(categories: pd.Series) -> dict:
    """What a fine-tuning run records of the questions it trained on: how many had a category, how many of those
    were Unknown, and their share (categories None: a question the pass did not answer, left out)."""
    answered = categories.dropna()
    unknown = int((answered == "Unknown").sum())
    return {"known_facts_questions": int(len(answered)), "unknown_facts": unknown,
            "unknown_share": unknown / len(answered) if len(answered) else None}


def training_fit(fitted, frame: pd.DataFrame, knowledge: str = "knowledge") -> dict | None:
    """After fine-tuning: how many of its Unknown and of its known training questions the model now answers right,
    as the run answers (Gekhman et al.: Unknown facts are fitted more slowly, so fewer of them within the same
    epochs). None without categories."""
    from core.evaluation.qa import accepted_answers, column

    if knowledge not in frame or frame[knowledge].isna().all():
        return None
    frame = frame[frame[knowledge].notna()]
    answers = fitted.answer(frame.text.tolist(), column(frame, "context", ""))
    right = np.array([answer_match(a, accepted) for a, accepted in zip(answers, accepted_answers(frame))])
    unknown = (frame[knowledge] == "Unknown").to_numpy()
    return {group: {"right": int(right[mask].sum()), "questions": int(mask.sum())}
            for group, mask in (("known", ~unknown), ("unknown", unknown))}
