"""The words of a chunk that a model's answer points at, when the answer is not copied from the chunk word for word.

A small model asked for "a few words copied from the passage" often answers "It retries three times." where the
passage says "The client retries a failed request three times": its answer is not in the chunk as it stands, yet its
longest run of words that is ("three times") is the fact. core/task/llm_questions.py keeps such a pair with that run
as its answer, in the chunk's own spelling, when the run is most of the answer; otherwise it is dropped as
unsupported, as before.

    supported_span("It retries three times.", chunk_text)   # "three times", or None
"""

from __future__ import annotations

import re

from core.task.questions import normalize_answer

MIN_SHARE = 0.5  # the run holds at least this share of the answer's words: a run of one word in ten is no answer
FILLER = {"is", "are", "was", "it", "to", "of", "in", "on", "and", "or", "by", "for", "with", "you", "can", "be", "as"}


def supported_span(answer: str, chunk: str) -> str | None:
    """The longest run of the answer's words found in the chunk, as the chunk writes it; None when that run is under
    MIN_SHARE of the answer, or only filler words."""
    wanted = normalize_answer(answer).split()
    words = [(normalize_answer(token[0]), token) for token in re.finditer(r"\S+", chunk)]
    words = [(norm, token) for norm, token in words if norm]  # an article or a lone mark normalises to nothing
    plain = [norm for norm, _ in words]
    best, where = 0, 0
    # the longest common run of words (dynamic programming over answer x chunk; both are short)
    previous = [0] * (len(plain) + 1)
    for a in wanted:
        current = [0] * (len(plain) + 1)
        for j, c in enumerate(plain, 1):
            if a == c:
                current[j] = previous[j - 1] + 1
                if current[j] > best:
                    best, where = current[j], j
        previous = current
    if not wanted or best < max(1, MIN_SHARE * len(wanted)):
        return None
    run = words[where - best:where]
    if all(norm in FILLER for norm, _ in run):
        return None
    # the chunk's own text from the run's first word to its last, the articles between them included
    return chunk[run[0][1].start():run[-1][1].end()].strip(".,;:!?\"'()[]`*_")
