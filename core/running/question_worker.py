"""The worker's side of a question-writing job (core/running/question_jobs.py): write, report, save.

core/running/worker.py run_job calls write_job_questions for a job whose config says {"job": "questions"}, inside the
job's cancel scope: the model's batches stop at the next one on Cancel (core/cancel.py), and QuestionProgress raises
Cancelled at the next report too.
"""

from __future__ import annotations

import time

from core.running.job_progress import JobProgress
from core.running.jobs import JobQueue
from core.running.question_jobs import save_questions, saved_paths, upload_chunks
from core.task.document_settings import QuestionsSpec


class QuestionProgress(JobProgress):
    """A question-writing job's progress row (chunks done, kept, dropped by reason), and Cancelled on request."""

    CANCELLED = "cancelled; the replies written so far are kept, so generating again goes on from there"
    KEPT = "the replies written so far are kept"

    def __init__(self, queue: JobQueue, job_id: int, cancel):
        super().__init__(queue, job_id, cancel)
        self.state = {"message": "reading the documents and loading the model", "chunks_total": None,
                      "chunks_done": 0, "kept": 0, "dropped": {}, "elapsed_seconds": 0.0, "remaining_seconds": None}

    def chunks_written(self, done: int, total: int, kept: int, dropped: dict) -> None:
        self._update(force=done in (0, total), chunks_done=done, chunks_total=total, kept=kept, dropped=dict(dropped),
                     message=f"writing questions: {done} of {total} chunk(s) done")

    def final(self, message: str) -> dict:
        self._timing()
        return {**self.state, "message": message, "remaining_seconds": 0.0}

    def _timing(self) -> None:
        elapsed = time.monotonic() - self.started
        done, total = self.state["chunks_done"], self.state["chunks_total"]
        fraction = done / total if total else 0.0
        self.state.update(elapsed_seconds=elapsed, grid_fraction=fraction,
                          remaining_seconds=elapsed / fraction * (1 - fraction) if fraction > 0.02 else None)


def write_job_questions(queue: JobQueue, job: dict, progress: QuestionProgress) -> tuple[str, str, None, dict]:
    """The worker's side (core/running/worker.py run_job): write, save beside the documents, report.
    Returns (status, message, error, result)."""
    from core.task.llm_questions import PROMPT, write_questions

    folder, settings = job["config"]["documents"], QuestionsSpec.model_validate(job["config"]["questions"])
    progress.message("reading the documents")
    chunks = upload_chunks(folder)[1]
    progress.message(f"loading {settings.model}")
    questions = write_questions(chunks, settings.model, prompt=settings.prompt or PROMPT,
                                max_per_chunk=settings.max_per_chunk, progress=progress.chunks_written)
    table, report = saved_paths(folder, settings)
    save_questions(questions, table, report)
    counts = {"kept": questions.report["kept"], "generated": questions.report["generated"]}
    message = (f"finished: {counts['kept']} question(s) kept of {counts['generated']} written from "
               f"{len(chunks)} chunk(s)")
    return "finished", message, None, {**counts, "questions": table.name}
