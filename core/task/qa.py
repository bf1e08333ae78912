"""Question-answering tasks: load questions and their answers from CSV, JSONL or Parquet, and check them.

A QA file holds one question per row with its reference answer and, optionally, other accepted
answers (aliases), answer options for multiple-choice scoring, and a passage given with the question::

    {"question": "Which country is Tuscany in?", "answer": "Italy", "aliases": ["Italia"],
     "options": ["France", "Italy", "Spain"], "context": ""}

In a CSV a list cell is a JSON list, a Python-style list, or answers separated by "|" ("Italy|Italia").
The splits come as for classification (core/task/data.py: split here, by a split column, or one file per
split), except that a question has no class to stratify by, so the split here is random. Every
problem in a file is reported together, by row. A loaded QA task's frames have the columns `text`
(question), `label` (reference answer), `row`, `aliases`, `options` and `context`.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from core.errors import DataError
from core.task.coverage import load_tokenizer
from core.task.data import (
    SPLITS,
    Task,
    _decode,
    _drop_duplicate_texts,
    _pick_columns,
    _read_jsonl,
    _source_record,
    _split_by_column,
    detect_format,
    hold_out,
    load_corpus,
    normalize_text,
    read_table,
    row_numbers,
)
from core.task.documents import documents_corpus
from core.task.llm_questions import document_questions
from core.task.questions import (
    documents_qa_task,
    report_lines,
    split_by_source,
    withheld_documents,
    withheld_note,
)
from core.task.spec import CorpusSpec, TaskSpec
from core.task.validation import (
    LONG_TEXT_CHARS_PER_TOKEN,
    ValidationReport,
    _check_corpus_leak,
    _check_leakage,
    _quote,
)

QA_COLUMNS = ("text", "label", "row", "aliases", "options", "context")
# kept as they are named: the document or chunk a question came from (retrieval recall, the split by source),
# whether the documents hold its answer (reported apart, as for built-in scenarios), and who wrote it
KEPT_COLUMNS = ("source", "covered", "origin")
TRUE, FALSE = {"true", "1", "yes", "y"}, {"false", "0", "no", "n"}
LIST_HINT = 'write a JSON list such as ["Italy", "Italia"] or separate the answers with | (Italy|Italia)'


def load_qa_task(spec: TaskSpec, name: str = "task", retriever: str = "default") -> Task:
    """Build a QA Task from the spec's file(s): one file split here at random or by a column, or a file per split.

    With `documents:`, the corpus is their chunk table, cut by tokens of the retriever's tokenizer."""
    notes: list[str] = []
    provenance: dict = {"sources": []}
    chunks, withheld = None, set()
    if spec.documents is not None:  # chunked first: a question's source names a chunk or a document
        chunks, provenance["documents"] = documents_corpus(spec.documents, load_tokenizer(retriever))
        withheld = withheld_documents(chunks, spec.documents.withheld_fraction, spec.split_seed)
        provenance["documents"]["withheld"] = sorted(withheld)
        provenance["sources"].append({"file": ", ".join(path.name for path in spec.documents.paths()),
                                      "sha256": provenance["documents"]["sha256"], "split": "documents",
                                      "rows": provenance["documents"]["documents"]})
        notes.extend(chunks.attrs["notes"])
        if spec.path is None and spec.train is None:  # no questions of the user's: built from the chunks
            return _questions_from_documents(spec, chunks, name, notes, provenance)
    if spec.path is not None:
        frame = read_qa_file(spec.path, spec, with_split=bool(spec.split_column))
        provenance["sources"].append(_source_record(spec.path, frame))
        notes.extend(frame.attrs.get("notes", []))
        if spec.split_column:
            splits = _split_by_column(frame, spec, spec.path.name)
        else:
            frame, dropped = _drop_duplicate_texts(frame)
            if dropped:
                notes.append(f"{dropped} duplicate question(s) dropped before splitting, so none can land in "
                             "two splits")
            splits = _split(frame, spec, notes, chunks, withheld)
    else:
        splits = {}
        for split in SPLITS:
            path = getattr(spec, split)
            if path is not None:
                splits[split] = read_qa_file(path, spec)
                provenance["sources"].append({**_source_record(path, splits[split]), "split": split})
                notes.extend(splits[split].attrs.get("notes", []))
        if "validation" not in splits:
            if len(splits["train"]) < 2:
                raise DataError(f"{spec.train.name}: train has {len(splits['train'])} question(s); it needs at "
                                "least 2 to hold one out for validation, or give a `validation:` file")
            splits["train"], splits["validation"] = hold_out(splits["train"], spec.validation_fraction,
                                                             spec.split_seed)
            notes.append(f"no validation file: {spec.validation_fraction:.0%} of train held out for early stopping")
    if withheld and not any("covered" in frame for frame in splits.values()):
        raise DataError("documents.withheld_fraction needs questions tied to their documents: a `source` column "
                        "in one QA file (adaptlab questions writes one), without a split column")
    corpus = load_qa_corpus(spec.corpus) if spec.corpus is not None else None
    if corpus is not None:
        provenance["sources"].append({**_source_record(spec.corpus.path, corpus), "split": "corpus"})
        notes.extend(corpus.attrs.get("notes", []))
    if chunks is not None:  # what RAG indexes and corpus fine-tuning trains on: every chunk not withheld
        corpus = chunks[~chunks.document.isin(withheld)].reset_index(drop=True)
        corpus["row"] = range(1, len(corpus) + 1)
    return Task(name=name, corpus=corpus, provenance=provenance, notes=notes, kind="qa",
                **{split: splits[split].reset_index(drop=True) for split in SPLITS})


