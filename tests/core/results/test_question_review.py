"""Reviewing generated questions: the review table, the accepted set with edits, saving it, and the chunk marked."""

import json
import re

import pandas as pd
import pytest

from core.errors import AdaptlabError
from core.results.question_review import (
    accepted_questions,
    marked_chunk,
    question_download,
    review_table,
    save_accepted,
)
from tests.conftest import links_and_images

CHUNKS = pd.DataFrame({"id": ["a.md#0", "a.md#1"], "document": ["a.md", "a.md"], "text": ["One.", "Two."],
                       "start": [0, 5], "end": [4, 9], "heading": ["A", "A > B"]})
QUESTIONS = pd.DataFrame({"question": ["Q1 ____?", "Q2 ____?", "Q3 ____?"], "answer": ["1997", "Lima", "42"],
                          "aliases": [["1997"], ["Lima", "lima"], ["42", "forty-two"]],
                          "source": ["a.md#0", "a.md#1", "a.md#1"], "origin": "cloze"})


def test_the_review_table_names_each_questions_chunk_and_accepts_all():
    review = review_table(QUESTIONS, CHUNKS)
    assert review.accept.all() and review.heading.tolist() == ["A", "A > B", "A > B"]
    assert review.document.tolist() == ["a.md"] * 3


def test_rejected_questions_go_and_an_edited_answer_replaces_the_generated_forms():
    review = review_table(QUESTIONS, CHUNKS)
    review.loc[0, "accept"] = False
    review.loc[1, "answer"] = "Lima, Peru"
    review.loc[2, "question"] = "How many desks?"
    kept = accepted_questions(review)
    assert kept.question.tolist() == ["Q2 ____?", "How many desks?"]
    assert kept.aliases.tolist() == [["Lima, Peru"], ["42", "forty-two"]]  # unchanged answer: its forms kept
    assert kept.source.tolist() == ["a.md#1", "a.md#1"]


@pytest.mark.parametrize("edit, message", [({"answer": "  "}, "Row(s) 2 are accepted"),
                                           ({"accept": False}, None)])
def test_an_accepted_question_without_an_answer_is_refused_by_row(edit, message):
    review = review_table(QUESTIONS, CHUNKS)
    for column, value in edit.items():
        review.loc[1, column] = value
    if message:
        with pytest.raises(AdaptlabError, match=re.escape(message)):
            accepted_questions(review)
    else:
        assert len(accepted_questions(review)) == 2


def test_nothing_accepted_is_refused():
    with pytest.raises(AdaptlabError, match="No question is accepted"):
        accepted_questions(review_table(QUESTIONS, CHUNKS).assign(accept=False))


def test_the_saved_questions_are_a_qa_file_split_by_source(adaptlab_home, tmp_path):
    folder = adaptlab_home / "uploads" / "documents-x"
    folder.mkdir(parents=True)
    spec = save_accepted(accepted_questions(review_table(QUESTIONS, CHUNKS)), str(folder))
    lines = [json.loads(line) for line in open(spec["path"], encoding="utf-8")]
    assert [line["question"] for line in lines] == QUESTIONS.question.tolist()
    assert spec == {"kind": "qa", "path": spec["path"], "documents": {"path": str(folder)}}
    assert spec["path"].startswith(str((adaptlab_home / "uploads").resolve()))


def test_downloads_are_the_question_table_written_by_its_one_writer():
    kept = accepted_questions(review_table(QUESTIONS, CHUNKS))
    jsonl = [json.loads(line) for line in question_download(kept, ".jsonl").decode().splitlines()]
    assert jsonl[1] == {"question": "Q2 ____?", "answer": "Lima", "aliases": ["Lima", "lima"], "source": "a.md#1",
                        "origin": "cloze"}
    csv = pd.read_csv(__import__("io").BytesIO(question_download(kept, ".csv")))
    assert json.loads(csv.aliases[2]) == ["42", "forty-two"]


def test_the_chunk_is_escaped_before_the_answer_is_marked():
    text = "# Title\n\nThe vault opened in 1997 after ![x](http://evil.test/a.png) and\n[a](http://e.test) *left*."
    shown = marked_chunk(text, "1997")
    assert "**1997**" in shown and shown.count("**") == 2
    assert links_and_images(shown) == [] and not shown.startswith("#")
    assert marked_chunk("Office\n1 opens. office 1 too.", "Office 1").count("**") == 4  # across a line break, any case
    assert marked_chunk("a *b*", "**") .count("\\*") >= 2  # an answer of markup characters is text too
