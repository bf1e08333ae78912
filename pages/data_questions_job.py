"""Questions written by an LLM on the Data page: asked of the worker as a job, followed, cancelled, read back.

Part of the documents flow (pages/data_documents.py); the work is core/running/question_jobs.py. The page never loads
the model: Generate queues a job, this part shows its progress (chunks done, kept and dropped so far) with a Cancel
button, redrawn every few seconds, and once the worker has saved the questions beside the documents the page reads
them. The job and its questions live in the store and the uploads folder, not in the session: a reload, another tab,
or the same documents uploaded again find them.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.errors import AdaptlabError
from core.results.text import markdown_text
from core.running.question_jobs import progress_line, questions_job, submit_questions, written_questions
from core.task.document_settings import QuestionsSpec
from dashboard import state, ui

KEY = "data.docs.job"
REFRESH_SECONDS = 2


def settings(model: str, max_per_chunk: int) -> QuestionsSpec:
    return QuestionsSpec(source="llm", model=model, max_per_chunk=max_per_chunk)


def ask(folder: str, model: str, max_per_chunk: int) -> None:
    """Queue the job (or find the one already asked for) and make sure a worker will take it."""
    try:
        submit_questions(state.queue(), folder, settings(model, max_per_chunk))
    except AdaptlabError as problem:
        ui.error(problem)
        return
    state.keep_worker_alive()


def asked(folder: str, model: str, max_per_chunk: int) -> bool:
    """Whether these questions were asked for already (written, or a job queued, running or stopped)."""
    spec = settings(model, max_per_chunk)
    return written_questions(folder, spec) is not None or questions_job(state.queue(), folder, spec) is not None


def written(folder: str, model: str, max_per_chunk: int) -> tuple[pd.DataFrame, dict] | None:
    """The questions once the worker has written them; until then None, with the job's progress on the page."""
    spec = settings(model, max_per_chunk)
    questions = written_questions(folder, spec)
    if questions is not None:
        return questions.frame, questions.report
    _follow(folder, spec)
    return None


@st.fragment(run_every=REFRESH_SECONDS)
def _follow(folder: str, spec: QuestionsSpec) -> None:
    job = questions_job(state.queue(), folder, spec)
    if job is None:  # asked in another session that was closed before its job was queued: ask here
        st.info("These questions were not asked for yet: press Generate questions.", icon=":material/info:")
        return
    if written_questions(folder, spec) is not None:
        st.rerun(scope="app")  # written meanwhile: the whole page redraws with the review
    status, progress = job["status"], job.get("progress") or {}
    with st.container(border=True, key=f"{KEY}.card"):
        head, action = st.columns([5, 1])
        head.markdown(f"**Writing questions with {markdown_text(spec.model)}** · job {job['id']} · {status}  \n"
                      f":gray[{markdown_text(progress.get('message', ''))}]")
        if status in ("queued", "running"):
            if job.get("cancel_requested"):
                action.caption("cancelling…")
            else:
                action.button("Cancel", key=f"{KEY}.cancel.{job['id']}", icon=":material/stop_circle:",
                              on_click=_cancel, args=(job["id"],))
            total = progress.get("chunks_total")
            st.progress(min(1.0, (progress.get("chunks_done") or 0) / total) if total else 0.0,
                        text=progress_line(progress) if total else "waiting for the worker to load the model…")
            st.caption("It runs in the worker, not in this page: reload, leave or close the page, and the questions "
                       "are here when you come back to the same documents.")
        elif status == "failed":
            st.error(markdown_text(job.get("error") or "the question writing failed"), icon=":material/error:")
        elif status == "cancelled":
            st.info("Cancelled. Press Generate questions to go on: what was written so far is kept.",
                    icon=":material/info:")
        else:  # finished, yet its questions are gone from the uploads folder (removed by hand)
            st.info("Its questions are no longer beside the documents: press Generate questions to write them again.",
                    icon=":material/info:")


def _cancel(job_id: int) -> None:
    state.queue().cancel(job_id)
