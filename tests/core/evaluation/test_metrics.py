import numpy as np
import pytest

from core.evaluation.metrics import (
    BOOTSTRAP_SAMPLES,
    CONFIDENCE,
    bootstrap_interval,
    bootstrap_means,
    exact_match,
    is_abstention,
    normalize_answer,
    qa_metrics,
    token_f1,
)


@pytest.mark.parametrize("text, normalised", [
    ("The Eiffel Tower!", "eiffel tower"),  # case, article, punctuation
    ("  a   cat,\tan apple. ", "cat apple"),  # spaces squeezed, every article
    ("Theory of the Anthem", "theory of anthem"),  # articles only as whole words
    ("U.S.A.", "usa"),
    ("$1,000", "1000"),
    ("Don’t — stop", "dont stop"),  # Unicode punctuation as well as ASCII
    ("The", ""),
])
def test_answers_are_normalised_as_in_squad(text, normalised):
    assert normalize_answer(text) == normalised


def test_exact_match_accepts_any_alias_after_normalisation():
    assert exact_match("the U.S.A.", ["United States", "USA"])
    assert exact_match("united states", ["United States", "USA"])
    assert not exact_match("United Kingdom", ["United States", "USA"])
    assert not exact_match("United States of America", ["United States"])  # exact, not contained


def test_an_answer_matches_when_an_accepted_answer_appears_in_it_as_words():
    from core.evaluation.metrics import answer_match

    assert answer_match("Bavaria is a region of Germany.", ["Germany"])
    assert answer_match("It is in the UK", ["United Kingdom", "UK"])
    assert not answer_match("Germanys neighbour", ["Germany"])  # whole words only
    assert not answer_match("I don't know, maybe Germany", ["Germany"])  # a reply that declines never matches
    assert not answer_match("", ["Germany"])


@pytest.mark.parametrize("text", ["The answer to this question is not in the passage.",
                                  "The passages do not say.", "I really do not know"])
def test_declining_anywhere_in_a_short_reply_is_an_abstention(text):
    assert is_abstention(text)


@pytest.mark.parametrize("empty", ["", "   ", "?!", "the"])
def test_an_empty_answer_never_matches_and_scores_zero(empty):
    assert not exact_match(empty, ["The", "Paris"])  # "The" normalises to nothing as well
    assert token_f1(empty, ["The", "Paris"]) == 0.0


def test_token_f1_gives_partial_credit_and_takes_the_best_alias():
    assert token_f1("Paris France", ["Paris"]) == pytest.approx(2 / 3)  # precision 1/2, recall 1
    assert token_f1("Paris", ["Paris, France"]) == pytest.approx(2 / 3)  # precision 1, recall 1/2
    assert token_f1("Paris France", ["Lyon", "Paris", "Paris France"]) == 1.0
    assert token_f1("Lyon", ["Paris"]) == 0.0
    assert token_f1("paris paris", ["Paris"]) == pytest.approx(2 / 3)  # a repeated word counts once in common


@pytest.mark.parametrize("text", ["I don't know.", "I do not know", "Unknown", "unknown.", "No idea!",
                                  "I cannot answer that.", "I'm not sure.", "Sorry, I don't know who wrote it.",
                                  "I’m sorry, I can’t answer", "Unfortunately, not enough information."])
def test_abstentions_are_recognised(text):
    assert is_abstention(text)


@pytest.mark.parametrize("text", ["Paris", "Unknown Pleasures", "The Unknown Soldier", "Idea", "", "knowledge",
                                  "Notre Dame"])
def test_answers_are_not_abstentions(text):
    assert not is_abstention(text)


def test_qa_metrics_record_fields_and_per_example_answer_match():
    answers = ["Paris", "the Louvre museum", "I don't know", "", "Berlin"]
    aliases = [["Paris"], ["Louvre"], ["Madrid"], ["Rome"], ["Vienna", "Wien"]]
    record, matched = qa_metrics(answers, aliases)
    assert matched.tolist() == [1, 1, 0, 0, 0]  # "the Louvre museum" holds the answer: a match, not exact
    assert record["accuracy"] == record["answer_match"] == pytest.approx(0.4)
    assert record["exact_match"] == pytest.approx(0.2)
    assert record["token_f1"] == pytest.approx((1 + 2 / 3) / 5)  # "louvre museum" vs "louvre": 2/3
    assert record["macro_f1"] == record["token_f1"] and record["per_class_f1"] == {}
    assert record["empty_answers"] == 1
    assert record["abstention_rate"] == pytest.approx(0.2)
    assert record["wrong_answer_rate"] == pytest.approx(0.2)  # Berlin: answered and wrong
    assert record["accuracy_low"] <= record["accuracy"] <= record["accuracy_high"]
    assert record["token_f1_low"] <= record["token_f1"] <= record["token_f1_high"]
    assert record["accuracy_high"] > record["accuracy_low"]
    assert "mc_accuracy" not in record and "by_coverage" not in record


