"""Questions written by a language model from the chunks (the third source beside the user's and cloze ones).

The model is asked, per chunk and a few times with the fact numbered, for one question and its short answer
on one line (`PROMPT`, editable). A pair is kept only when its answer is supported by its chunk (it appears
there as whole words), the question does not hold the answer, it was not asked already (the same words, or
a question whose embedding is nearly the same: `similarity`), and its chunk has not given `max_per_chunk`.
Like cloze_questions, the report counts what was generated, kept, and dropped for which reason.

    write = lambda prompts: lm.generate(prompts)[0]       # core.backbone.lm.LanguageModel, greedy, one line
    embed = lambda texts: encode_texts(encoder, texts)    # core.backbone.embeddings: unit-length vectors
    questions = llm_questions(chunks, write, embed=embed)
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable

import numpy as np
import pandas as pd

from core.task.questions import NEAR_DUPLICATE, QUESTION_COLUMNS, QuestionSet, check_chunks, normalize_answer

PROMPT = ("Read the passage, then write question {n} about one fact it states, with the answer: a few words "
          "copied from the passage. Reply on one line as: Question: <question> Answer: <answer>\n\n"
          "Passage:\n{passage}\n")
SIMILARITY = 0.9  # cosine similarity of two questions' embeddings above which they ask the same thing
PAIR = re.compile(r"question\s*\d*\s*[:：]\s*(?P<question>.+?)\s*answer\s*[:：]\s*(?P<answer>.+)", re.IGNORECASE)
REASONS = {
    "unreadable reply": "the reply is not a question and an answer",
    "answer not in its chunk": "the answer is not in its chunk (not supported)",
    "answer in question": "the answer is readable in the question",
    "duplicate": "the same question was asked already",
    "near duplicate": "a question that means nearly the same was asked already",
    "over per-chunk limit": "its chunk gave max_per_chunk questions already",
}


def llm_questions(chunks: pd.DataFrame, write: Callable[[list[str]], list[str]], prompt: str = PROMPT,
                  max_per_chunk: int = 2, attempts: int | None = None,
                  embed: Callable[[list[str]], np.ndarray] | None = None, similarity: float = SIMILARITY
                  ) -> QuestionSet:
    """Question and answer pairs written by `write` (prompts -> replies) for each chunk, filtered as above.

    attempts: prompts per chunk (default max_per_chunk + 1, so a dropped pair can be replaced); embed: texts
    -> unit vectors for near-duplicates by meaning (without it, by shared words)."""
    check_chunks(chunks, max_per_chunk)
    attempts = attempts or max_per_chunk + 1
    prompts = [prompt.format(passage=text, n=n + 1) for text in chunks.text for n in range(attempts)]
    replies = list(write(prompts))
    if len(replies) != len(prompts):
        raise ValueError(f"{len(replies)} replies for {len(prompts)} prompts")
    pairs = [parse_pair(reply) for reply in replies]
    vectors = embed([pair[0] if pair else "" for pair in pairs]) if embed is not None else None
    dropped: Counter = Counter()
    rows, kept_vectors, kept_words, asked = [], [], [], set()
    for position, chunk in enumerate(chunks.itertuples(index=False)):
        kept_here = 0
        for index in range(position * attempts, (position + 1) * attempts):
            pair = pairs[index]
            reason = _unsupported(pair, chunk.text)
            if reason is None and kept_here == max_per_chunk:
                reason = "over per-chunk limit"
            if reason is None:
                key = normalize_answer(pair[0])
                vector = vectors[index] if vectors is not None else None
                reason = "duplicate" if key in asked else _near(key, vector, kept_words, kept_vectors, similarity)
            if reason:
                dropped[reason] += 1
                continue
            asked.add(key)
            kept_words.append(set(key.split()))
            if vector is not None:
                kept_vectors.append(vector)
            kept_here += 1
            rows.append({"question": pair[0], "answer": pair[1], "aliases": [pair[1]], "source": str(chunk.id),
                         "origin": "llm"})
    frame = pd.DataFrame(rows, columns=list(QUESTION_COLUMNS))
    report = {"chunks": len(chunks), "generated": len(prompts), "kept": len(frame),
              "dropped": dict(sorted(dropped.items())), "reasons": {r: REASONS[r] for r in sorted(dropped)},
              "max_per_chunk": max_per_chunk, "attempts": attempts}
    return QuestionSet(frame, report)


def parse_pair(reply: str) -> tuple[str, str] | None:
    """(question, answer) from "Question: ... Answer: ..." or {"question": ..., "answer": ...}; None if neither."""
    text = str(reply).strip()
    if text.startswith("{"):
        try:
            record = json.loads(text)
            question, answer = str(record["question"]).strip(), str(record["answer"]).strip()
        except (json.JSONDecodeError, KeyError, TypeError):
            return None
    else:
        match = PAIR.search(text)
        if match is None:
            return None
        question, answer = match["question"].strip(), match["answer"].strip().rstrip(".")
    return (question, answer) if normalize_answer(question) and normalize_answer(answer) else None


def _unsupported(pair: tuple[str, str] | None, passage: str) -> str | None:
    if pair is None:
        return "unreadable reply"
    answer = normalize_answer(pair[1])
    if f" {answer} " not in f" {normalize_answer(passage)} ":
        return "answer not in its chunk"  # a model that adds facts of its own writes answers no chunk supports
    if f" {answer} " in f" {normalize_answer(pair[0])} ":
        return "answer in question"
    return None


def _near(key: str, vector: np.ndarray | None, kept_words: list[set[str]], kept_vectors: list[np.ndarray],
          similarity: float) -> str | None:
    if vector is not None:
        if kept_vectors and float(np.max(np.stack(kept_vectors) @ vector)) >= similarity:
            return "near duplicate"
        return None
    words = set(key.split())
    if any(len(words & other) / len(words | other) >= NEAR_DUPLICATE for other in kept_words):
        return "near duplicate"
    return None
