"""Faults, each caused for real: a worker killed mid-grid, a locked database, memory running out,
a grid budget spent, and the same seed run twice. Nothing finished may be lost."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy.exc import OperationalError

from bench.serving import start_worker
from core import runner
from core.config import parse_config
from core.jobs import JobQueue
from core.runner import run_experiment
from core.store import SqlStore
from tests.conftest import tiny_config


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


def test_a_locked_database_makes_writers_wait_and_nothing_is_dropped(tmp_path):
    path = tmp_path / "results.db"
    SqlStore(path)  # create the tables
    writers, per_writer = 4, 15
    stop, holds = threading.Event(), []

    def hold_the_lock_now_and_then():  # another program (a SQLite client, a backup) takes the write lock
        locker = sqlite3.connect(path, timeout=30, isolation_level=None)
        while not stop.is_set():
            holds.append(1)
            locker.execute("BEGIN EXCLUSIVE")
            time.sleep(0.3)
            locker.execute("COMMIT")
            time.sleep(0.05)

    def write(worker: int):
        store = SqlStore(path)  # each writer its own engine, as separate processes would have
        for i in range(per_writer):
            store.write_run("exp", {"run_key": f"w{worker}|{i}|0", "status": "finished", "accuracy": 0.5}, [0, 1])

    holder = threading.Thread(target=hold_the_lock_now_and_then)
    holder.start()
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    stop.set()
    holder.join()
    assert len(holds) >= 3  # the writers really met the lock
    store = SqlStore(path)
    assert len(store.runs_frame("exp")) == writers * per_writer
    assert store.integrity_check() == "ok"


def test_lock_errors_are_retried_with_backoff_and_other_errors_are_not(tmp_path, monkeypatch):
    from core import store as store_module

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


def test_a_run_that_never_fits_in_memory_fails_cleanly_and_the_grid_goes_on(tmp_path, monkeypatch):
    import torch

    from core.training import MicroBatchStepper

    def always_oom(self, batch_idx):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(MicroBatchStepper, "_accumulate", always_oom)
    store = SqlStore(tmp_path / "r.db")
    result = run_experiment(parse_config(tiny_config(methods=["full", "tfidf"], sizes=[4])), store)
    runs = store.runs_frame("tiny").set_index("run_key")
    assert result.failed == 1 and runs.loc["tfidf|4|0", "status"] == "finished"
    error = runs.loc["full|4|0", "error"]
    assert runs.loc["full|4|0", "status"] == "failed" and "max_length" in error and "Traceback" not in error


def test_a_grid_budget_stops_at_a_run_boundary_keeps_what_finished_and_says_what_was_skipped(tmp_path, monkeypatch):
    clock = SimpleNamespace(now=0.0)
    monkeypatch.setattr(runner, "time", SimpleNamespace(monotonic=lambda: clock.now))
    real_execute = runner.execute_run

    def ten_seconds_a_run(*args, **kwargs):
        clock.now += 10
        return real_execute(*args, **kwargs)

    monkeypatch.setattr(runner, "execute_run", ten_seconds_a_run)
    messages = []
    progress = runner.Progress()
    progress.message = messages.append
    store = SqlStore(tmp_path / "r.db")
    # $0.10 per CPU hour: $0.000694 buys 25 seconds, so runs start at 0, 10 and 20 s; the 4th would start at 30
    tight = tiny_config(methods=["tfidf"], sizes=[4, 8], seeds=[0, 1, 2], grid_budget={"max_dollars": 0.10 * 25 / 3600})
    result = run_experiment(parse_config(tight), store, progress)
    assert result.executed == 3 and result.over_budget == ["tfidf|8|0", "tfidf|8|1", "tfidf|8|2"]
    assert sorted(store.finished_keys("tiny")) == ["tfidf|4|0", "tfidf|4|1", "tfidf|4|2"]
    assert any("grid budget reached" in m and "3 run(s) not started" in m and "tfidf|8|2" in m for m in messages)

    clock.now = 0.0
    roomier = {**tight, "grid_budget": {"max_seconds": 3600}}  # the same experiment, a larger budget: it resumes
    again = run_experiment(parse_config(roomier), store)
    assert (again.executed, again.skipped, again.over_budget) == (3, 3, [])


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


def test_a_nearly_full_disk_is_refused_in_words_before_the_grid_and_keeps_what_is_stored(tmp_path, monkeypatch):
    import shutil

    from core import store as store_module
    from core.errors import StoreError

    store = SqlStore(tmp_path / "r.db")
    run_experiment(parse_config(tiny_config(methods=["tfidf"], sizes=[4])), store)
    before = store.runs_frame("tiny")
    real = shutil.disk_usage
    monkeypatch.setattr(store_module.shutil, "disk_usage",
                        lambda path: real(path)._replace(free=50 * 2**20))  # 50 MB left on every disk
    grown = tiny_config(methods=["tfidf"], sizes=[4, 8])
    with pytest.raises(StoreError, match=r"only 50 MB free .*results database.*--store or ADAPTLAB_HOME"):
        run_experiment(parse_config(grown), store)
    after = store.runs_frame("tiny")
    assert after.run_key.tolist() == before.run_key.tolist() and store.integrity_check() == "ok"


def test_a_disk_that_fills_up_mid_write_is_an_error_in_words_not_a_retry_loop(tmp_path):
    from core.errors import StoreError

    store = SqlStore(tmp_path / "r.db")
    attempts = []

    def full():
        attempts.append(1)
        raise OperationalError("INSERT ...", {}, sqlite3.OperationalError("database or disk is full"))

    with pytest.raises(StoreError, match="disk is full.*Runs already stored are kept"):
        store._retry(full)
    assert len(attempts) == 1
