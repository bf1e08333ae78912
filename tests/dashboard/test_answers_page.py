"""The Answers and Knowledge pages: a stored QA experiment on the LLM, read question by question and as a
knowledge view; and what both say for experiments that classify."""

import base64

import numpy as np
import plotly.io
import pytest

from core.results.store import SqlStore
from core.results.text import method_name
from dashboard.ui import SHARED_EXPERIMENT
from tests.dashboard.conftest import (
    MISSED,
    PLACES,
    UNCOVERED_RAG_ANSWER,
    assert_clean,
    fake_experiment,
    fake_qa_experiment,
    open_page,
)

QA = "geo-qa-fake"
UNCOVERED = [n for n, (*_, covered) in enumerate(PLACES) if not covered]


@pytest.fixture(scope="module")
def qa_store(tmp_path_factory):
    """One stored QA grid shared by the tests that only read it."""
    location = tmp_path_factory.mktemp("qa") / "results.db"
    fake_qa_experiment(SqlStore(location))
    return str(location.resolve())


@pytest.fixture
def qa(qa_store, monkeypatch):
    monkeypatch.setenv("ADAPTLAB_STORE", qa_store)
    return SqlStore(qa_store)


@pytest.fixture
def store(adaptlab_home):
    return SqlStore(adaptlab_home / "results.db")


def _markdown(app) -> str:
    return "\n".join(m.value for m in app.markdown)


def _stored_answers(store: SqlStore, name: str = QA) -> list[tuple[str, str, int, str]]:
    """(method, size, seed, answers) of every finished run, as stored."""
    runs = store.runs_frame(name)
    return [(r.method, r.size, r.seed, r.record["answers"]) for r in runs.itertuples() if r.status == "finished"]


def _numbers(app) -> list[int]:
    """The question numbers the question picker offers (its options read "1. Which country...")."""
    return [int(option.split(".")[0]) - 1 for option in app.selectbox(key="answers.question").options]


def _ask(app, number: int):
    app.selectbox(key="answers.question").set_value(number).run()
    assert_clean(app)
    return app


def test_every_run_answer_is_shown_beside_the_reference_and_marked(qa):
    app = open_page("answers")
    assert_clean(app)
    place, country, others, _ = PLACES[0]
    text = _markdown(app)
    assert f"Which country is {place} in?" in text and f"**Reference answer:** {country}" in text
    assert all(other in text for other in others) and "covered" in text
    table = app.dataframe[0].value
    stored = _stored_answers(qa)
    assert len(table) == len(stored) == 12  # every finished run, one row each
    # each method by the name a reader reads ("Corpus fine-tuning", not corpus_ft)
    assert sorted(zip(table.method, table.answer)) == sorted((method_name(method), answers[0])
                                                             for method, _, _, answers in stored)
    assert ((table.answer == country) == (table.verdict == "✓ right")).all()
    right = (table.answer == country).sum()
    assert f"**{right} of 12** runs got it right" in text


def test_an_uncovered_question_shows_a_made_up_answer_as_wrong_and_says_nothing_holds_it(qa):
    app = _ask(open_page("answers"), UNCOVERED[0])
    text = _markdown(app)
    assert "not covered" in text and "No passage holds this answer" in " ".join(c.value for c in app.caption)
    table = app.dataframe[0].value
    rag = table[table.method == "RAG"]  # the method by its name
    assert len(rag) and (rag.answer == UNCOVERED_RAG_ANSWER).all() and (rag.verdict == "✗ wrong").all()
    assert "✓ holds the answer" not in text  # no passage is marked: none holds it
    abstained = table[table.answer == "I don't know"]
    assert len(abstained) and (abstained.verdict == "I don't know").all()


@pytest.mark.parametrize("number, rank", [(0, 1), (1, 2)])
def test_the_passage_holding_the_answer_is_marked_at_its_rank(qa, number, rank):
    app = _ask(open_page("answers"), number)
    place, country, *_ = PLACES[number]
    text = _markdown(app)
    assert f"{rank}. :green-background[**✓ holds the answer**] {place} is a region of {country}" in text
    assert "RAG (2 runs), RAG + LoRA (2 runs)" in text  # the same retrieval, shown once for the runs that share it
    assert text.count("✓ holds the answer") == 1


