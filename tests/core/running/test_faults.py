"""Faults, each caused for real: a worker killed mid-grid, a locked database, memory running out,
a grid budget spent, and the same seed run twice. Nothing finished may be lost."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from core.config import parse_config
from core.results.store import SqlStore
from core.running import run
from core.running.jobs import JobQueue, start_worker
from core.running.runner import run_experiment
from tests.conftest import tiny_config

ROOT = Path(__file__).resolve().parents[3]


def _worker(store: SqlStore, log: Path, *flags: str) -> subprocess.Popen:
    """`adaptlab worker` in its own process, as the dashboard starts it (one thread: the kill test races it)."""
    return start_worker({**os.environ, "OMP_NUM_THREADS": "1", "ADAPTLAB_STORE": store.url}, log, *flags)


def _wait(condition, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{tail}")


@pytest.mark.slow
def test_a_worker_killed_mid_grid_loses_nothing_and_the_grid_completes(tmp_path):
    store = SqlStore(tmp_path / "results.db")
    queue = JobQueue(store)
    # scratch trains a fresh model per run (seconds each), so the kill lands mid-grid
    config = parse_config(tiny_config(methods=["tfidf", "scratch"], sizes=[4, 8], seeds=[0, 1, 2]))
    job_id = queue.submit(config, resource="cpu")
    log = tmp_path / "worker.log"

    first = _worker(store, log, "--max-jobs", "1")
    finished = lambda: store.finished_keys("tiny")  # noqa: E731
    _wait(lambda: len(finished()) >= 2 or first.poll() is not None, 300, "the first runs", log)
    first.send_signal(signal.SIGKILL)  # no handler runs: the job stays 'running' with a stopped heartbeat
    first.wait(timeout=30)
    before = store.runs_frame("tiny").set_index("run_key")
    assert 2 <= len(before) < 12, "the kill must land mid-grid"
    assert queue.job(job_id)["status"] == "running"

    second = _worker(store, log, "--max-jobs", "1", "--stale-after", "3")
    assert second.wait(timeout=420) == 0, log.read_text()[-3000:]

    job = queue.job(job_id)
    assert job["status"] == "finished" and job["attempts"] == 2, job
    after = store.runs_frame("tiny").set_index("run_key")
    assert len(after) == 12 and set(after.status) == {"finished"}  # the interrupted run was retried
    kept = after.loc[before.index]
    assert (kept.started_at == before.started_at).all() and (kept.finished_at == before.finished_at).all()
    assert store.integrity_check() == "ok"


# Another program (a SQLite client, a backup) takes the write lock again and again until told to stop.
LOCK_HOLDER = """
import sqlite3, sys, time
from pathlib import Path
locker = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
while not Path(sys.argv[2]).exists():
    locker.execute("BEGIN EXCLUSIVE")
    print("held", flush=True)
    time.sleep(0.3)
    locker.execute("COMMIT")
    time.sleep(0.05)
"""


def test_a_locked_database_makes_writers_wait_and_nothing_is_dropped(tmp_path):
    path = tmp_path / "results.db"
    SqlStore(path)  # create the tables
    writers, per_writer = 4, 15
    stop = tmp_path / "stop"
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(path), str(stop)], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline() == "held\n"  # the lock is taken before any writer starts

    def write(worker: int):
        store = SqlStore(path)  # each writer its own engine
        for i in range(per_writer):
            store.write_run("exp", {"run_key": f"w{worker}|{i}|0", "status": "finished", "accuracy": 0.5}, [0, 1])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    stop.touch()
    holds = 1 + holder.communicate(timeout=30)[0].count("held")
    assert holds >= 3  # the writers really met the lock, again and again
    store = SqlStore(path)
    assert len(store.runs_frame("exp")) == writers * per_writer
    assert store.integrity_check() == "ok"


def test_lock_errors_are_retried_with_backoff_and_other_errors_are_not(tmp_path, monkeypatch):
    from core.results import store as store_module

    monkeypatch.setattr(store_module.time, "sleep", lambda seconds: None)
    store = SqlStore(tmp_path / "r.db")
    attempts = []

    def locked_three_times():
        attempts.append(1)
        if len(attempts) <= 3:
            raise OperationalError("INSERT ...", {}, sqlite3.OperationalError("database is locked"))
        return "written"

    assert store._retry(locked_three_times) == "written" and len(attempts) == 4

    def broken():
        raise OperationalError("SELECT ...", {}, sqlite3.OperationalError("no such table: x"))

    with pytest.raises(OperationalError, match="no such table"):
        store._retry(broken)


# A child process whose address space is capped (RLIMIT_AS) while each training step runs: every allocation
# the step needs beyond HEADROOM fails for real, as on a machine out of memory. Loading the model and the
# other runs go uncapped, so only the training steps run out of memory.
NEVER_FITS = """
import json, resource, sys
from core.training import loop as training
from core.config import parse_config
from core.running.runner import run_experiment
from core.results.store import SqlStore

HEADROOM = 4 * 2**20

def address_space() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize"))

real_step = training.MicroBatchStepper.step

def step_in_too_little_memory(self, batch_idx):
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (address_space() + HEADROOM, hard))
    try:
        return real_step(self, batch_idx)
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))

