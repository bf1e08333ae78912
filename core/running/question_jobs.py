"""Questions written by an LLM from uploaded documents, as a worker job: the dashboard asks, the worker writes.

    settings = QuestionsSpec(source="llm", model="smollm2", max_per_chunk=2)
    job_id = submit_questions(queue, "documents-3f9a…", settings)   # the job already asked for, if there is one
    questions_job(queue, "documents-3f9a…", settings)     # the newest such job: status, progress (progress_line)
    written_questions("documents-3f9a…", settings)        # the QuestionSet once written; None before

Writing questions loads a language model and takes minutes on a CPU. In the dashboard's process it blocked the
server, died with a page reload, could not be cancelled and held a model in the web server; as a job it runs in the
worker (core/running/worker.py), in the same queue and device slots as experiments, so it never runs beside one and
skews its timings. It reports chunks done and questions kept and dropped so far, stops at its next batch on Cancel
(core/cancel.py), and leaves its question table beside the documents in the uploads folder, where any page load (a
reload, another tab) finds it. A cancelled or stopped job loses little: the model's replies are cached per batch
(core/task/llm_questions.py), so asking again goes on from where it stopped.

The worker's side is core/running/question_worker.py (apart, so the dashboard, which imports this module, never
imports the worker's training stack).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from core.errors import AdaptlabError
from core.running.jobs import ACTIVE, JobQueue, jobs, resource_for
from core.task.document_settings import QuestionsSpec
from core.task.questions import QuestionSet

KIND = "questions"  # the job's config says {"job": KIND, ...}: core.running.jobs.job_kind


def job_name(folder: str) -> str:
    """The job's name on the Runs page: with a space and a colon, which no experiment name holds (never a clash)."""
    return f"questions: {Path(folder).name}"


def is_question_job(name: str) -> bool:
    """Whether a job of this name (the Runs page's jobs table holds no config) writes questions."""
    return str(name).startswith("questions: ")


def job_config(folder: str, settings: QuestionsSpec) -> dict:
    return {"job": KIND, "documents": Path(folder).name,
            "questions": settings.model_copy(update={"source": "llm", "seed": None}).model_dump(mode="json")}


def submit_questions(queue: JobQueue, folder: str, settings: QuestionsSpec) -> int:
    """Queue question writing for an uploaded documents folder; while the same is queued or running, that job's id."""
    from core.task.uploads import inside_uploads

    if not inside_uploads(Path(folder).name).is_dir():
        raise AdaptlabError(f"{Path(folder).name}: no such uploaded documents folder; upload the documents again")
    asked = questions_job(queue, folder, settings)
    if asked is not None and asked["status"] in ACTIVE:
        return int(asked["id"])
    return queue.enqueue(job_name(folder), job_config(folder, settings), resource_for("auto"))


def questions_job(queue: JobQueue, folder: str, settings: QuestionsSpec) -> dict | None:
    """The newest job that wrote (or writes) these questions, with its status and progress; None if never asked."""
    config = job_config(folder, settings)
    with queue.store.engine.connect() as db:
        rows = db.execute(select(jobs).where(jobs.c.experiment == job_name(folder)).order_by(jobs.c.id.desc())
                          ).mappings().all()
    return next((dict(row) for row in rows if row["config"] == config), None)


def written_questions(folder: str, settings: QuestionsSpec) -> QuestionSet | None:
    """The question table a finished job saved beside the documents, and its report; None until one has."""
    table, report = saved_paths(folder, settings)
    try:
        frame = pd.read_json(table, lines=True, dtype=False)  # dtype=False: an answer "1994" stays text
        return QuestionSet(frame, json.loads(report.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def progress_line(progress: dict) -> str:
    """A question-writing job's progress in words: chunks done, questions kept and dropped so far."""
    total = progress.get("chunks_total")
    if not total:
        return progress.get("message", "")
    dropped = sum((progress.get("dropped") or {}).values())
    return (f"{progress.get('chunks_done', 0)} of {total} chunk(s) done · {progress.get('kept', 0)} question(s) kept, "
            f"{dropped} dropped so far")


def upload_chunks(folder: str) -> tuple[dict, pd.DataFrame]:
    """What reading an uploaded documents folder found (summary, skipped documents) and its chunk table, cut as a task
    over them would cut it (the default retriever's tokenizer): the same chunks on the Data page and in the worker."""
    from core.config import LlmSettings
    from core.task.chunking import COLUMNS
    from core.task.coverage import load_tokenizer
    from core.task.document_settings import DocumentsSpec
    from core.task.documents import documents_corpus
    from core.task.uploads import inside_uploads

    corpus, record = documents_corpus(DocumentsSpec(path=inside_uploads(Path(folder).name)),
                                      load_tokenizer(LlmSettings().retriever))
    return {k: v for k, v in record.items() if k != "chunk_table"}, corpus[COLUMNS]


def saved_paths(folder: str, settings: QuestionsSpec) -> tuple[Path, Path]:
    """Where the questions for these settings are kept: beside the documents folder, named by the settings (the folder
    is named by the documents' content, so the same documents and settings find the same questions)."""
    from core.task.uploads import inside_uploads

    key = hashlib.sha256(json.dumps(job_config(folder, settings), sort_keys=True).encode()).hexdigest()[:24]
    base = inside_uploads(f"{Path(folder).name}.questions")
    return base / f"llm-{key}.jsonl", base / f"llm-{key}.report.json"


def save_questions(questions: QuestionSet, table: Path, report: Path) -> None:
    from core.task.question_table import write_question_table

    table.parent.mkdir(exist_ok=True)
    partial = report.with_suffix(".part")
    partial.write_text(json.dumps(questions.report, default=str), encoding="utf-8")
    write_question_table(questions.frame, table)
    partial.replace(report)  # the report last: a table without its report is not read (written_questions)