def _questions_from_documents(spec: TaskSpec, chunks: pd.DataFrame, name: str, notes: list[str],
                              provenance: dict) -> Task:
    """No QA file: questions built from the chunks, cloze ones with no model (core/task/questions.py) or written by
    an LLM (core/task/llm_questions.py) as documents.questions says, split by source chunk, the withheld documents'
    questions test-only. `adaptlab questions CONFIG` writes the same table to read, edit and pass back as
    `task.path`."""
    settings = spec.documents.questions
    questions = document_questions(chunks, settings, spec.split_seed)
    if questions.frame.empty:  # said with the report's reasons, before the split says it has nothing to split
        hint = ("name a larger instruct model in documents.questions.model (on a GPU), or use source: cloze"
                if settings.source == "llm" else "add documents with more prose, or write a QA file")
        raise DataError(f"no question was kept from the documents ({'; '.join(report_lines(questions.report))}); "
                        f"{hint}")
    task = documents_qa_task(chunks, questions, spec.validation_fraction, spec.test_fraction, spec.split_seed,
                             spec.documents.withheld_fraction, name)
    task.notes = [*notes, *task.notes]
    task.provenance = {**task.provenance, **provenance,
                       "sources": provenance["sources"] + task.provenance.get("sources", [])}
    return task


def _split(frame: pd.DataFrame, spec: TaskSpec, notes: list[str], chunks: pd.DataFrame | None = None,
           withheld: set[str] = frozenset()) -> dict[str, pd.DataFrame]:
    """At random, or by the `source` column where it names sources: a source's questions stay in one split.

    chunks, withheld: the documents' chunk table and the documents no method sees; a question whose source is
    a withheld document (or one of its chunks) is a test question marked covered=False."""
    if "source" not in frame or not (frame.source != "").any():
        return random_split(frame, spec.validation_fraction, spec.test_fraction, spec.split_seed, spec.path.name)
    try:
        splits = split_by_source(frame, chunks, spec.validation_fraction, spec.test_fraction, spec.split_seed,
                                 withheld)
    except DataError as error:
        raise DataError([f"{spec.path.name}: {problem}; or give a split column"
                         for problem in error.problems]) from None
    if "covered" not in frame and not withheld:  # all covered: no empty 'uncovered' group in the results
        splits = {split: part.drop(columns="covered") for split, part in splits.items()}
    notes.append(f"{spec.path.name}: split by the `source` column, so the questions of one source are in one split "
                 "(training never saw a test question's passage)"
                 + ("; questions marked covered=false are test questions only" if "covered" in frame else ""))
    if withheld:
        notes.append(withheld_note(withheld, splits["test"]))
    return splits