training.MicroBatchStepper.step = step_in_too_little_memory
result = run_experiment(parse_config(json.loads(sys.argv[2])), SqlStore(sys.argv[1]))
print(json.dumps({"failed": result.failed, "executed": result.executed}))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="caps the address space of a child process (RLIMIT_AS, /proc)")
def test_a_run_that_never_fits_in_memory_fails_cleanly_and_the_grid_goes_on(tmp_path):
    store = tmp_path / "r.db"
    config = tiny_config(methods=["full", "tfidf"], sizes=[4], model={"max_length": 48, "device": "cpu"})
    child = subprocess.run([sys.executable, "-c", NEVER_FITS, str(store), json.dumps(config)], cwd=ROOT,
                           env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stdout[-2000:] + child.stderr[-3000:]
    assert json.loads(child.stdout.strip().splitlines()[-1]) == {"failed": 1, "executed": 2}
    runs = SqlStore(store).runs_frame("tiny").set_index("run_key")
    assert runs.loc["tfidf|4|0", "status"] == "finished"
    error = runs.loc["full|4|0", "error"]
    assert runs.loc["full|4|0", "status"] == "failed" and "max_length" in error and "Traceback" not in error


class SecondPerRun(run.Progress):
    """A front end that takes a second after each run: real time passes, so the budget count does not
    depend on how fast this machine trains."""

    def __init__(self):
        self.messages = []

    def message(self, text: str) -> None:
        self.messages.append(text)

    def run_finished(self, spec, record: dict) -> None:
        time.sleep(1.0)


def test_a_grid_budget_stops_at_a_run_boundary_keeps_what_finished_and_says_what_was_skipped(tmp_path):
    store = SqlStore(tmp_path / "r.db")
    # $0.10 per CPU hour: the budget buys 2.5 s of the real clock; runs start at 0 s and about 1 and 2 s
    tight = tiny_config(methods=["tfidf"], sizes=[4, 8], seeds=[0, 1, 2],
                        grid_budget={"max_dollars": 0.10 * 2.5 / 3600})
    plan = ["tfidf|4|0", "tfidf|4|1", "tfidf|4|2", "tfidf|8|0", "tfidf|8|1", "tfidf|8|2"]
    progress = SecondPerRun()
    result = run_experiment(parse_config(tight), store, progress)
    assert 1 <= result.executed <= 3 and result.over_budget == plan[result.executed:]
    assert sorted(store.finished_keys("tiny")) == plan[:result.executed]  # stopped at a run boundary
    assert any("grid budget reached" in m and f"{len(result.over_budget)} run(s) not started" in m
               and "tfidf|8|2" in m for m in progress.messages)

    roomier = {**tight, "grid_budget": {"max_seconds": 3600}}  # the same experiment, a larger budget: it resumes
    again = run_experiment(parse_config(roomier), store)
    assert (again.executed, again.skipped, again.over_budget) == (len(result.over_budget), result.executed, [])


def test_the_same_seed_on_the_cpu_gives_the_same_metrics_twice(tmp_path):
    config = tiny_config(methods=["probe", "lora", "tfidf"], sizes=[4], model={"max_length": 48, "device": "cpu"})
    frames = []
    for attempt in range(2):
        store = SqlStore(tmp_path / f"r{attempt}.db")
        run_experiment(parse_config(config), store)
        frames.append(store.runs_frame("tiny", with_predictions=True).set_index("run_key"))
    first, second = frames
    for column in ("accuracy", "accuracy_low", "accuracy_high", "macro_f1"):
        assert first[column].tolist() == second[column].tolist(), column
    assert first.predictions.tolist() == second.predictions.tolist()
    record = first.loc["lora|4|0", "record"]
    assert record["seed"] == 0 and record["environment"]["versions"]["torch"] and record["device"].startswith("CPU")


def test_a_nearly_full_disk_is_refused_in_words_before_the_grid_and_keeps_what_is_stored(tmp_path, small_disk):
    from core.errors import StoreError

    disk = small_disk(256 * 2**20)
    store = SqlStore(disk / "r.db")
    run_experiment(parse_config(tiny_config(methods=["tfidf"], sizes=[4])), store)
    before = store.runs_frame("tiny")
    with open(disk / "filler", "wb") as filler:  # something else fills the disk: 50 MB or less stay free
        os.posix_fallocate(filler.fileno(), 0, 206 * 2**20)
    grown = tiny_config(methods=["tfidf"], sizes=[4, 8])
    with pytest.raises(StoreError, match=r"only \d+ MB free .*results database.*--store or ADAPTLAB_HOME"):
        run_experiment(parse_config(grown), store)
    after = store.runs_frame("tiny")
    assert after.run_key.tolist() == before.run_key.tolist() and store.integrity_check() == "ok"


def test_a_disk_that_fills_up_mid_write_is_an_error_in_words_not_a_retry_loop(tmp_path, small_disk):
    from sqlalchemy import event

    from core.errors import StoreError

    disk = small_disk(2 * 2**20)
    store = SqlStore(disk / "r.db")
    inserts = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: inserts.append(1) if statement.startswith("INSERT") else None)
    big = list(range(40_000))  # about 300 kB of predictions a run: the 2 MB disk fills within a few runs
    stored = 0
    with pytest.raises(StoreError, match="disk is full.*Runs already stored are kept") as caught:
        for i in range(100):
            inserts.clear()
            store.write_run("exp", {"run_key": f"tfidf|{i}|0", "status": "finished"}, big)
            stored += 1
    assert 1 <= stored < 100 and len(inserts) == 1  # the failing write was tried once, not retried
    assert "Traceback" not in str(caught.value)
    subprocess.run(["mount", "-o", "remount,size=16m", str(disk)], check=True)  # space is freed
    assert len(store.runs_frame("exp")) == stored and store.integrity_check() == "ok"  # what was stored is whole
    store.write_run("exp", {"run_key": f"tfidf|{stored}|0", "status": "finished"}, big)  # and writing goes on
    assert len(store.runs_frame("exp")) == stored + 1
