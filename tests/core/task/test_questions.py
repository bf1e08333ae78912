"""Cloze questions from document chunks, the split by source chunk, and the documents QA task."""

import importlib.metadata
import json

import numpy as np
import pandas as pd
import pytest

from core.config import TaskSpec
from core.errors import DataError
from core.evaluation.metrics import normalize_answer, qa_metrics
from core.task.load import load_task
from core.task.qa import check_qarow_numbers, validate_qa_task
from core.task.question_table import write_question_table
from core.task.questions import (
    QUESTION_COLUMNS,
    cloze_questions,
    documents_qa_task,
    report_lines,
    split_by_source,
    split_sentences,
    withheld_documents,
)
from core.task.spans import salient_spans


def _chunks(texts: dict[str, list[str]], heading: str = "") -> pd.DataFrame:
    """A chunk table as core.task.chunking makes it: {document: [chunk text, ...]}."""
    rows = []
    for document, chunks in texts.items():
        start = 0
        for n, text in enumerate(chunks):
            rows.append({"id": f"{document}#{n}", "document": document, "text": text, "start": start,
                         "end": start + len(text), "heading": heading})
            start += len(text)
    return pd.DataFrame(rows)


def _package_docs(package: str, chars: int = 1500) -> list[str]:
    """The README a package ships in its metadata (real documentation no one here wrote), cut at paragraphs."""
    # read the file itself: the body's place in metadata() depends on which importlib_metadata answers (the
    # backport, which some packages import, moves it to "Description")
    text = importlib.metadata.distribution(package).read_text("METADATA").split("\n\n", 1)[1]
    chunks, current = [], ""
    for paragraph in text.split("\n\n"):
        current += paragraph + "\n\n"
        if len(current) > chars:
            chunks.append(current)
            current = ""
    return [*chunks, current]


@pytest.fixture(scope="module")
def real_chunks():
    # tqdm (MPL-2.0/MIT) ships an RST README, transformers (Apache-2.0) a Markdown one with inline HTML
    return _chunks({"tqdm": _package_docs("tqdm"), "transformers": _package_docs("transformers")})


def test_questions_from_real_documentation_hide_their_answer_and_keep_their_chunk(real_chunks):
    questions = cloze_questions(real_chunks, max_per_chunk=2, seed=0)
    frame, report = questions.frame, questions.report
    assert list(frame.columns) == list(QUESTION_COLUMNS) and (frame.origin == "cloze").all()
    assert len(frame) >= 30
    assert report["kept"] == len(frame) and report["kept"] + sum(report["dropped"].values()) == report["generated"]
    texts = dict(zip(real_chunks.id, real_chunks.text))
    for question, answer, aliases, source in zip(frame.question, frame.answer, frame.aliases, frame.source):
        assert "____" in question and aliases[0] == answer
        assert answer in texts[source]  # the span is the chunk's own words
        words = f" {normalize_answer(question)} "
        assert not any(f" {normalize_answer(a)} " in words for a in aliases), (question, aliases)
        assert "http" not in question and "<td>" not in question  # links and HTML read as their words
        assert question.endswith((".", "!", "?", ":", ".)", '."'))  # a whole sentence, not a title or fragment
    assert not frame.question.map(normalize_answer).duplicated().any()
    assert frame.source.value_counts().max() <= 2
    assert report["sentences"] > report["generated"] > report["kept"]


def test_the_selection_depends_only_on_the_seed(real_chunks):
    first, again = cloze_questions(real_chunks, 2, seed=0), cloze_questions(real_chunks, 2, seed=0)
    other = cloze_questions(real_chunks, 2, seed=1)
    pd.testing.assert_frame_equal(first.frame, again.frame)
    assert set(first.frame.question) != set(other.frame.question)


def test_issue_numbers_and_handles_are_not_asked():
    assert salient_spans("Fix the schema title by @SydneyRunkle in #10936.") == []


@pytest.mark.parametrize("sentence, kind, answer", [
    ("A validator is a function that checks one field of a model.", "term", "validator"),
    ("Retrieval-augmented generation means the model reads passages found for the question.", "term",
     "Retrieval-augmented generation"),
    ("Call `model_dump` to turn the fields of a model into a dictionary.", "identifier", "model_dump"),
    ("Run it with ``--verbose`` when you need every step printed.", "identifier", "--verbose"),
    ("Pass --strict to refuse coercion of strings into integers.", "identifier", "--strict"),
    ("The settings are read from pydantic.config when the class is built.", "identifier", "pydantic.config"),
    ("Set MAX_RETRIES in the environment before the server starts.", "identifier", "MAX_RETRIES"),
    ("Subclass BaseModel to declare the typed fields of your data.", "identifier", "BaseModel"),
    ("Version two was released on 2023-06-30 after a long beta.", "date", "2023-06-30"),
    ("The last release before the rewrite came out in March 2021 for everyone.", "date", "March 2021"),
    ("Support is run by a team in Buenos Aires during working hours.", "name", "Buenos Aires"),
    ("Each request is tried 3 times before the client gives up.", "number", "3"),
    ("The cache holds 10,000 entries by default on every node.", "number", "10,000"),
])
def test_each_kind_of_salient_span_is_found_and_hidden(sentence, kind, answer):
    span = salient_spans(sentence)[0]
    assert (span.kind, span.text) == (kind, answer)
    frame = cloze_questions(_chunks({"doc": [sentence]})).frame
    assert frame.answer.tolist() == [answer]
    assert answer not in frame.question[0] and "____" in frame.question[0]
    assert "`" not in frame.question[0].replace("``", "")  # the blank takes the backticks with it