def read_qa_file(path: Path, spec: TaskSpec, with_split: bool = False) -> pd.DataFrame:
    """One file as a QA frame (text, label, row, aliases, options, context [, split]); every bad row named."""
    name = path.name
    frame = read_table(path, spec.format)
    _require_columns(frame, spec, name, with_split)
    optional = {"aliases": spec.aliases_column, "options": spec.options_column, "context": spec.context_column}
    present = {role: column for role, column in optional.items() if column and column in frame.columns}
    kept = [column for column in KEPT_COLUMNS if column in frame.columns and column not in present.values()]
    columns = {"text": spec.question_column, "label": spec.answer_column, **present, **{c: c for c in kept}}
    qa = _pick_columns(frame, name, {**columns, "split": spec.split_column if with_split else None})
    cells = _original_cells(path, spec.format, name, frame,
                            [present[r] for r in ("aliases", "options") if r in present])
    problems = []
    for role in ("aliases", "options"):
        values = cells[present[role]] if role in present else pd.Series([[]] * len(qa), index=qa.index)
        qa[role], unreadable = _parse_lists(values, qa.index)
        if unreadable.any():
            problems.append(f"{name}: column '{present[role]}' is not a list in row(s) {row_numbers(qa, unreadable)}; "
                            f"{LIST_HINT}")
    # the reference answer is always an accepted answer, and the first one
    qa["aliases"] = [[a for a in dict.fromkeys([answer, *aliases]) if a]
                     for answer, aliases in zip(qa.label, qa.aliases)]
    if "context" not in qa.columns:
        qa["context"] = ""
    if "covered" in qa.columns:
        qa["covered"], unreadable = _parse_flags(qa.covered)
        if unreadable.any():
            problems.append(f"{name}: column 'covered' is not true or false in row(s) {row_numbers(qa, unreadable)}; "
                            "write true where the documents hold the answer, false where they do not")
    problems.extend(check_qarow_numbers(qa, name))
    if problems:
        raise DataError(problems)
    qa = qa[[*QA_COLUMNS, *kept, *(["split"] if with_split else [])]]
    # what reading changed (read_table), and what it left unread, for the task's notes
    qa.attrs["notes"] = [*frame.attrs.get("notes", []), *_unread_columns(frame, {*columns.values(), spec.split_column},
                                                                         name)]
    return qa


