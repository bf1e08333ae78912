"""The worker: a process that runs queued jobs (experiments, and questions an LLM writes from uploaded documents:
core/running/question_jobs.py) and writes their progress for the dashboard.

    adaptlab worker                   # serve the queue until stopped; on Ctrl-C the running job goes back
                                      # to the queue (its finished runs are kept)
    adaptlab worker --idle-exit 1800  # stop after 30 idle minutes (how the dashboard starts one)
    adaptlab worker --stop-with-parent  # stop when the process that started it ends (core.running.jobs.start_worker
                                      # passes it: a dashboard, a benchmark or a test leaves no worker behind)

Cancel means stop: the heartbeat thread asks every second whether the running job was cancelled, and sets the
flag the run's loops check at each step and batch (core/cancel.py); the run stops there, unstored.

The dashboard never trains in its own process: it queues jobs and calls core.running.jobs.ensure_worker(),
which starts one of these in the background when none is alive (core.running.jobs.start_worker: the one way a
worker process is started, by the dashboard, the benchmarks and the tests).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
import traceback
import uuid

from core.cancel import cancellable
from core.errors import AdaptlabError, Cancelled
from core.paths import adaptlab_home
from core.results.store import SqlStore
from core.running.job_progress import JobProgress
from core.running.jobs import HEARTBEAT_SECONDS, STALE_SECONDS, JobQueue, job_kind

CANCEL_POLL_SECONDS = 1.0  # how often the worker asks whether its job was cancelled: a cancel stops it about this fast


class Worker:
    """This process's registration, and a heartbeat thread that also notices cancel requests and, with `parent`,
    the end of the process that started it."""

    def __init__(self, queue: JobQueue, parent: int | None = None):
        self.queue = queue
        self.parent = parent  # a pid: when this process is no longer our parent, it has ended, so we stop too
        self.id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.job: int | None = None
        self.cancel = threading.Event()
        self._stop = threading.Event()
        queue.register_worker(self.id, os.getpid(), socket.gethostname())
        self._thread = threading.Thread(target=self._beat, name="adaptlab-heartbeat", daemon=True)
        self._thread.start()

    def describe_device(self) -> None:
        from core.running.estimate import describe_device

        self.queue.worker_beat(self.id, self.job, device=describe_device()["label"])

    def _beat(self) -> None:
        last_beat = time.monotonic()
        while not self._stop.wait(min(CANCEL_POLL_SECONDS, HEARTBEAT_SECONDS)):
            if self.parent is not None and os.getppid() != self.parent:  # orphaned: whoever started us has ended
                print("the process that started this worker has ended; stopping", file=sys.stderr, flush=True)
                os.kill(os.getpid(), signal.SIGTERM)  # stops as `kill` would: the job goes back to the queue
                return
            try:
                if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                    self.queue.worker_beat(self.id, self.job)
                    last_beat = time.monotonic()
                job = self.job
                if job is not None and self.queue.cancel_requested(job) and self.job == job:
                    self.cancel.set()  # the run's next step boundary raises Cancelled (core/cancel.py)
            except Exception as error:  # a locked database now and then must not kill the heartbeat
                print(f"heartbeat: {error}", file=sys.stderr)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.queue.retire_worker(self.id)


def run_job(queue: JobQueue, job: dict, worker: Worker) -> str:
    """Run one claimed job to its end (an experiment's grid, or question writing: core/running/question_jobs.py);
    returns its final status. Errors are stored as words."""
    worker.cancel.clear()
    worker.job = job["id"]
    if job_kind(job["config"]) == "questions":
        from core.running.question_worker import QuestionProgress, write_job_questions

        work, progress = write_job_questions, QuestionProgress(queue, job["id"], worker.cancel)
    else:
        work = _experiment
        progress = JobProgress(queue, job["id"], worker.cancel, (job.get("config") or {}).get("size_unit", "per_class"))
    error, result = None, None
    try:
        with cancellable(worker.cancel):  # the work's loops stop at their next step once it is set
            status, message, error, result = work(queue, job, progress)
    except Cancelled:
        status, message = "cancelled", progress.CANCELLED
    except AdaptlabError as problem:
        status, message, error = "failed", "stopped before it could run", str(problem)
    except KeyboardInterrupt:
        queue.release(job["id"], f"its worker was stopped; queued again ({progress.KEPT})")
        raise
    except Exception as problem:  # an engine bug: keep the traceback for the log, words for the page
        traceback.print_exc()
        status, message = "failed", "stopped by an unexpected error"
        error = (f"unexpected error: {type(problem).__name__}: {problem}. The worker log "
                 f"({adaptlab_home() / 'logs' / 'worker.log'}) has the details")
    finally:
        worker.job = None
    queue.finish(job["id"], status, error=error, result=result, progress=progress.final(message))
    return status


def _experiment(queue: JobQueue, job: dict, progress: JobProgress) -> tuple[str, str, str | None, dict]:
    """An experiment job's grid: (status, message, error, result)."""
    from core.config import parse_config
    from core.running.runner import run_experiment

    config = parse_config(job["config"], source=f"job {job['id']}")
    outcome = run_experiment(config, queue.store, progress)
    result = {"executed": outcome.executed, "skipped": outcome.skipped, "failed": outcome.failed}
    message, error = f"finished: {outcome.executed} run(s) done, {outcome.skipped} already stored", None
    if outcome.over_budget:
        result["over_budget"] = len(outcome.over_budget)
        message = (f"stopped by the grid budget: {outcome.executed} run(s) done, {len(outcome.over_budget)} "
                   "not started; run it again with a larger budget to resume")
    if outcome.failed:
        error = f"{outcome.failed} run(s) failed; each one's error is listed with the runs"
    return "finished", message, error, result


def serve(store: SqlStore, limits: dict[str, int] | None = None, idle_exit: float | None = None,
          poll_seconds: float = 1.0, max_jobs: int | None = None, stale_seconds: float = STALE_SECONDS,
          parent: int | None = None) -> int:
    """Claim and run jobs until stopped, idle for idle_exit seconds, or max_jobs are done; returns jobs run.

    Before each claim, running jobs whose worker has been silent for stale_seconds (killed, crashed,
    out of memory) are queued again, so their grid resumes here without its finished runs. parent: stop (by
    SIGTERM to this process, see main_loop) once the process of this pid is no longer this one's parent.
    """
    queue = JobQueue(store)
    worker = Worker(queue, parent)
    done, idle_since = 0, time.monotonic()
    try:
        worker.describe_device()
        while max_jobs is None or done < max_jobs:
            queue.recover_stale(stale_seconds)
            job = queue.claim(worker.id, limits)
            if job is None:
                if idle_exit is not None and time.monotonic() - idle_since > idle_exit:
                    break
                time.sleep(poll_seconds)
                continue
            print(f"job {job['id']}: {job['experiment']}", flush=True)
            print(f"job {job['id']}: {run_job(queue, job, worker)}", flush=True)
            done, idle_since = done + 1, time.monotonic()
    finally:
        worker.stop()
    return done


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main_loop(store: SqlStore, limits: dict[str, int] | None = None, idle_exit: float | None = None,
              max_jobs: int | None = None, stale_seconds: float = STALE_SECONDS, stop_with_parent: bool = False) -> int:
    """`adaptlab worker`: serve until stopped. SIGTERM stops like Ctrl-C: the running job is queued again.

    stop_with_parent: also stop when the process that started this one ends (however it ended, SIGKILL included)."""
    signal.signal(signal.SIGTERM, _interrupt)
    parent = os.getppid() if stop_with_parent else None
    try:
        serve(store, limits, idle_exit, max_jobs=max_jobs, stale_seconds=stale_seconds, parent=parent)
    except KeyboardInterrupt:
        print("worker stopped; a job it was running is queued again", flush=True)
        return 130
    return 0
