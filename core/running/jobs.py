"""The job queue: the dashboard asks for experiments, a worker process (core/running/worker.py) runs them.

Jobs live in the results database, in tables on the store's own `metadata`, so they outlive page
reloads and closed tabs, and every user and process that opens the store sees the same queue::

    queue = JobQueue(SqlStore())
    job_id = queue.submit(load_config("examples/fortunes-quick.yaml"))
    queue.jobs()             # newest first, with status and progress
    queue.cancel(job_id)     # a queued job is dropped; a running one stops at its next step, unstored (core/cancel.py)

A worker claims a job with one conditional UPDATE, so two workers never run the same job, and a
job on a device only starts when fewer than that device's limit of jobs run there (one by default:
a neighbour would distort the timings the experiment exists to measure).
"""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from sqlalchemy import JSON, Boolean, Column, Float, Integer, String, Table, Text, func, insert, select, update
from sqlalchemy.exc import DatabaseError

from core.config import ExperimentConfig
from core.errors import StoreError
from core.paths import adaptlab_home, now
from core.results.store import SqlStore, metadata

ACTIVE = ("queued", "running")
DONE = ("finished", "failed", "cancelled")
HEARTBEAT_SECONDS = 2.0  # how often a worker says it is alive, busy or not
STALE_SECONDS = 60.0  # silence after which a worker (and its running job) is presumed dead
MAX_ATTEMPTS = 2  # a job whose worker died twice is failed, not retried forever (an out-of-memory kill repeats)
DEFAULT_LIMITS = {"gpu": 1, "cpu": 1}  # jobs running at once per device kind, across all workers
IDLE_EXIT_SECONDS = 1800  # a worker the dashboard started stops after this long without work
SPAWN_GRACE_SECONDS = 45  # a worker just started imports torch before its first heartbeat: don't start a second