@pytest.mark.parametrize("span_text, kind, form", [
    ("2023-06-30", "date", "June 30, 2023"), ("3", "number", "three"), ("10,000", "number", "10000"),
    ("model_dump", "identifier", "model dump"), ("25%", "number", "25 percent"),
])
def test_an_answer_accepts_its_other_written_forms(span_text, kind, form):
    from core.task.spans import Span, answer_forms

    forms = answer_forms(Span(kind, span_text, 0, len(span_text)))
    assert forms[0] == span_text
    assert normalize_answer(form) in map(normalize_answer, forms)
    assert len(set(map(normalize_answer, forms))) == len(forms)  # distinct after normalisation


def test_each_drop_is_counted_under_its_reason():
    near = "The default port of the web server is 8080 for all deployments."
    chunks = _chunks({"a": [
        "The `timeout` option sets the timeout in seconds for every call.",  # the answer is still in the question
        "Use `uv` now.",  # too short
        "Configuring the `httpx` client for production",  # a title, not a sentence
        "It accepts " + ", ".join(f"option {i}" for i in range(30)) + ".",  # too long
        near,
        "Backups run every 6 hours on the primary database server.",
    ], "b": [
        "Backups run every 6 hours on the primary database server.",  # the same question, from an overlap
        near.replace("all deployments", "all new deployments"),  # nearly the same, the same answer
        "The archive keeps 30 days of logs for each service in the cluster. "
        "The scheduler starts 4 workers when the queue is longer than 100 jobs. "
        "Reports are mailed to 12 managers each week by the reporting service.",  # three in one chunk: one too many
        "managers of 3 teams each week. The chunk before this one holds that sentence whole.",  # cut by chunking
    ]})
    questions = cloze_questions(chunks, max_per_chunk=2, seed=0)
    assert questions.report["dropped"] == {"answer in question": 1, "too short": 1, "too long": 1, "duplicate": 1,
                                           "near duplicate": 1, "over per-chunk limit": 1, "not a sentence": 1,
                                           "cut by chunking": 1}
    assert questions.report["generated"] == 12 and questions.report["kept"] == 4
    lines = report_lines(questions.report)
    assert lines[0].startswith("12 question(s) generated") and any("(near duplicate)" in line for line in lines)


def test_a_later_span_is_asked_when_the_first_would_give_itself_away():
    sentence = "The `timeout` option sets the timeout for calls to the billing service in San Francisco."
    frame = cloze_questions(_chunks({"doc": [sentence]})).frame
    assert frame.answer.tolist() == ["San Francisco"]


def test_the_heading_is_context_and_may_give_the_answer_away():
    kept = cloze_questions(_chunks({"doc": ["Requests are retried 3 times before the client gives up."]},
                                   heading="Client > Retries")).frame
    assert "Client > Retries" in kept.question[0]
    given = cloze_questions(_chunks({"doc": ["Use the `retry_policy` setting to change how the client retries."]},
                                    heading="Configuration > retry_policy"))
    assert given.frame.empty and given.report["dropped"] == {"answer in question": 1}


def test_code_blocks_headings_and_tables_are_not_sentences():
    text = ("# Installing the `fastlib` package\n\nInstall it with pip before the first import of the library.\n\n"
            "```python\nclient = FastClient(max_retries=3, timeout_seconds=30)\n```\n\n"
            "| name | default |\n|---|---|\n| max_retries | 3 |\n\n"
            "    indented = code_block(42)\n\n- A list item that names the `pool_size` setting of the client.\n"
            "- Fixed the parser of :meth:`~fastlib.Client.get`\n  when the input is empty\n"
            "* See the [changelog](https://example.com/changes) and <b>the FAQ</b>")
    assert split_sentences(text) == ["Install it with pip before the first import of the library.",
                                     "A list item that names the `pool_size` setting of the client.",
                                     "Fixed the parser of :meth:`~fastlib.Client.get` when the input is empty.",
                                     "See the changelog and the FAQ."]
    assert salient_spans(split_sentences(text)[2])[0].text == "fastlib.Client.get"


def test_bad_chunk_tables_are_refused_in_one_sentence():
    with pytest.raises(DataError, match="no column"):
        cloze_questions(pd.DataFrame({"text": ["a"]}))
    with pytest.raises(DataError, match="more than once"):
        cloze_questions(pd.concat([_chunks({"a": ["x"]})] * 2))
    with pytest.raises(DataError, match="max_per_chunk"):
        cloze_questions(_chunks({"a": ["x"]}), max_per_chunk=0)


