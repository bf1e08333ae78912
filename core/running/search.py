"""The run's search under `tuning: true`: which settings each method tries, and how a trial is scored.

Every searched method gets the same number of trials (`tuning_trials`), each scored on the same validation
examples: a method with more combinations than that (few-shot: shots x selection; RAG on an LLM: k x retriever)
tries the configured one and others drawn with the seed, as a random search of equal budget does (Bergstra and
Bengio, 2012). core/running/run.py's fit_searched runs the trials and keeps the best.
"""

from __future__ import annotations

import itertools

import numpy as np


def configured(values: tuple):
    """A setting's configured candidate: the middle one (the first of the two middles of an even count)."""
    return values[(len(values) - 1) // 2]


def search_trials(search: dict[str, tuple], trials: int, seed: int) -> list[dict]:
    """Up to `trials` settings to try: the configured combination first (so a tie keeps it), then, where there are
    more combinations than trials, others drawn with the seed; otherwise every combination, in order."""
    first = tuple(configured(values) for values in search.values())
    others = [combo for combo in itertools.product(*search.values()) if combo != first]
    if len(others) > trials - 1:
        rng = np.random.default_rng([seed, 15485863])
        others = [others[i] for i in sorted(rng.choice(len(others), trials - 1, replace=False))]
    # ordered as before this search had a budget: the configured value first, then the rest as the tuple lists them
    return [dict(zip(search, combo)) for combo in [first, *others]]


def validation_score(fitted, ctx) -> tuple[str, float]:
    """(what was measured, its value) on the run's validation examples: accuracy classifying, the share of questions
    answered right (an accepted answer in the reply) answering."""
    if ctx.kind == "classification":
        return "val_accuracy", float((fitted.predict_proba(ctx.val_texts).argmax(axis=1) == ctx.val_labels).mean())
    from core.evaluation.metrics import answer_match
    from core.evaluation.qa import column

    frame = ctx.val_frame
    answers = fitted.answer(frame.text.tolist(), column(frame, "context", ""))
    aliases = [list(a) if len(a) else [ref] for a, ref in zip(column(frame, "aliases", []), frame.label)]
    return "val_answer_match", float(np.mean([answer_match(a, ok) for a, ok in zip(answers, aliases)]))
