"""Check a loaded task against an experiment before anything trains.

Errors stop the run (each says what to fix); warnings are reported and the run goes on. The report
also carries the statistics the dashboard's Data page shows (class balance, text lengths).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from core.task.data import SHOWN, Task, check_rows, normalize_text, row_numbers

LONG_TEXT_CHARS_PER_TOKEN = 4  # rough English chars per subword token, to flag truncation without a tokenizer
IMBALANCE_RATIO = 10  # largest / smallest class above this is worth a warning
LEAK_MIN_WORDS = 5  # a test text this long found inside a corpus document is a copy, not a coincidence
LEAK_CHECKED_ROWS = 2000  # test texts searched for in the corpus: each search scans the whole corpus


@dataclass
class ValidationReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stats: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def _quote(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def validate_task(task: Task, sizes: list = (), size_unit: str = "per_class", max_length: int = 128,
                  drop_leaked_from_train: bool = False) -> ValidationReport:
    """Return every problem found; with drop_leaked_from_train, leaked rows are removed from task.train."""
    report = ValidationReport()
    for split in ("train", "validation", "test"):
        _check_split(getattr(task, split), split, report)
    if report.errors:
        return report  # counts below would be misleading on rows that are about to change
    _check_classes(task, report)
    _check_sizes(task, sizes, size_unit, report)
    _check_leakage(task, report, drop_leaked_from_train)
    _check_corpus_leak(task, report)
    _check_quality(task, max_length, report)
    report.warnings.extend(task.notes)
    report.stats = describe(task)
    return report


def _check_split(frame: pd.DataFrame, split: str, report: ValidationReport) -> None:
    if frame.empty:
        report.errors.append(f"the {split} split is empty; it needs labelled examples")
        return
    report.errors.extend(check_rows(frame, split))


def _check_classes(task: Task, report: ValidationReport) -> None:
    train_labels = set(task.train.label)
    if len(train_labels) < 2:
        report.errors.append(f"train has {len(train_labels)} class(es) ({sorted(train_labels)}); "
                             "a classifier needs at least two")
    unseen = sorted(set(task.test.label) - train_labels)
    if unseen:
        report.warnings.append(f"test has label(s) {unseen[:SHOWN]} that never appear in train; "
                               "trained methods cannot predict them")


def _check_sizes(task: Task, sizes: list, size_unit: str, report: ValidationReport) -> None:
    numeric = [s for s in sizes if s != "all"]
    if not numeric:
        return
    largest = max(numeric)
    counts = task.train.label.value_counts()
    if size_unit == "per_class":
        short = counts[counts < largest]
        if len(short):
            detail = ", ".join(f"'{label}' has {n}" for label, n in short.items())
            report.errors.append(f"the grid asks for {largest} training examples per class but {detail}; "
                                 f"lower the largest size to {int(short.min())} or add examples")
    elif largest > len(task.train):
        report.errors.append(f"the grid asks for {largest} training examples but train has {len(task.train)}; "
                             "lower the largest size or use 'all'")
    elif largest < counts.size:
        report.errors.append(f"the smallest total size must cover every class: {largest} < {counts.size} classes")


def _check_leakage(task: Task, report: ValidationReport, drop: bool) -> None:
    test_texts = set(task.test.text.map(normalize_text))
    leaked = task.train.text.map(normalize_text).isin(test_texts)
    if not leaked.any():
        return
    example = task.train.text[leaked].iloc[0]
    if drop:
        task.train = task.train[~leaked].reset_index(drop=True)
        report.warnings.append(f"{int(leaked.sum())} train example(s) also in test were dropped from train "
                               f"(e.g. {_quote(example)})")
    else:
        report.errors.append(f"{int(leaked.sum())} train example(s) also appear in test (train row(s) "
                             f"{row_numbers(task.train, leaked)}, e.g. {_quote(example)}): scores would be inflated. "
                             "Remove them from one split, or set task.drop_leaked_from_train: true")


def whole_words(text: str) -> str:
    """' word word ': lowercase words between spaces, so a substring test matches whole words only.

    A hyphenated compound is one word: 'Loire' is not found in 'Haute-Loire'."""
    return " " + " ".join(re.findall(r"\w+(?:[-'’]\w+)*", normalize_text(text))) + " "


def _check_corpus_leak(task: Task, report: ValidationReport) -> None:
    """Warn when the corpus holds test texts: retrieval would look answers up instead of finding knowledge.

    A test text leaks when a document is that text, carries it under the row's answer as its label (the
    old geo-knowledge corpus), or carries it at sentence length (a copy, not a coincidence). Test rows
    a task marks `covered` are meant to have their document and are reported apart, so they are skipped."""
    if task.corpus is None or task.corpus.empty:
        return
    test = task.test
    if "covered" in test:
        test = test[~test.covered.map(lambda value: str(value).strip().lower() in {"true", "1", "yes"})]
    test = test.head(LEAK_CHECKED_ROWS)
    documents = [whole_words(text) for text in task.corpus.text]
    whole, joined = set(documents), "\n".join(documents)
    by_label = {label: "\n".join(doc for doc, doc_label in zip(documents, task.corpus.label) if doc_label == label)
                for label in set(task.corpus.label) - {""}}
    found = []  # (test text, whether a document under its answer's label carries it)
    for text, label in zip(test.text, test.label):
        words = whole_words(text)
        with_answer = words in by_label.get(label, "")
        long_copy = len(words.split()) >= LEAK_MIN_WORDS and words in joined
        if words.strip() and (words in whole or with_answer or long_copy):
            found.append((text, with_answer))
    if found:
        answered = sum(with_answer for _, with_answer in found)
        which = " not marked covered" if "covered" in task.test else ""
        report.warnings.append(
            f"{len(found)} of {len(test)} test texts{which} appear verbatim in the corpus ({answered} in a document "
            f"labelled with their answer), e.g. {_quote(found[0][0])}: retrieval can look the answer up, so scores "
            "on them measure lookup, not knowledge. Remove them from the corpus, or mark the rows the corpus is "
            "meant to cover in a `covered` column so they are reported apart")


def _check_quality(task: Task, max_length: int, report: ValidationReport) -> None:
    counts = task.train.label.value_counts()
    if counts.min() and counts.max() / counts.min() > IMBALANCE_RATIO:
        report.warnings.append(f"classes are imbalanced: '{counts.idxmax()}' has {counts.max()} train examples, "
                               f"'{counts.idxmin()}' {counts.min()}; watch macro-F1, not only accuracy")
    for split in ("train", "test"):
        frame = getattr(task, split)
        duplicated = frame.text.map(normalize_text).duplicated()
        if duplicated.any():
            report.warnings.append(f"{split}: {int(duplicated.sum())} duplicate text(s) (row(s) "
                                   f"{row_numbers(frame, duplicated)})")
    long = task.train.text.str.len() > max_length * LONG_TEXT_CHARS_PER_TOKEN
    if long.mean() > 0.05:
        report.warnings.append(f"{long.mean():.0%} of train texts are longer than about {max_length} tokens and "
                               "will be truncated; raise model.max_length if the end of a text matters")


def describe(task: Task) -> dict:
    """Counts per split and class, and text-length quantiles: what a user checks before running."""
    splits = {name: getattr(task, name) for name in ("train", "validation", "test")}
    return {
        "rows": {name: len(frame) for name, frame in splits.items()},
        "classes": len(task.labels),
        "class_counts": {name: frame.label.value_counts().to_dict() for name, frame in splits.items()},
        "text_chars": task.train.text.str.len().describe(percentiles=[0.5, 0.95]).round(1).to_dict(),
        "corpus_documents": 0 if task.corpus is None else len(task.corpus),
    }


def unknown_descriptions(descriptions: dict[str, str], labels: list[str]) -> list[str]:
    """A warning naming each `prompt.descriptions` label the data does not have: a misspelt label's description
    is never used, and that label gets the template instead."""
    known = set(labels)
    unknown = [label for label in descriptions if label not in known]
    if not unknown:
        return []
    return [f"prompt.descriptions names {', '.join(_quote(label) for label in unknown)}, which the data has no label "
            f"for, so {'it is' if len(unknown) == 1 else 'they are'} not used; the labels are "
            f"{', '.join(_quote(label) for label in labels[:20])}{' ...' if len(labels) > 20 else ''}"]