def test_a_passage_retrieval_missed_is_named(qa):
    app = _ask(open_page("answers"), MISSED)
    place, country, *_ = PLACES[MISSED]
    text = _markdown(app)
    assert "The passage that holds the answer was not found" in text and f"{place} is a region of {country}" in text
    assert ":green-background" not in text


def test_the_filters_keep_uncovered_questions_some_run_answered_wrongly(store):
    fake_qa_experiment(store, methods=("rag",))  # rag says "I don't know" on most uncovered questions
    app = open_page("answers")
    app.segmented_control(key="answers.coverage").set_value("uncovered").run()
    assert_clean(app)
    assert _numbers(app) == UNCOVERED
    app.toggle(key="answers.wrong_only").set_value(True).run()
    assert_clean(app)
    truth = {n: country for n, (_, country, *_) in enumerate(PLACES)}
    made_up = sorted({n for *_, answers in _stored_answers(store) for n in UNCOVERED
                      if answers[n] not in ("I don't know", truth[n])})
    shown = _numbers(app)
    assert shown == made_up and UNCOVERED[0] in shown and len(shown) < len(UNCOVERED)


def test_a_classification_experiment_on_the_llm_says_answers_are_label_likelihoods(store):
    fake_experiment(store, "fortunes-llm", methods=("prompt", "lora"), family="decoder")
    for page in ("answers", "knowledge"):
        app = open_page(page)
        assert_clean(app)
        assert "label likelihoods" in app.info[0].value
        assert not app.get("selectbox")[1:] and not app.dataframe and not app.get("plotly_chart")


def test_a_classification_experiment_on_the_encoder_points_to_the_qa_experiments(store):
    fake_qa_experiment(store)
    fake_experiment(store, "fortunes-encoder", methods=("prompt",))
    app = open_page("answers", run=False)
    app.session_state[SHARED_EXPERIMENT] = "fortunes-encoder"  # as if chosen on another page
    app.run()
    assert_clean(app)
    assert "sentence encoder" in app.info[0].value
    assert any(f"**{QA}**" in caption.value and "pick one above" in caption.value for caption in app.caption)
    app.selectbox(key="answers.experiment").set_value(QA).run()
    assert_clean(app)
    assert len(app.dataframe[0].value) == 12


@pytest.mark.parametrize("page", ["answers", "knowledge"])
def test_without_experiments_each_page_says_where_to_start(page):
    app = open_page(page)
    assert_clean(app)
    assert "No experiments yet" in app.info[0].value


def test_a_qa_experiment_without_finished_runs_is_an_empty_state(store):
    from core.config import ExperimentConfig
    from core.running.jobs import JobQueue

    fake_qa_experiment(store)
    with store.engine.begin() as db:  # nothing finished yet
        db.exec_driver_sql("DELETE FROM runs")
    # issue 30: "they appear here as runs finish" only while something runs them; else what is missing, and a button
    for page in ("answers", "knowledge"):
        app = open_page(page)
        assert_clean(app)
        assert "appear here as" not in " ".join(i.value for i in app.info)
        assert app.warning[0].value.startswith("**Incomplete experiment: 0 of 12 planned runs finished (12 never "
                                               "started). Nothing is running them now")
        assert app.button(key=f"{page}.run_missing.geo-qa-fake").label == "Run the 12 missing runs"
    JobQueue(store).submit(ExperimentConfig.model_validate(store.experiment("geo-qa-fake")["config"]), resource="cpu")
    app = open_page("answers")
    assert_clean(app)
    assert "no finished runs with answers yet. They appear here as each run finishes" in app.info[-1].value
    app = open_page("knowledge")
    assert_clean(app)
    assert "No finished run" in app.info[-1].value and "appear here as its runs finish" in app.info[-1].value


def _figure(app, index: int):
    """The plotly figure the page sent to the browser."""
    return plotly.io.from_json(app.get("plotly_chart")[index].proto.spec)


def _bars(trace) -> dict:
    """x -> y of a bar trace; plotly sends numbers as base64 typed arrays."""
    y = trace.y
    if isinstance(y, dict):
        y = np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"])
    return dict(zip(trace.x, y))


def _record(store: SqlStore, key: str) -> dict:
    runs = store.runs_frame(QA)
    return runs[runs.run_key == key].record.iloc[0]