def _parse_flags(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """true/false, 1/0, yes/no (any case) as booleans, and which cells are none of these."""
    words = values.astype(str).str.strip().str.lower()
    return words.isin(TRUE), ~words.isin(TRUE | FALSE)


def _unread_columns(frame: pd.DataFrame, read: set, name: str) -> list[str]:
    """A column adaptlab does not read is named: a misnamed `aliases` or `covered` would otherwise vanish."""
    unread = [column for column in frame.columns if column not in read | {"row"}]
    if not unread:
        return []
    return [f"{name}: column(s) {', '.join(repr(c) for c in unread)} are not read (a QA file's columns are the "
            f"question, answer, aliases, options, context, {', '.join(KEPT_COLUMNS)} and split columns); rename "
            "one if it was meant as one of those"]


def _require_columns(frame: pd.DataFrame, spec: TaskSpec, name: str, with_split: bool) -> None:
    # _pick_columns would name them too, but would point a QA user at text_column / label_column
    required = {"question": spec.question_column, "answer": spec.answer_column,
                "split": spec.split_column if with_split else None}
    missing = [f"{role} column '{column}'" for role, column in required.items() if column and column not in frame]
    if missing:
        present = ", ".join(repr(column) for column in frame.columns if column != "row")
        raise DataError(f"{name}: no {' and no '.join(missing)}; the columns are {present}. "
                        "Set question_column / answer_column (and split_column) to the right names")


def _original_cells(path: Path, fmt: str, name: str, frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The list columns as stored: read_table prints a Parquet or JSONL list as text, which loses its items."""
    if not columns or detect_format(path, fmt) == "csv":
        return frame[columns]
    if detect_format(path, fmt) == "parquet":
        raw = pd.read_parquet(path, columns=columns)  # read_table has read this file already: it is sound
    else:
        raw = _read_jsonl(_decode(path.read_bytes(), name), name)[columns]
    return raw.iloc[frame.row - 1].set_axis(frame.index)


def _parse_lists(values: pd.Series, index: pd.Index) -> tuple[pd.Series, pd.Series]:
    """Each cell as a list of distinct non-empty strings, and which cells could not be read as a list."""
    parsed, unreadable = [], []
    for value in values:
        try:
            parsed.append(parse_list(value))
            unreadable.append(False)
        except ValueError:
            parsed.append([])
            unreadable.append(True)
    return pd.Series(parsed, index=index, dtype=object), pd.Series(unreadable, index=index)


def parse_list(value) -> list[str]:
    """A list of answers from a real list, a JSON or Python-style list, "a|b|c", or one answer; "" is []."""
    if isinstance(value, (list, tuple, np.ndarray)):
        items = list(value)
    elif value is None or (isinstance(value, float) and np.isnan(value)):
        items = []
    else:
        text = str(value).strip()
        items = _list_literal(text) if text.startswith("[") else text.split("|")
    words = (_item_text(item) for item in items)
    return list(dict.fromkeys(word for word in words if word))


def _list_literal(text: str) -> list:
    try:
        items = json.loads(text)
    except RecursionError:  # brackets nested past Python's stack: no list of answers looks like that
        raise ValueError(f"not a list: {text[:40]!r}") from None
    except json.JSONDecodeError:
        try:
            items = ast.literal_eval(text)  # a Python-style list ['a', "b's"]; literals only, nothing runs
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            raise ValueError(f"not a list: {text[:40]!r}") from None
    if not isinstance(items, list):
        raise ValueError(f"not a list: {text[:40]!r}")
    return items


def _item_text(item) -> str:
    if item is None:
        return ""
    if isinstance(item, float) and item.is_integer():
        return str(int(item))  # 2.0 from a numeric list is the answer "2"
    return str(item).strip()


def check_qarow_numbers(frame: pd.DataFrame, where: str) -> list[str]:
    """Rows with an empty question or answer, or options that cannot score the answer, named by row number."""
    missing = [column for column in QA_COLUMNS if column not in frame.columns]
    if missing:
        return [f"{where}: a QA split needs the columns {list(QA_COLUMNS)}; {missing} are missing"]
    problems = []
    empty_question = frame.text.str.strip() == ""
    if empty_question.any():
        problems.append(f"{where}: {int(empty_question.sum())} question(s) are empty (row(s) "
                        f"{row_numbers(frame, empty_question)}); remove those rows or write the question")
    answered = frame.label.str.strip() != ""
    if not answered.all():
        problems.append(f"{where}: {int((~answered).sum())} question(s) have no answer (row(s) "
                        f"{row_numbers(frame, ~answered)}); give each question its reference answer or remove it")
    not_accepted = answered & ~pd.Series([label in aliases for label, aliases in zip(frame.label, frame.aliases)],
                                         index=frame.index)
    if not_accepted.any():
        problems.append(f"{where}: the aliases of row(s) {row_numbers(frame, not_accepted)} leave out the reference "
                        "answer; every accepted answer list must hold it")
    counts = frame.options.map(len)
    single = counts == 1
    if single.any():
        problems.append(f"{where}: row(s) {row_numbers(frame, single)} have a single answer option; give two or more "
                        "options (the answer among them) or none")
    without_answer = answered & (counts > 1) & ~pd.Series(
        [options.count(label) == 1 for label, options in zip(frame.label, frame.options)], index=frame.index)
    if without_answer.any():
        problems.append(f"{where}: the options of row(s) {row_numbers(frame, without_answer)} do not include the "
                        "answer (exactly as written, once); add it to the options or leave the options empty")
    return problems


def random_split(frame: pd.DataFrame, validation_fraction: float, test_fraction: float, seed: int,
                 name: str = "data") -> dict[str, pd.DataFrame]:
    """Split questions into train/validation/test at random, reproducibly for a given seed."""
    n_test = max(1, round(test_fraction * len(frame)))
    n_validation = max(1, round(validation_fraction * len(frame)))
    if len(frame) - n_test - n_validation < 1:
        raise DataError(f"{name}: {len(frame)} distinct question(s) cannot be split into train, validation and "
                        "test; add questions or provide a split column")
    rest, test = train_test_split(frame, test_size=n_test, random_state=seed)
    train, validation = train_test_split(rest, test_size=n_validation, random_state=seed)
    return {"train": train, "validation": validation, "test": test}


def load_qa_corpus(spec: CorpusSpec) -> pd.DataFrame:
    """Passages (`text`) with a unique `id`: the file's `id` column, else p<row>. No labels: passages are prose."""
    # load_corpus keeps the column named as the label when the file has it: here that is the id
    corpus = load_corpus(spec.model_copy(update={"label_column": "id"})).rename(columns={"label": "id"})
    if (corpus.id == "").all():
        corpus["id"] = "p" + corpus.row.astype(str)
    name = spec.path.name
    blank = corpus.id == ""
    if blank.any():
        raise DataError(f"{name}: passage(s) in row(s) {row_numbers(corpus, blank)} have no id; fill in the `id` "
                        "column")
    repeated = corpus.id.duplicated(keep=False)
    if repeated.any():
        raise DataError(f"{name}: passage id(s) {sorted(set(corpus.id[repeated]))[:5]} are used more than once "
                        f"(row(s) {row_numbers(corpus, repeated)}); each passage needs its own id")
    corpus["label"] = ""
    return corpus[["text", "label", "id", "row"]]


def validate_qa_task(task: Task, sizes: list = (), max_length: int = 128,
                     drop_leaked_from_train: bool = False) -> ValidationReport:
    """Every problem of a QA task; with drop_leaked_from_train, test questions are removed from task.train."""
    report = ValidationReport()
    for split in SPLITS:
        frame = getattr(task, split)
        if frame.empty:
            report.errors.append(f"the {split} split is empty; it needs questions with answers")
        else:
            report.errors.extend(check_qarow_numbers(frame, split))
    if report.errors:
        return report  # the counts below would be misleading on rows that are about to change
    _check_qa_sizes(task, sizes, report)
    _check_leakage(task, report, drop_leaked_from_train)  # the same normalised question in train and test
    _check_corpus_leak(task, report)  # a test question copied into the corpus
    _check_bare_answers(task, report)
    _check_qa_quality(task, max_length, report)
    report.warnings.extend(task.notes)
    report.stats = describe_qa(task)
    return report


def _check_qa_sizes(task: Task, sizes: list, report: ValidationReport) -> None:
    numeric = [size for size in sizes if size != "all"]
    if numeric and max(numeric) > len(task.train):
        report.errors.append(f"the grid asks for {max(numeric)} training questions but train has {len(task.train)}; "
                             "lower the largest size or use 'all'")


def _check_bare_answers(task: Task, report: ValidationReport) -> None:
    if task.corpus is None or task.corpus.empty:
        return
    passages = task.corpus.text.map(normalize_text)
    answers = {normalize_text(answer) for aliases in task.test.aliases for answer in aliases}
    bare = passages.isin(answers)
    if bare.any():
        report.warnings.append(f"{int(bare.sum())} corpus passage(s) are nothing but a test answer (row(s) "
                               f"{row_numbers(task.corpus, bare)}, e.g. {_quote(task.corpus.text[bare].iloc[0])}): "
                               "retrieval would hand out the answer key; passages should be prose")


def _check_qa_quality(task: Task, max_length: int, report: ValidationReport) -> None:
    for split in ("train", "test"):
        frame = getattr(task, split)
        duplicated = frame.text.map(normalize_text).duplicated()
        if duplicated.any():
            report.warnings.append(f"{split}: {int(duplicated.sum())} duplicate question(s) (row(s) "
                                   f"{row_numbers(frame, duplicated)})")
    prompt_chars = task.train.text.str.len() + task.train.context.str.len()
    long = prompt_chars > max_length * LONG_TEXT_CHARS_PER_TOKEN
    if long.mean() > 0.05:
        report.warnings.append(f"{long.mean():.0%} of train questions (with their passages) are longer than about "
                               f"{max_length} tokens and will be cut; raise model.max_length if that matters")


def describe_qa(task: Task) -> dict:
    """Counts, question and answer lengths, and the share of questions with options or a passage, per split."""
    splits = {split: getattr(task, split) for split in SPLITS}
    return {
        "kind": "qa",
        "rows": {split: len(frame) for split, frame in splits.items()},
        "question_chars": task.train.text.str.len().describe(percentiles=[0.5, 0.95]).round(1).to_dict(),
        "answer_chars": task.train.label.str.len().describe(percentiles=[0.5, 0.95]).round(1).to_dict(),
        "with_options": {split: float((frame.options.map(len) > 0).mean()) for split, frame in splits.items()},
        "with_context": {split: float((frame.context.str.strip() != "").mean()) for split, frame in splits.items()},
        "corpus_documents": 0 if task.corpus is None else len(task.corpus),
    }
