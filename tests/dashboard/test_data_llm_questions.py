"""The Data page's Documents source with questions written by an LLM: asked of the worker as a job, its progress and
Cancel on the page, the questions read once written, a new session finding them, a bad model in words.

The worker's part runs here, in the test's process (core.running.worker.serve, one job); a real worker process is
tests/core/running/test_question_jobs.py's."""

from core.running.jobs import JobQueue
from tests.dashboard.conftest import assert_clean, markdown_shown, open_page
from tests.dashboard.test_data_documents import documents_page, guide

FILES = [(f"guide{i}.md", guide(i)) for i in range(2)]


def _choose(app, model: str):
    app.radio(key="data.docs.source").set_value("Written by an LLM").run()
    assert app.text_input(key="data.docs.model").value == "smollm2"  # the built-in LLM is suggested
    app.text_input(key="data.docs.model").set_value(model).run()
    return app


def _written_by(model: str):
    app = _choose(documents_page(FILES), model)
    app.button(key="data.docs.generate").click().run()
    assert_clean(app)
    return app


def _queue() -> JobQueue:
    from core.results.store import SqlStore, default_store_url

    return JobQueue(SqlStore(default_store_url()))


def _worker_runs_the_job() -> None:
    from core.running.worker import serve

    assert serve(_queue().store, max_jobs=1, poll_seconds=0.05) == 1


def _cancel_button(app):
    return [b for b in app.button if b.label == "Cancel"]


def test_questions_written_by_an_llm_are_asked_of_the_worker_and_read_once_written(adaptlab_home, tiny_llama):
    app = _written_by(str(tiny_llama))
    # the page wrote nothing: it queued a job, and shows it with a Cancel button until the worker has written
    jobs = _queue().jobs()
    assert jobs.status.tolist() == ["queued"] and jobs.experiment[0].startswith("questions: documents-")
    assert any("Writing questions with" in text for text in markdown_shown(app)) and _cancel_button(app)
    assert not app.data_editor
    _worker_runs_the_job()
    app.run()
    assert_clean(app)
    shown = "\n".join(markdown_shown(app))
    assert "prompt(s) per chunk to tiny-llama" in shown and "dropped:" in shown, shown
    assert not app.error and not _cancel_button(app)
    # a random model writes nothing its chunks support: said, with what to do, and nothing to review
    assert any("Name a larger model, or use cloze questions" in w.value for w in app.warning)
    assert not app.data_editor
    # the Runs page lists the job beside experiments: finished, it links to the Data page to review, not to Compare
    runs = open_page("runs")
    assert_clean(runs)
    links = [link.proto.label for link in runs.get("page_link")]
    assert any("questions: documents-" in text for text in markdown_shown(runs)) and "Review" in links, links
    assert "Compare" not in links
    # a new session (a reload) with the same documents and settings reads them without asking again
    again = _choose(documents_page(FILES), str(tiny_llama))
    assert "prompt(s) per chunk to tiny-llama" in "\n".join(markdown_shown(again))
    assert len(_queue().jobs()) == 1


def test_a_new_session_finds_the_job_under_way_and_cancel_stops_it(adaptlab_home, tiny_llama):
    _written_by(str(tiny_llama))
    reloaded = _choose(documents_page(FILES), str(tiny_llama))  # a reload: no Generate pressed in this session
    assert any("Writing questions with" in text for text in markdown_shown(reloaded))
    _cancel_button(reloaded)[0].click().run()
    assert _queue().jobs().status.tolist() == ["cancelled"]
    assert any("Cancelled. Press Generate questions to go on" in i.value for i in reloaded.info)
    reloaded.button(key="data.docs.generate").click().run()  # asked again: a new job
    assert _queue().jobs().status.tolist() == ["queued", "cancelled"]


def test_a_model_that_cannot_write_questions_is_said_in_one_sentence(adaptlab_home):
    app = _written_by("default")
    _worker_runs_the_job()
    app.run()
    assert [e.value for e in app.error] and "cannot write questions" in app.error[0].value
    assert not app.data_editor