jobs = Table(
    "jobs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("experiment", String(120), nullable=False, index=True),
    Column("config", JSON, nullable=False),  # ExperimentConfig.model_dump(mode="json")
    Column("resource", String(8), nullable=False),  # "gpu" or "cpu"
    Column("status", String(16), nullable=False, index=True),  # queued, running, finished, failed, cancelled
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("worker", String(80)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("progress", JSON),  # see core.running.job_progress.JobProgress
    Column("error", Text),  # in words, for the Runs page
    Column("result", JSON),  # executed / skipped / failed run counts
    Column("created_at", String(32), nullable=False),
    Column("started_at", String(32)),
    Column("finished_at", String(32)),
    Column("heartbeat", Float),  # unix time of the last sign of life from the worker running it
)

workers = Table(
    "workers", metadata,
    Column("id", String(80), primary_key=True),
    Column("pid", Integer, nullable=False),
    Column("host", String(120), nullable=False),
    Column("device", String(120)),
    Column("job", Integer),
    Column("started_at", String(32), nullable=False),
    Column("heartbeat", Float, nullable=False),
)


def job_kind(config: dict | None) -> str:
    """'experiment' (the config is an ExperimentConfig's), or what a job of another kind says it is ('questions')."""
    return (config or {}).get("job", "experiment")


def resource_for(device: str) -> str:
    """Which queue lane a job takes: 'gpu' when it will run on an accelerator."""
    if device in ("cuda", "mps"):
        return "gpu"
    if device == "cpu":
        return "cpu"
    import torch  # auto: whatever this machine has, as core.backbone.models.pick_device will choose

    mps = getattr(torch.backends, "mps", None)
    return "gpu" if torch.cuda.is_available() or (mps is not None and mps.is_available()) else "cpu"


class JobQueue:
    """Submit, claim, report on and cancel jobs stored beside the results."""

    def __init__(self, store: SqlStore):
        self.store = store
        # create_all at SqlStore() only covers tables defined before it ran; make sure of ours
        store._retry(lambda: metadata.create_all(store.engine, tables=[jobs, workers]))

    def _write(self, statement):
        def run():
            with self.store.engine.begin() as db:
                return db.execute(statement).rowcount
        return self.store._retry(run)

    # -- the dashboard's side ------------------------------------------------------------------
    def submit(self, config: ExperimentConfig, resource: str | None = None) -> int:
        """Queue an experiment; refused while the same experiment is already queued or running."""
        self.store.check_sound()  # the dashboard holds its store open for hours: a file damaged since takes no job
        clash = self._first(select(jobs.c.id).where((jobs.c.experiment == config.name) & jobs.c.status.in_(ACTIVE)))
        if clash is not None:
            raise StoreError(f"experiment '{config.name}' is already queued or running (job {clash.id}); "
                             "wait for it, cancel it on the Runs page, or choose another name")
        return self.enqueue(config.name, config.model_dump(mode="json"), resource or resource_for(config.model.device))

    def enqueue(self, name: str, config: dict, resource: str) -> int:
        """Insert a queued job as it is (submit checks an experiment first; core/running/question_jobs.py queues
        question writing, its config marked {"job": "questions"})."""
        values = {"experiment": name, "config": config, "resource": resource, "status": "queued",
                  "cancel_requested": False, "attempts": 0, "created_at": now(),
                  "progress": {"message": "waiting for a worker"}}

        def run():
            with self.store.engine.begin() as db:
                return db.execute(insert(jobs).values(**values)).inserted_primary_key[0]
        return int(self.store._retry(run))

    def resubmit(self, job_id: int) -> int:
        """Queue a stopped job's work again: the runs it finished are skipped (the replies a question-writing job
        wrote are read back), so it resumes."""
        job = self.job(job_id)
        if job_kind(job["config"]) != "experiment":
            return self.enqueue(job["experiment"], job["config"], job["resource"])
        return self.submit(ExperimentConfig.model_validate(job["config"]), resource=job["resource"])

    def cancel(self, job_id: int) -> str:
        """Drop a queued job, or ask the worker to stop a running one. Returns the job's status."""
        self.store.check_sound()
        self._write(update(jobs).where((jobs.c.id == job_id) & (jobs.c.status == "queued"))
                    .values(status="cancelled", finished_at=now(), progress={"message": "cancelled before it started"}))
        self._write(update(jobs).where((jobs.c.id == job_id) & (jobs.c.status == "running"))
                    .values(cancel_requested=True))
        return self.job(job_id)["status"]

    def job(self, job_id: int) -> dict:
        row = self._first(select(jobs).where(jobs.c.id == job_id))
        if row is None:
            raise StoreError(f"no job {job_id} in {self.store.url}")
        return dict(row._mapping)

    def jobs(self, limit: int = 100) -> pd.DataFrame:
        """The newest jobs first, one row each (config left out: it is in the experiment)."""
        columns = [c for c in jobs.c if c.name != "config"]
        with self.store.engine.connect() as db:
            rows = db.execute(select(*columns).order_by(jobs.c.id.desc()).limit(limit)).mappings().all()
        return pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in columns])

    def alive_workers(self, stale_seconds: float = STALE_SECONDS) -> pd.DataFrame:
        with self.store.engine.connect() as db:
            rows = db.execute(select(workers).where(workers.c.heartbeat > time.time() - stale_seconds)
                              .order_by(workers.c.started_at)).mappings().all()
        return pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in workers.c])

    # -- the worker's side -------------------------------------------------------------------------
    def claim(self, worker_id: str, limits: dict[str, int] | None = None) -> dict | None:
        """Take the oldest queued job whose device has a free slot; None when there is none."""
        limits = {**DEFAULT_LIMITS, **(limits or {})}
        try:
            with self.store.engine.connect() as db:
                candidates = db.execute(select(jobs.c.id, jobs.c.resource).where(jobs.c.status == "queued")
                                        .order_by(jobs.c.id)).all()
        except DatabaseError:  # "database disk image is malformed": said in words
            self.store.check_sound()
            raise
        if candidates:  # checked only when there is a job to take (a worker polls every second)
            self.store.check_sound()
        for candidate in candidates:
            busy = jobs.alias("busy")
            running_there = (select(func.count()).select_from(busy)
                             .where((busy.c.status == "running") & (busy.c.resource == candidate.resource))
                             .scalar_subquery())
            # One statement: the status check and the slot count are evaluated atomically with the write.
            claimed = self._write(
                update(jobs).where((jobs.c.id == candidate.id) & (jobs.c.status == "queued")
                                   & (running_there < limits.get(candidate.resource, 1)))
                .values(status="running", worker=worker_id, started_at=now(), heartbeat=time.time(),
                        attempts=jobs.c.attempts + 1, progress={"message": "starting"}))
            if claimed == 1:
                return self.job(candidate.id)
        return None

    def report(self, job_id: int, progress: dict) -> bool:
        """Store a job's progress and heartbeat; True when someone asked for it to be cancelled."""
        self._write(update(jobs).where(jobs.c.id == job_id).values(progress=progress, heartbeat=time.time()))
        return self.cancel_requested(job_id)

    def cancel_requested(self, job_id: int) -> bool:
        row = self._first(select(jobs.c.cancel_requested).where(jobs.c.id == job_id))
        return bool(row and row.cancel_requested)

    def finish(self, job_id: int, status: str, error: str | None = None, result: dict | None = None,
               progress: dict | None = None) -> None:
        values = {"status": status, "error": error, "result": result, "finished_at": now(), "heartbeat": time.time()}
        if progress is not None:
            values["progress"] = progress
        self._write(update(jobs).where(jobs.c.id == job_id).values(**values))

    def release(self, job_id: int, reason: str) -> None:
        """Put a running job back in the queue (its worker is stopping); finished runs stay stored."""
        self._write(update(jobs).where((jobs.c.id == job_id) & (jobs.c.status == "running"))
                    .values(status="queued", worker=None, progress={"message": reason}))

    def recover_stale(self, stale_seconds: float = STALE_SECONDS) -> list[int]:
        """Requeue running jobs whose worker went silent (the grid resumes), or fail them after MAX_ATTEMPTS."""
        with self.store.engine.connect() as db:
            stale = db.execute(select(jobs.c.id, jobs.c.attempts, jobs.c.cancel_requested).where(
                (jobs.c.status == "running") & (jobs.c.heartbeat < time.time() - stale_seconds))).all()
        for job in stale:
            if job.cancel_requested:
                self.finish(job.id, "cancelled", progress={"message": "cancelled (its worker had stopped)"})
            elif job.attempts >= MAX_ATTEMPTS:
                self.finish(job.id, "failed", error=(
                    f"the worker running this job stopped {job.attempts} times without finishing (a crash, or the "
                    "machine ran out of memory); finished runs are kept. Try fewer or smaller methods, "
                    "a smaller batch size, or see logs/worker.log in the adaptlab folder"))
            else:
                self._write(update(jobs).where((jobs.c.id == job.id) & (jobs.c.status == "running"))
                            .values(status="queued", worker=None,
                                    progress={"message": "its worker stopped; queued again (finished runs are kept)"}))
        return [job.id for job in stale]

    def register_worker(self, worker_id: str, pid: int, host: str, device: str | None = None) -> None:
        def run():
            with self.store.engine.begin() as db:
                db.execute(workers.delete().where(workers.c.id == worker_id))
                db.execute(insert(workers).values(id=worker_id, pid=pid, host=host, device=device, job=None,
                                                  started_at=now(), heartbeat=time.time()))
        self.store._retry(run)

    def worker_beat(self, worker_id: str, job_id: int | None, device: str | None = None) -> None:
        values = {"heartbeat": time.time(), "job": job_id, **({"device": device} if device else {})}
        self._write(update(workers).where(workers.c.id == worker_id).values(**values))
        if job_id is not None:
            self._write(update(jobs).where((jobs.c.id == job_id) & (jobs.c.status == "running"))
                        .values(heartbeat=time.time()))

    def retire_worker(self, worker_id: str) -> None:
        self._write(workers.delete().where(workers.c.id == worker_id))

    def _first(self, statement):
        with self.store.engine.connect() as db:
            return db.execute(statement).first()


