"""Accuracy, macro-F1 and per-class F1 (scikit-learn), with bootstrap intervals over test examples.

Generated answers (qa tasks) are scored as in SQuAD: exact match and token F1 after normalisation,
the best over a question's accepted answers; abstentions ("I don't know") are counted apart from
wrong answers, and multiple-choice accuracy comes from the option the model found most likely.
"""

from __future__ import annotations

import functools
from collections import Counter

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from core.task.answers import normalize_answer  # noqa: F401  (scored here; the task's questions use it too)

BOOTSTRAP_SAMPLES = 2000
CONFIDENCE = 0.95


COUNTS_CACHED = 8_000_000  # resample-count matrices up to this many cells (64 MB) are kept for the next call


def _draw_counts(seed: int, samples: int, n_examples: int) -> tuple[np.ndarray, dict]:
    """How often each test example is drawn in each resample (samples x examples), and the generator's state after
    the draw (the seed draws that follow start there)."""
    rng = np.random.default_rng(seed)
    columns = rng.integers(0, n_examples, size=(samples, n_examples))  # per resample, the examples drawn
    flat = (np.arange(samples)[:, None] * n_examples + columns).ravel()
    counts = np.bincount(flat, minlength=samples * n_examples).reshape(samples, n_examples).astype(np.float64)
    counts.setflags(write=False)
    return counts, rng.bit_generator.state


_cached_counts = functools.lru_cache(maxsize=4)(_draw_counts)


def resample_counts(seed: int, samples: int, n_examples: int) -> tuple[np.ndarray, dict]:
    """The examples' draw counts of every resample: the same for every call with the same seed and sizes, so they
    are drawn once (every run of an experiment is scored on the same test examples)."""
    if samples * n_examples <= COUNTS_CACHED:
        return _cached_counts(seed, samples, n_examples)
    return _draw_counts(seed, samples, n_examples)


def bootstrap_means(values: np.ndarray, seed: int = 0, samples: int = BOOTSTRAP_SAMPLES) -> np.ndarray:
    """The bootstrap distribution of the mean of per-example values: `samples` means, vectorised.

    values: one vector (examples), or a (seeds x examples) matrix from runs scored on the same test
    examples. Each resample draws the test examples with replacement, the same draw for every seed
    (so seeds stay paired), then, where there are several seeds, draws the seeds with replacement
    (a hierarchical bootstrap: the luck of the test set and of the seed both widen the spread).

    A resample's mean is its draw counts times the values over the examples: one matrix product for every
    resample and seed (exact, so the same to the last bit as gathering the drawn values, for 0/1 values)."""
    return pooled_means(*row_means(values, seed, samples), seed)


def row_means(values: np.ndarray, seed: int = 0, samples: int = BOOTSTRAP_SAMPLES) -> tuple[np.ndarray, dict]:
    """Each row's mean over the examples every resample draws (rows x samples), and the generator's state after
    the draw (pooled_means goes on from it). Rows: the seeds of one cell, or any vectors on the same examples."""
    matrix = np.atleast_2d(np.asarray(values, dtype=np.float64))
    counts, state = resample_counts(seed, samples, matrix.shape[1])
    # rows x samples keeps each row's means contiguous, so its percentiles partition along memory (twice as fast
    # as down the columns); the sums are the same integers as counts @ matrix.T for 0/1 values
    return matrix @ counts.T / matrix.shape[1], state


def pooled_means(rows: np.ndarray, state: dict, seed: int = 0) -> np.ndarray:
    """bootstrap_means from row_means: one seed as it is; several drawn with replacement in each resample."""
    n_seeds, samples = rows.shape
    if n_seeds == 1:
        return rows[0]
    rng = np.random.default_rng(seed)
    rng.bit_generator.state = state  # where the examples' draw left it
    chosen = rng.integers(0, n_seeds, size=(samples, n_seeds))  # per resample, the seeds drawn
    return np.take_along_axis(rows.T, chosen, axis=1).mean(axis=1)