def test_multiple_choice_accuracy_skips_questions_without_options():
    answers, aliases = ["a", "b", "c", "d"], [["a"], ["x"], ["c"], ["x"]]
    record, _ = qa_metrics(answers, aliases, option_correct=np.array([1.0, 1.0, np.nan, 0.0]))
    assert record["mc_accuracy"] == pytest.approx(2 / 3)
    assert record["mc_accuracy_low"] <= record["mc_accuracy"] <= record["mc_accuracy_high"]
    record, _ = qa_metrics(answers, aliases, option_correct=np.array([True, False, False, False]))
    assert record["mc_accuracy"] == pytest.approx(0.25)


def test_metrics_by_coverage_split_the_questions():
    answers = ["Rome", "Oslo", "I don't know", "Lima", "Quito"]
    aliases = [["Rome"], ["Oslo"], ["Bern"], ["Lima"], ["Kyiv"]]
    covered = np.array([True, True, True, False, False])
    record, exact = qa_metrics(answers, aliases, option_correct=np.array([1, 1, 0, 1, 0]), covered=covered)
    assert exact.tolist() == [1, 1, 0, 1, 0]
    inside, outside = record["by_coverage"]["covered"], record["by_coverage"]["uncovered"]
    assert inside["accuracy"] == pytest.approx(2 / 3) and inside["abstention_rate"] == pytest.approx(1 / 3)
    assert outside["accuracy"] == pytest.approx(0.5) and outside["wrong_answer_rate"] == pytest.approx(0.5)
    assert inside["mc_accuracy"] == pytest.approx(2 / 3) and outside["mc_accuracy"] == pytest.approx(0.5)
    assert record["accuracy"] == pytest.approx(0.6)


def test_answers_and_aliases_must_pair_up():
    with pytest.raises(ValueError, match="2 answers for 1 questions"):
        qa_metrics(["a", "b"], [["a"]])


def _loop_bootstrap(matrix: np.ndarray, seed: int = 0, samples: int = BOOTSTRAP_SAMPLES) -> tuple[float, float]:
    """The bootstrap written plainly, one resample at a time, drawing the same numbers in the same order:
    every resample's examples first, then every resample's seeds."""
    matrix = np.atleast_2d(np.asarray(matrix, dtype=np.float64))
    n_seeds, n_examples = matrix.shape
    rng = np.random.default_rng(seed)
    columns = rng.integers(0, n_examples, size=(samples, n_examples))
    chosen = rng.integers(0, n_seeds, size=(samples, n_seeds)) if n_seeds > 1 else np.zeros((samples, 1), int)
    means = np.empty(samples)
    for b in range(samples):
        per_seed = [matrix[s, columns[b]].mean() for s in range(n_seeds)]  # the same examples for every seed
        means[b] = np.mean([per_seed[s] for s in chosen[b]])
    tail = (1 - CONFIDENCE) / 2 * 100
    return tuple(np.percentile(means, [tail, 100 - tail]))


@pytest.mark.parametrize("shape", [(1, 300), (3, 300), (5, 120)])
def test_the_vectorised_bootstrap_matches_a_loop_over_resamples(shape):
    rng = np.random.default_rng(7)
    matrix = (rng.random(shape) < rng.uniform(0.3, 0.9, size=(shape[0], 1))).astype(float)
    tail = (1 - CONFIDENCE) / 2 * 100
    vectorised = tuple(np.percentile(bootstrap_means(matrix, seed=3), [tail, 100 - tail]))
    assert vectorised == pytest.approx(_loop_bootstrap(matrix, seed=3), abs=1e-12)
    assert bootstrap_interval(matrix, seed=3) == bootstrap_interval(matrix, seed=3)  # a fixed seed, a fixed interval