@contextmanager
def _exclusive(path: Path):
    """A lock file, so two dashboard sessions starting at once start one worker, not two."""
    try:
        import fcntl
    except ImportError:  # Windows: two workers at worst, which the queue tolerates (claims are atomic)
        yield
        return
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


ROOT = Path(__file__).resolve().parents[2]  # the repository: `python -m core.cli` runs from here
_started: dict[str, subprocess.Popen] = {}  # store URL -> the worker this process started for it (it imports
                                            # torch for up to a minute on a busy CPU before its first heartbeat)


def ensure_worker(store: SqlStore) -> str:
    """Start a background worker unless one is alive. Returns 'running', 'starting' or 'started'."""
    queue = JobQueue(store)
    if not queue.alive_workers().empty:
        return "running"
    if store.url in _started and _started[store.url].poll() is None:
        return "starting"  # still importing: don't start a second
    home = adaptlab_home()
    (home / "logs").mkdir(parents=True, exist_ok=True)
    marker = home / "worker.started"
    with _exclusive(home / "worker.lock"):
        if not queue.alive_workers().empty:
            return "running"
        if marker.exists() and time.time() - marker.stat().st_mtime < SPAWN_GRACE_SECONDS:
            return "starting"  # another dashboard process started one a moment ago
        _started[store.url] = start_worker(None, home / "logs" / "worker.log", "--idle-exit", str(IDLE_EXIT_SECONDS),
                                           store=store.url)
        marker.write_text(str(time.time()))
    return "started"


def start_worker(env: dict | None, log: Path, *flags: str, store: str | None = None) -> subprocess.Popen:
    """`adaptlab worker FLAGS` in a process of its own, writing to `log` (appended); the one way a worker is started
    (the dashboard's ensure_worker, the benchmarks, the tests).

    env: its environment (None: this process's). store: the results database URL (else ADAPTLAB_STORE or the
    default). In a new session, so a Ctrl-C in the terminal of the process that started it does not stop it
    mid-step: stop it with os.killpg(process.pid, signal.SIGTERM) (its job goes back to the queue), or
    core.running.processes.stop_processes. It stops by itself when the process that started it ends
    (--stop-with-parent), so no worker outlives its dashboard, benchmark or test run."""
    command = [sys.executable, "-m", "core.cli", *(["--store", store] if store else []), "worker",
               "--stop-with-parent", *flags]
    with Path(log).open("ab") as output:  # the child keeps its own handle
        return subprocess.Popen(command, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=output,
                                stderr=subprocess.STDOUT, start_new_session=True)


def worker_status(store: SqlStore) -> dict:
    """What the dashboard says about workers: how many are alive, on which device, doing what."""
    alive = JobQueue(store).alive_workers()
    return {"alive": len(alive), "devices": sorted(set(alive.device.dropna())), "busy": int(alive.job.notna().sum()),
            "stale_seconds": STALE_SECONDS}