def _question_table(chunks: pd.DataFrame, per_chunk: int = 2) -> pd.DataFrame:
    rows = [{"question": f"Fill in the blank: fact {i} of {source} is ____.", "answer": f"value {source} {i}",
             "aliases": [f"value {source} {i}"], "source": source, "origin": "cloze"}
            for source in chunks.id for i in range(per_chunk)]
    return pd.DataFrame(rows)


def test_train_and_test_questions_come_from_different_chunks():
    chunks = _chunks({f"doc{d}": [f"text {n}" for n in range(10)] for d in range(4)})
    questions = _question_table(chunks)
    splits = split_by_source(questions, chunks, 0.1, 0.25, seed=0)
    sources = {split: set(frame.source) for split, frame in splits.items()}
    assert not (sources["train"] & sources["test"] or sources["train"] & sources["validation"]
                or sources["validation"] & sources["test"])
    assert sum(map(len, splits.values())) == len(questions)
    assert abs(len(splits["test"]) - 0.25 * len(questions)) <= 2
    assert splits["test"].covered.all()
    again = split_by_source(questions, chunks, 0.1, 0.25, seed=0)
    assert all(splits[s].equals(again[s]) for s in splits)
    assert set(split_by_source(questions, chunks, 0.1, 0.25, seed=1)["test"].source) != sources["test"]


def test_withheld_documents_give_uncovered_test_questions_and_leave_the_corpus():
    chunks = _chunks({f"doc{d}": [f"Text {n} of document {d}." for n in range(6)] for d in range(5)})
    questions = _question_table(chunks)
    withheld = withheld_documents(chunks, 0.2, seed=0)
    assert len(withheld) == 1
    task = documents_qa_task(chunks, questions, withheld_fraction=0.2, seed=0)
    test = task.test
    assert set(test.source[~test.covered].str.split("#").str[0]) == withheld
    assert (test.source.str.split("#").str[0].isin(withheld) == ~test.covered).all()
    for frame in (task.train, task.validation):
        assert not frame.source.str.split("#").str[0].isin(withheld).any()
    assert not task.corpus.document.isin(withheld).any() and len(task.corpus) == 24
    assert any("withheld from every method" in note for note in task.notes)
    assert task.provenance["withheld_documents"] == sorted(withheld)
    # the covered/uncovered analysis every QA run gets
    metrics, _ = qa_metrics(test.label.tolist(), test.aliases.tolist(), covered=test.covered.to_numpy())
    assert metrics["by_coverage"]["uncovered"]["accuracy"] == 1.0


def test_a_documents_task_is_a_valid_qa_task_over_its_chunks(real_chunks):
    questions = cloze_questions(real_chunks, 2, seed=0)
    task = documents_qa_task(real_chunks, questions, name="docs")
    assert task.kind == "qa" and "covered" not in task.test  # nothing withheld: no empty 'uncovered' group
    for split in ("train", "validation", "test"):
        frame = getattr(task, split)
        assert check_qarow_numbers(frame, split) == []
        assert {"source", "origin"} <= set(frame.columns)
    assert task.corpus.id.tolist() == real_chunks.id.tolist() and (task.corpus.label == "").all()
    report = validate_qa_task(task)
    assert report.errors == []
    assert any(note.startswith(f"{questions.report['generated']} question(s) generated") for note in task.notes)


def test_too_few_chunks_to_split_is_refused():
    chunks = _chunks({"doc": ["one", "two"]})
    with pytest.raises(DataError, match="from 2 source"):
        split_by_source(_question_table(chunks), chunks)
    with pytest.raises(DataError, match="leaves none"):
        withheld_documents(chunks, 0.5)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_the_question_table_saved_reads_back_as_the_users_qa_file(tmp_path, real_chunks, suffix):
    questions = cloze_questions(real_chunks, 2, seed=0).frame
    path = tmp_path / f"questions{suffix}"
    write_question_table(questions, path)
    task = load_task(TaskSpec(path=path, kind="qa"))
    loaded = pd.concat([task.train, task.validation, task.test]).sort_values("row")
    assert len(loaded) == len(questions)
    assert loaded.source.tolist() == questions.source.tolist() and (loaded.origin == "cloze").all()
    assert [list(a) for a in loaded.aliases] == [list(a) for a in questions.aliases]
    assert not any("not read" in note for note in task.notes)
    if suffix == ".jsonl":
        assert json.loads(path.read_text().splitlines()[0])["aliases"] == list(questions.aliases[0])


def test_known_and_unknown_facts():
    from core.evaluation.known_facts import knowledge_categories, known, unknown_share

    aliases = [["Paris"], ["Paris"], ["Paris"], ["Paris"]]
    greedy = [["Paris.", "It is Paris"], ["Paris", "Lyon"], ["Lyon", "Nice"], ["Lyon"]]
    sampled = [[], [], ["Nice", "Paris, France"], ["Lyon", "I don't know Paris"]]
    categories = knowledge_categories(aliases, greedy, sampled)
    assert categories.tolist() == ["HighlyKnown", "MaybeKnown", "WeaklyKnown", "Unknown"]
    assert known(categories).tolist() == [True, True, True, False]
    assert unknown_share(categories) == 0.25 and np.isnan(unknown_share(categories[:0]))