def test_the_bootstrap_of_one_run_is_the_bootstrap_of_its_vector_and_of_its_one_row():
    values = np.random.default_rng(0).random(400) < 0.7
    low, high = bootstrap_interval(values)
    assert bootstrap_interval(values[None, :]) == (low, high) and low < values.mean() < high
    assert all(np.isnan(bootstrap_interval(np.array([]))))


def test_the_bootstrap_does_not_depend_on_whether_its_draws_were_kept(monkeypatch):
    """Real values (token F1): the same interval with the draw counts cached or drawn afresh (a test set too big
    to cache), and within rounding of gathering the drawn values."""
    from core.evaluation import metrics

    matrix = np.random.default_rng(1).random((4, 250))
    kept = bootstrap_interval(matrix, seed=5)
    monkeypatch.setattr(metrics, "COUNTS_CACHED", 0)
    assert bootstrap_interval(matrix, seed=5) == kept
    low, high = np.percentile(_gathered_bootstrap_means(matrix, seed=5), [2.5, 97.5])
    assert kept == pytest.approx((low, high), abs=1e-12)


def test_an_interval_at_zero_or_one_hundred_percent_still_has_a_width():
    # a percentile bootstrap reads 135 of 135 as [1.000, 1.000]; the interval must say what 135 examples can
    low, high = bootstrap_interval(np.ones(135))
    assert low == pytest.approx(0.9723, abs=1e-4) and high == 1.0
    low, high = bootstrap_interval(np.zeros((3, 40)))
    assert low == 0.0 and high == pytest.approx(0.0876, abs=1e-3)  # Wilson over the 40 test examples
    # real-valued differences are bootstrapped only
    assert bootstrap_interval(np.zeros(50) + 0.5) == (0.5, 0.5)


def _gathered_bootstrap_means(values, seed=0, samples=2000):
    """The bootstrap as it was first written (gather the drawn values, then average): the reference the matrix
    product must match."""
    matrix = np.atleast_2d(np.asarray(values, dtype=np.float64))
    n_seeds, n_examples = matrix.shape
    rng = np.random.default_rng(seed)
    columns = rng.integers(0, n_examples, size=(samples, n_examples))
    per_seed = np.take(matrix, columns, axis=1).mean(axis=2).T
    if n_seeds == 1:
        return per_seed[:, 0]
    chosen = rng.integers(0, n_seeds, size=(samples, n_seeds))
    return np.take_along_axis(per_seed, chosen, axis=1).mean(axis=1)


@pytest.mark.parametrize("shape", [(250,), (1, 97), (5, 250), (37, 60)])
def test_the_bootstrap_by_draw_counts_is_the_gathered_bootstrap_to_the_last_bit(shape):
    """Right/wrong vectors and their paired differences (integers): the same means, intervals and p-values as
    gathering the drawn values, so every interval a page or report shows is unchanged by the faster way."""
    from core.evaluation.metrics import bootstrap_interval, bootstrap_intervals, bootstrap_means, one_sided_p

    rng = np.random.default_rng(7)
    right = (rng.random(shape) < 0.7).astype(float)
    other = (rng.random(shape) < 0.6).astype(float)
    for values in (right, right - other):
        assert np.array_equal(bootstrap_means(values), _gathered_bootstrap_means(values))
        means = _gathered_bootstrap_means(values)
        assert one_sided_p(values) == float((np.sum(means >= 0) + 1) / (len(means) + 1))
    rows = np.atleast_2d(right - other)
    rows = np.vstack([rows, np.atleast_2d(right)])  # a 0/1 row too: its interval covers Wilson's
    assert bootstrap_intervals(rows) == [bootstrap_interval(row) for row in rows]
    # the negative-transfer table's way: one draw gives a cell's pooled means and each of its pairs' intervals
    from core.evaluation.metrics import intervals_from_rows, pooled_means, row_means

    pair_means, state = row_means(rows)
    assert np.array_equal(pooled_means(pair_means, state), _gathered_bootstrap_means(rows))
    assert intervals_from_rows(pair_means, rows) == [bootstrap_interval(row) for row in rows]
    low, high = np.percentile(_gathered_bootstrap_means(rows[-1]), [2.5, 97.5])
    wide_low, wide_high = bootstrap_interval(rows[-1])
    assert wide_low <= low and wide_high >= high