def interval_from(means: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """The 95% percentile interval of bootstrap `means` of `values`, widened to Wilson's for 0/1 values."""
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return _with_wilson(float(low), float(high), values, bool(np.isin(values, (0, 1)).all()))


def _with_wilson(low: float, high: float, values: np.ndarray, zero_one: bool) -> tuple[float, float]:
    """A 0/1 vector's interval widened to cover Wilson's over its examples (see bootstrap_interval)."""
    if zero_one:
        wilson_low, wilson_high = wilson_interval(float(values.mean()), values.shape[-1])
        low, high = min(low, wilson_low), max(high, wilson_high)
    return float(low), float(high)


def bootstrap_interval(values: np.ndarray, seed: int = 0, samples: int = BOOTSTRAP_SAMPLES) -> tuple[float, float]:
    """95% interval of the mean of per-example values (0/1 or real): a percentile bootstrap.

    values: one run's vector, or a (seeds x examples) matrix: see bootstrap_means. A difference of two
    methods' vectors (or matrices) on the same examples and seeds gives the paired interval.

    For 0/1 values (right or wrong) the interval also covers the Wilson score interval over the test
    examples: a percentile bootstrap has no width at 0% or 100% (135 of 135 right would read
    [1.000, 1.000]); Wilson's reads [0.972, 1.000], as a review expects of 135 examples."""
    values = np.asarray(values)
    if values.size == 0:
        return float("nan"), float("nan")
    return interval_from(bootstrap_means(values, seed, samples), values)


ROWS_AT_ONCE = 512  # vectors resampled in one matrix product (2,000 x 512 means: 8 MB)


def bootstrap_intervals(vectors: np.ndarray, seed: int = 0,
                        samples: int = BOOTSTRAP_SAMPLES) -> list[tuple[float, float]]:
    """bootstrap_interval of each row of `vectors` (rows x examples, each one run's values), the same to the last
    bit for 0/1 and integer values, in a few matrix products instead of one bootstrap per row."""
    vectors = np.asarray(vectors, dtype=np.float64)
    if vectors.size == 0:
        return [(float("nan"), float("nan"))] * len(vectors)
    out = []
    for start in range(0, len(vectors), ROWS_AT_ONCE):
        block = vectors[start:start + ROWS_AT_ONCE]
        out += intervals_from_rows(row_means(block, seed, samples)[0], block)
    return out


def intervals_from_rows(rows: np.ndarray, vectors: np.ndarray) -> list[tuple[float, float]]:
    """interval_from for each of row_means' rows (rows x samples) of `vectors` (rows x examples)."""
    tail = (1 - CONFIDENCE) / 2 * 100
    lows, highs = np.percentile(rows, [tail, 100 - tail], axis=1)
    binary = ((vectors == 0) | (vectors == 1)).all(axis=1)
    return [_with_wilson(float(low), float(high), row, bool(zero_one))
            for row, low, high, zero_one in zip(vectors, lows, highs, binary)]


def wilson_interval(share: float, examples: int) -> tuple[float, float]:
    """95% Wilson score interval of a proportion measured on `examples` trials (scipy)."""
    from scipy.stats import binomtest

    interval = binomtest(round(share * examples), examples).proportion_ci(CONFIDENCE, method="wilson")
    return float(interval.low), float(interval.high)


def one_sided_p(values: np.ndarray, seed: int = 0, samples: int = BOOTSTRAP_SAMPLES) -> float:
    """Bootstrap p-value that the mean of paired differences is below zero (small: reliably below)."""
    return p_from(bootstrap_means(values, seed, samples))


def p_from(means: np.ndarray) -> float:
    """one_sided_p from the bootstrap means already drawn (the interval's own: the same seed draws the same)."""
    return float((np.sum(means >= 0) + 1) / (len(means) + 1))


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict:
    """Everything recorded about a run's predictions on one test set."""
    classes = list(range(len(labels)))
    low, high = bootstrap_interval(y_true == y_pred)
    per_class = f1_score(y_true, y_pred, labels=classes, average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "accuracy_low": low,
        "accuracy_high": high,
        "macro_f1": float(f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0)),
        "per_class_f1": {label: float(score) for label, score in zip(labels, per_class)},
    }


# Phrases that decline to answer, normalised. One-word ones count only alone ("Unknown Pleasures" is
# an answer); longer ones also open a sentence ("I don't know who wrote it").
ABSTENTIONS = ("i dont know", "i do not know", "dont know", "do not know", "i cannot answer", "i cant answer",
               "i can not answer", "cannot answer", "cant answer", "i am not sure", "im not sure", "not sure",
               "i have no idea", "no idea", "i am unable to answer", "im unable to answer", "unable to answer",
               "i cannot say", "i cant say", "not enough information", "i dont have enough information",
               "i do not have enough information", "insufficient information", "cannot be determined",
               "no answer", "unknown", "unanswerable")
POLITE_OPENINGS = ("i am sorry ", "im sorry ", "sorry ", "unfortunately ")
# Phrases that decline wherever they stand in a short reply ("The answer is not in the passage.")
DECLINES_ANYWHERE = ("not in passage", "not in passages", "not mentioned in", "not provided in",
                     "no information about", "does not say", "do not say", "do not know", "dont know")




def exact_match(prediction: str, aliases: list[str]) -> bool:
    """Whether the prediction equals an accepted answer after normalisation; an empty one never does."""
    predicted = normalize_answer(prediction)
    return bool(predicted) and any(predicted == normalize_answer(alias) for alias in aliases)


