"""Issue 30 §3: the pages say only what is true. Coverage that is not marked is said to be unknown (and worked out
from the passages' text); a caption counts this experiment's labels; Negative transfer offers only references that
run on the task."""

from __future__ import annotations

import pytest

from core.results.store import SqlStore
from tests.dashboard.conftest import PLACES, assert_clean, fake_qa_experiment, open_page
from tests.decision_grid import stored_grid

QA = "geo-qa-fake"


@pytest.fixture
def store(adaptlab_home):
    return SqlStore(adaptlab_home / "results.db")


def _unmarked(store: SqlStore) -> None:
    """The QA grid with its questions' coverage marks and passage ids taken away, as a user's question file that
    does not say which passage holds each answer would store them."""
    fake_qa_experiment(store)
    questions = [{k: v for k, v in q.items() if k not in ("covered", "passage_id")}
                 for q in store.experiment(QA)["task"]["questions"]]
    store.add_task_facts(QA, questions=questions)


def test_unmarked_coverage_is_said_unknown_and_the_passages_holding_an_accepted_answer_are_marked(store):
    _unmarked(store)
    app = open_page("answers")  # question 1: Bavaria, whose passage "Bavaria is a region of Germany." rag finds
    assert_clean(app)
    text = "\n".join(m.value for m in app.markdown)
    captions = " ".join(c.value for c in app.caption)
    assert "No passage holds this answer" not in captions  # it was said under every question, untrue here
    assert "coverage not marked" in text and "not covered" not in text
    assert "The data does not mark which passage holds this answer: the passages marked below contain an " \
           "accepted answer." in captions
    place, country, *_ = PLACES[0]
    assert f":green-background[**✓ contains an accepted answer**] {place} is a region of {country}." in text
    # a question whose passage retrieval missed: nothing found quotes its answer, and the page says that, no more
    from tests.dashboard.conftest import MISSED

    app.selectbox(key="answers.question").set_value(MISSED).run()
    assert_clean(app)
    assert "none of the passages found contains an accepted answer" in " ".join(c.value for c in app.caption)
    assert "✓" not in "\n".join(m.value for m in app.markdown if "best match first" in m.value)


def test_the_training_data_caption_counts_this_experiments_labels(store):
    stored_grid(str(store.url).removeprefix("sqlite:///"), seeds=(0,))  # two labels, sizes 8 and 32 per class
    app = open_page("compare")
    assert_clean(app)
    captions = " ".join(c.value for c in app.caption)
    assert "\"8 per class\" means 8 labelled examples of each label (16 in all for 2 labels)" in captions
    assert "three labels" not in captions


def test_negative_transfer_on_a_qa_task_offers_no_tfidf_reference(store):
    fake_qa_experiment(store, methods=("prompt", "rag", "lora"))  # no scratch: nothing to compare with
    app = open_page("negative_transfer")
    assert_clean(app)
    said = next(i.value for i in app.info if "no finished 'scratch' runs" in i.value)
    assert "tfidf" not in said and "Add 'scratch' to the methods and launch it again" in said


def test_answers_the_token_limit_cut_off_are_counted_as_cut_off_not_made_up(store):
    """Every run recorded each of its answers as stopped by max_new_tokens (as core/evaluation/qa.py records it):
    a wrong one is then cut off, not made up; the right ones and the "I don't know"s stay what they are."""
    from sqlalchemy import select, update

    from core.results.store import runs

    fake_qa_experiment(store)
    with store.engine.begin() as db:
        for run_id, record in db.execute(select(runs.c.id, runs.c.record)).all():
            db.execute(update(runs).where(runs.c.id == run_id)
                       .values(record={**record, "cut_off": [True] * len(record["answers"])}))
    app = open_page("answers")
    assert_clean(app)
    said = next(m.value for m in app.markdown if "runs got it right" in m.value)
    assert "made an answer up" not in said and "were cut off at the answer length limit (max_new_tokens)" in said
    verdicts = set(app.dataframe[0].value.verdict)
    assert "✗ wrong" not in verdicts and "✂ cut off" in verdicts