def test_knowledge_shows_coverage_made_up_answers_and_the_update_with_its_cost(qa):
    app = open_page("knowledge")
    assert_clean(app)
    assert len(app.get("plotly_chart")) == 4
    fact = app.info[0].value
    assert "RAG" in fact and "by indexing them" in fact and "only by training again" in fact
    covered = next(trace for trace in _figure(app, 0).data if trace.name.startswith("covered"))
    rag = _bars(covered)["RAG"]  # the method by its title on the axis
    assert rag == pytest.approx(_record(qa, "rag|128|0")["by_coverage"]["covered"]["accuracy"])  # the largest size
    kinds = {trace.name for trace in _figure(app, 1).data}
    assert {"right", "I don't know", "made up (wrong)"} <= kinds and "wrong or cut off" not in kinds
    assert "made up" in app.dataframe[0].value.columns  # these runs recorded which answers were cut off
    table = app.dataframe[0].value.set_index("method")  # each method by its title, as the charts name it
    assert "Corpus fine-tuning" in table.index and "what it is" not in table.columns
    updates = app.dataframe[1].value.set_index("method")  # what new facts do, a table of its own (fits 800 px)
    assert updates.loc["RAG", "taking them in costs"].startswith("indexing")
    assert updates.loc["LoRA adapter", "taking them in costs"] == "training again: 2 min, $0.0033 each time"  # 120 s
    assert updates.loc["RAG", "taking them in costs"] == "indexing the new passages: under 1 s"
    assert updates.loc["Prompt-only", "taking them in costs"].startswith("none")
    assert updates.loc["RAG", "new facts"] == "10% → 60%"


def test_knowledge_at_another_size_reads_those_runs(qa):
    app = open_page("knowledge")
    app.selectbox(key="knowledge.size").set_value("32").run()
    assert_clean(app)
    covered = next(trace for trace in _figure(app, 0).data if trace.name.startswith("covered"))
    rag = _bars(covered)["RAG"]
    assert rag == pytest.approx(_record(qa, "rag|32|0")["by_coverage"]["covered"]["accuracy"])
    assert app.dataframe[0].value.set_index("method").loc["LoRA adapter", "training data"] == "32 examples"


def test_a_run_stored_before_cut_off_answers_were_recorded_does_not_call_its_wrong_answers_made_up(store):
    """Issue 30, section 3: a run from before `cut_off` was recorded (no per-answer list, no cut_off_rate) cannot
    tell an answer max_new_tokens cut off from one made up: the page says so instead of counting it made up."""
    fake_qa_experiment(store, methods=("rag",), old=True)
    app = _ask(open_page("answers"), UNCOVERED[0])
    table = app.dataframe[0].value
    rag = table[table.method == "RAG"]  # the method by its name
    assert len(rag) and (rag.answer == UNCOVERED_RAG_ANSWER).all()
    assert (rag.verdict == "✗ wrong or ✂ cut off (not recorded)").all()
    text = _markdown(app)
    assert "made an answer up" not in text and "made up or cut off at the answer length limit, unknown which" in text
    app.segmented_control(key="answers.coverage").set_value("uncovered").run()
    app.toggle(key="answers.wrong_only").set_value(True).run()  # "wrong answers only" still finds them
    assert_clean(app)
    assert UNCOVERED[0] in _numbers(app)


def test_the_knowledge_page_reads_an_old_runs_wrong_answers_as_wrong_or_cut_off_as_answers_does(store):
    """Issue 30 §3 on the Knowledge page: runs stored before cut-off answers were recorded count their wrong answers
    on uncovered questions as "wrong or cut off" (core.results.answers.WRONG_OR_CUT, the Answers page's words), in the
    table, the chart and the headline, never as made up."""
    fake_qa_experiment(store, methods=("rag", "lora"), old=True)
    app = open_page("knowledge")
    assert_clean(app)
    table = app.dataframe[0].value
    assert "wrong or cut off" in table.columns and "made up" not in table.columns
    kinds = {trace.name for trace in _figure(app, 1).data}
    assert "wrong or cut off" in kinds
    assert "makes an answer up" not in app.info[0].value and "wrong or cut off" in app.info[0].value
