import pandas as pd
import pytest

from core.task.data import Task
from core.task.validation import validate_task


def _task(train, test=None, validation=None):
    def frame(rows):
        return pd.DataFrame([{"text": t, "label": l, "row": i + 1} for i, (t, l) in enumerate(rows)])
    train_rows = train
    test_rows = test or [(f"test text {l} {i}", l) for l in ("a", "b") for i in range(3)]
    val_rows = validation or [(f"val text {l}", l) for l in ("a", "b")]
    return Task("t", frame(train_rows), frame(val_rows), frame(test_rows))


BALANCED = [(f"train text {l} {i}", l) for l in ("a", "b") for i in range(10)]


def test_a_clean_task_passes_with_statistics():
    report = validate_task(_task(BALANCED), sizes=[4, 8])
    assert report.ok, report.errors
    assert report.stats["rows"] == {"train": 20, "validation": 2, "test": 6}
    assert report.stats["class_counts"]["train"] == {"a": 10, "b": 10}


def test_empty_texts_and_labels_name_their_rows():
    rows = BALANCED + [("   ", "a"), ("no label", "")]
    report = validate_task(_task(rows))
    assert any("empty text" in e and "21" in e for e in report.errors)
    assert any("no label" in e and "22" in e for e in report.errors)


def test_one_class_is_not_a_classification_task():
    report = validate_task(_task([(f"t{i}", "a") for i in range(10)]))
    assert any("at least two" in e for e in report.errors)


def test_a_class_too_small_for_the_grid_says_how_to_fix_it():
    rows = BALANCED[:10] + BALANCED[10:13]  # class b has 3
    report = validate_task(_task(rows), sizes=[2, 8])
    error = next(e for e in report.errors if "per class" in e)
    assert "'b' has 3" in error and "lower the largest size to 3" in error


def test_total_sizes_are_checked_against_train():
    report = validate_task(_task(BALANCED), sizes=[100], size_unit="total")
    assert any("train has 20" in e for e in report.errors)
    report = validate_task(_task(BALANCED), sizes=[1], size_unit="total")
    assert any("cover every class" in e for e in report.errors)


def test_leakage_stops_the_run_or_is_dropped_on_request():
    leaked = BALANCED + [("test text a 0", "a")]
    report = validate_task(_task(leaked))
    assert any("also appear in test" in e and "drop_leaked_from_train" in e for e in report.errors)
    task = _task(leaked)
    report = validate_task(task, drop_leaked_from_train=True)
    assert report.ok and len(task.train) == 20
    assert any("dropped from train" in w for w in report.warnings)


def test_leakage_ignores_case_and_spacing():
    report = validate_task(_task(BALANCED + [("  TEST   text a 1 ", "a")]))
    assert not report.ok


def test_warnings_do_not_stop_the_run():
    long_texts = [(f"long {i} " + "x " * 600, "b") for i in range(5)]
    rows = [(f"t a {i}", "a") for i in range(80)] + [("t b", "b"), ("t b", "b")] + long_texts
    report = validate_task(_task(rows), max_length=64)
    assert report.ok
    text = " ".join(report.warnings)
    assert "imbalanced" in text and "duplicate" in text and "truncated" in text


def test_a_label_only_in_test_is_a_warning():
    report = validate_task(_task(BALANCED, test=[("x", "a"), ("y", "c")]))
    assert report.ok and any("'c'" in w or "['c']" in w for w in report.warnings)


@pytest.mark.parametrize("split", ["validation", "test"])
def test_an_empty_split_is_an_error(split):
    task = _task(BALANCED)
    setattr(task, split, task.test.iloc[0:0])
    assert any(f"{split} split is empty" in e for e in validate_task(task).errors)


def _with_corpus(rows, covered=None):
    task = _task(BALANCED)
    task.corpus = pd.DataFrame(rows, columns=["text", "label"])
    if covered is not None:
        task.test["covered"] = covered
    return task


def _corpus_leaks(task):
    return [w for w in validate_task(task).warnings if "verbatim in the corpus" in w]


def test_a_corpus_holding_test_texts_is_a_warning_that_counts_them():
    copied = _with_corpus([("Test text a 0", ""), ("test text b 1", ""), ("unrelated", "a")])
    assert _corpus_leaks(copied)[0].startswith("2 of 6 test texts appear verbatim in the corpus (0 in a document")
    keyed = _with_corpus([("Fact: test text a 2 belongs to a.", "a"), ("test text b 0 is filed here", "a")])
    assert _corpus_leaks(keyed)[0].startswith("1 of 6 test texts appear verbatim in the corpus (1 in a document "
                                              "labelled with their answer)")
    assert "retrieval can look the answer up" in _corpus_leaks(keyed)[0]
    sentence = _with_corpus([("notes: the quick brown fox jumps here, as ever", "")])
    sentence.test.loc[0, "text"] = "the quick brown fox jumps"
    assert _corpus_leaks(sentence)[0].startswith("1 of 6")


def test_a_corpus_that_only_mentions_short_test_texts_or_covers_marked_rows_does_not_warn():
    mentions = _with_corpus([("the test text a 0 of another class", "b"), ("prefix-test text b 1", "")])
    assert not _corpus_leaks(mentions)  # a short text inside an unrelated document is a coincidence
    covered = _with_corpus([("test text a 0", "a")], covered=[True, False, False, False, False, False])
    assert not _corpus_leaks(covered)  # the task says that row is meant to be looked up
    uncovered = _with_corpus([("test text a 0", "a")], covered=[False] * 6)
    assert _corpus_leaks(uncovered)[0].startswith("1 of 6 test texts not marked covered")