def token_f1(prediction: str, aliases: list[str]) -> float:
    """SQuAD token F1 (the harmonic mean of word precision and recall), the best over the accepted answers."""
    predicted = normalize_answer(prediction).split()
    return max((_overlap_f1(predicted, normalize_answer(alias).split()) for alias in aliases), default=0.0)


def _overlap_f1(predicted: list[str], reference: list[str]) -> float:
    common = sum((Counter(predicted) & Counter(reference)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(reference)
    return 2 * precision * recall / (precision + recall)


def is_abstention(text: str) -> bool:
    """Whether an answer declines to answer: "I don't know.", "Unknown", "Sorry, I'm not sure"..."""
    words = normalize_answer(text)
    for opening in POLITE_OPENINGS:
        words = words.removeprefix(opening)
    if any(f" {phrase} " in f" {words} " for phrase in DECLINES_ANYWHERE):
        return True
    return any(words == phrase or (" " in phrase and words.startswith(phrase + " ")) for phrase in ABSTENTIONS)


def answer_match(prediction: str, aliases: list[str]) -> bool:
    """Whether an accepted answer appears, as whole words, in the reply (PopQA's measure: a small instruct model
    often answers "Bavaria is a region of Germany." where the reference is "Germany"; exact match would call that
    wrong). A reply that declines does not match, whatever it quotes."""
    words = f" {normalize_answer(prediction)} "
    return not is_abstention(prediction) and any(
        f" {form} " in words for form in (normalize_answer(alias) for alias in aliases) if form)


def qa_metrics(answers: list[str], aliases: list[list[str]], option_correct: np.ndarray | None = None,
               covered: np.ndarray | None = None, cut_off: list[bool] | None = None) -> tuple[dict, np.ndarray]:
    """Everything recorded about a run's generated answers, and the per-example answer match (0/1).

    The quality axis (`accuracy`) is answer match: an accepted answer appears in the reply (PopQA-style);
    strict exact match and token F1 (SQuAD normalisation) are kept beside it.

    option_correct: per question, whether the most likely option was the answer (NaN: the question
    has no options). covered: per question, whether the corpus holds the passage with its answer;
    given, the fields are also reported for the covered and uncovered questions apart. cut_off: per question,
    whether generation stopped at max_new_tokens before the answer ended; such an answer that is not right is
    counted as cut off (cut_off_rate), not as a wrong (made-up) one.
    """
    if len(answers) != len(aliases):
        raise ValueError(f"{len(answers)} answers for {len(aliases)} questions")
    scores = {
        "exact": np.array([exact_match(a, accepted) for a, accepted in zip(answers, aliases)], dtype=np.int64),
        "match": np.array([answer_match(a, accepted) for a, accepted in zip(answers, aliases)], dtype=np.int64),
        "f1": np.array([token_f1(a, accepted) for a, accepted in zip(answers, aliases)], dtype=np.float64),
        "empty": np.array([not normalize_answer(a) for a in answers], dtype=bool),
        "abstained": np.array([is_abstention(a) for a in answers], dtype=bool),
        "cut_off": np.zeros(len(answers), dtype=bool) if cut_off is None else np.asarray(cut_off, dtype=bool),
    }
    if option_correct is not None:
        scores["option"] = np.asarray(option_correct, dtype=np.float64)
    record = _qa_fields(scores)
    if covered is not None:
        covered = np.asarray(covered, dtype=bool)
        record["by_coverage"] = {group: _qa_fields({key: values[mask] for key, values in scores.items()})
                                 for group, mask in (("covered", covered), ("uncovered", ~covered))}
    return record, scores["match"]


def _qa_fields(scores: dict[str, np.ndarray]) -> dict:
    exact, f1, match = scores["exact"], scores["f1"], scores["match"]
    cut = (match == 0) & ~scores["abstained"] & ~scores["empty"] & scores["cut_off"]  # stopped mid-answer
    wrong = (match == 0) & ~scores["abstained"] & ~scores["empty"] & ~cut  # answered, not abstained, and wrong
    low, high = bootstrap_interval(match)
    f1_low, f1_high = bootstrap_interval(f1)
    fields = {"accuracy": _mean(match), "accuracy_low": low, "accuracy_high": high, "answer_match": _mean(match),
              "exact_match": _mean(exact),
              "token_f1": _mean(f1), "token_f1_low": f1_low, "token_f1_high": f1_high,
              "empty_answers": int(scores["empty"].sum()), "abstention_rate": _mean(scores["abstained"]),
              "wrong_answer_rate": _mean(wrong), "cut_off_rate": _mean(cut),
              "macro_f1": _mean(f1), "per_class_f1": {}}  # tables that show macro-F1 show token F1 for qa
    if "option" in scores:
        scored = scores["option"][~np.isnan(scores["option"])]
        fields["mc_accuracy"] = _mean(scored)
        fields["mc_accuracy_low"], fields["mc_accuracy_high"] = bootstrap_interval(scored)
    return fields


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else float("nan")
