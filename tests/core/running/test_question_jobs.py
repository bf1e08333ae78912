"""Question writing as a worker job: a real `adaptlab worker` process writes the questions, reports chunks done and
kept/dropped, saves the table beside the documents, stops on Cancel and goes on from there when asked again."""

from __future__ import annotations

import os

import pytest

from core.results.store import SqlStore
from core.running.jobs import JobQueue
from core.running.processes import stop_processes
from core.running.question_jobs import progress_line, questions_job, submit_questions, upload_chunks, written_questions
from core.task.document_settings import QuestionsSpec
from tests.conftest import wait_for

FACTS = ["The client retries a failed request three times before it gives up.",
         "Support is run by a team in Lisbon during working hours.",
         "Each retry waits twice as long as the one before, starting at one second."]


def _handbook(sections: int) -> bytes:
    """A Markdown handbook with `sections` short sections: about one chunk each."""
    return "\n\n".join(f"## Rule {i}\n\n{FACTS[i % 3]} Rule {i} was written in {1990 + i % 30}. " * 3
                       for i in range(sections)).encode()


@pytest.fixture(scope="module")
def worker(tmp_path_factory, tiny_llama_folder):
    """A real worker process on its own store and ADAPTLAB_HOME (also this test process's), stopped at the end,
    whether the tests passed or not."""
    from core.running.jobs import start_worker

    home = tmp_path_factory.mktemp("question-jobs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADAPTLAB_HOME", str(home / "adaptlab"))
        patch.setenv("ADAPTLAB_MODEL_ROOTS", str(tiny_llama_folder.parent))
        store = SqlStore(home / "results.db")
        log = home / "worker.log"
        process = start_worker({**os.environ, "OMP_NUM_THREADS": "1"}, log, store=store.url)
        try:
            yield store, log, home / "adaptlab"
        finally:
            stop_processes([process], grace=30)


@pytest.fixture
def served(worker, monkeypatch):
    """The worker's queue and log, with this test in the worker's ADAPTLAB_HOME (the uploads folder it reads)."""
    store, log, home = worker
    monkeypatch.setenv("ADAPTLAB_HOME", str(home))
    return JobQueue(store), log


def _upload(sections: int) -> str:
    from core.task.uploads import save_documents

    return str(save_documents([(f"handbook-{sections}.md", _handbook(sections))]))


def _finished(queue: JobQueue, job_id: int, log, timeout: float = 600) -> dict:
    wait_for(lambda: queue.job(job_id)["status"] in ("finished", "failed", "cancelled"), timeout=timeout, every=0.2,
             what=f"job {job_id} to end; worker log:\n{log.read_text(errors='replace')[-3000:]}")
    return queue.job(job_id)


def test_the_worker_writes_the_questions_and_saves_them_beside_the_documents(served, tiny_llama_folder):
    queue, log = served
    folder = _upload(4)
    settings = QuestionsSpec(source="llm", model=str(tiny_llama_folder), max_per_chunk=1)
    job_id = submit_questions(queue, folder, settings)
    assert submit_questions(queue, folder, settings) == job_id  # asked twice (two clicks, two tabs): one job
    job = _finished(queue, job_id, log)
    assert job["status"] == "finished", (job["error"], log.read_text(errors="replace")[-3000:])
    chunks = upload_chunks(folder)[1]
    progress = job["progress"]
    assert progress["chunks_done"] == progress["chunks_total"] == len(chunks)
    written = written_questions(folder, settings)
    report = written.report
    dropped = sum(report["dropped"].values())  # a dropped pair is written once more (retried)
    assert report["generated"] == 2 * len(chunks) + report["retried"] == report["kept"] + dropped
    assert progress["kept"] == report["kept"] and progress["dropped"] == report["dropped"]
    assert f"{len(chunks)} of {len(chunks)} chunk(s) done" in progress_line(progress)
    assert job["result"]["kept"] == report["kept"] and "finished" in progress["message"]
    assert questions_job(queue, folder, settings)["id"] == job_id  # what a page reloaded finds
    assert written_questions(folder, settings.model_copy(update={"max_per_chunk": 2})) is None  # other settings


def test_cancel_stops_the_writing_and_asking_again_goes_on_from_the_replies_kept(served, tiny_llama_folder):
    import json

    from core.paths import adaptlab_home

    queue, log = served
    folder = _upload(300)  # many chunks: the cancel lands while the model writes
    settings = QuestionsSpec(source="llm", model=str(tiny_llama_folder), max_per_chunk=2)
    job_id = submit_questions(queue, folder, settings)
    wait_for(lambda: (queue.job(job_id)["progress"] or {}).get("chunks_done"), timeout=600, every=0.1,
             what=f"the first chunks written; worker log:\n{log.read_text(errors='replace')[-3000:]}")
    assert queue.cancel(job_id) == "running"  # a user presses Cancel on the Data page
    job = _finished(queue, job_id, log)
    assert job["status"] == "cancelled" and "kept" in job["progress"]["message"], job
    assert 0 < job["progress"]["chunks_done"] < job["progress"]["chunks_total"], job["progress"]
    assert written_questions(folder, settings) is None
    # the replies written before the cancel are kept: made readable here (a random model writes none), so the
    # questions written after Generate is pressed again show whether they were read back or written anew
    cached = sorted((adaptlab_home() / "questions").glob("*.json"))
    assert cached
    for path in cached:
        count = len(json.loads(path.read_text()))
        path.write_text(json.dumps(["Question: What happened to each rule? Answer: written"] * count))
    again = submit_questions(queue, folder, settings)
    assert again != job_id
    assert _finished(queue, again, log)["status"] == "finished"
    written = written_questions(folder, settings)
    assert written.report["chunks"] == job["progress"]["chunks_total"]
    assert written.frame.question.iloc[0] == "What happened to each rule?", written.frame.head()


def test_a_model_that_cannot_write_questions_fails_the_job_in_one_sentence(served):
    queue, log = served
    job_id = submit_questions(queue, _upload(2), QuestionsSpec(source="llm", model="default"))
    job = _finished(queue, job_id, log)
    assert job["status"] == "failed" and "cannot write questions" in job["error"], job
    assert "Traceback" not in job["error"]
    assert queue.alive_workers().shape[0] == 1  # the worker goes on serving
