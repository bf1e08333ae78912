"""The worker: runs queued jobs with live progress, stops on cancel, keeps a heartbeat, stores errors in words."""

import os
import signal

from core.config import parse_config
from core.results.store import SqlStore
from core.running import jobs as jobs_module
from core.running import worker as worker_module
from core.running.jobs import JobQueue, ensure_worker, start_worker
from core.running.processes import stop_processes
from core.running.worker import JobProgress, Worker, serve
from tests.conftest import tiny_config, wait_for


def _submit(store, **overrides):
    return JobQueue(store).submit(parse_config(tiny_config(**overrides)), resource="cpu")


def test_a_queued_job_runs_to_the_end_with_its_progress_stored(tmp_path):
    store = SqlStore(tmp_path / "r.db")
    job_id = _submit(store, methods=["prompt", "tfidf"], sizes=[4, 8])
    assert serve(store, max_jobs=1, poll_seconds=0.05) == 1
    job = JobQueue(store).job(job_id)
    assert job["status"] == "finished" and job["error"] is None
    assert job["result"] == {"executed": 3, "skipped": 0, "failed": 0}
    progress = job["progress"]
    assert progress["runs_done"] == progress["runs_total"] == 3 and progress["grid_fraction"] == 1.0
    assert progress["elapsed_seconds"] > 0 and progress["remaining_seconds"] == 0
    assert set(store.runs_frame("tiny").status) == {"finished"}
    assert JobQueue(store).alive_workers().empty  # the worker retired when it stopped


def test_cancel_stops_the_grid_and_keeps_the_runs_already_finished(tmp_path):
    store = SqlStore(tmp_path / "r.db")
    queue = JobQueue(store)
    # 30 short runs: the cancel lands while the grid is under way
    job_id = _submit(store, methods=["tfidf"], sizes=[4, 8, 16], seeds=list(range(10)))
    log = tmp_path / "worker.log"
    worker = start_worker({**os.environ, "OMP_NUM_THREADS": "1", "ADAPTLAB_STORE": store.url}, log, "--max-jobs", "1")
    try:
        wait_for(lambda: store.finished_keys("tiny") or worker.poll() is not None, timeout=300, every=0.1)
        assert store.finished_keys("tiny"), log.read_text()[-3000:]
        assert queue.cancel(job_id) == "running"  # a user presses Cancel on the Runs page
        assert worker.wait(timeout=120) == 0, log.read_text()[-3000:]
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    job = queue.job(job_id)
    assert job["status"] == "cancelled" and "kept" in job["progress"]["message"], job
    runs = store.runs_frame("tiny")
    assert 1 <= len(runs) < 30 and set(runs.status) == {"finished"}  # what finished before the cancel is kept
    assert store.integrity_check() == "ok"


def test_bad_data_fails_the_job_with_a_sentence_not_a_traceback(tmp_path):
    store = SqlStore(tmp_path / "r.db")
    job_id = _submit(store, sizes=[500])
    serve(store, max_jobs=1, poll_seconds=0.05)
    job = JobQueue(store).job(job_id)
    assert job["status"] == "failed"
    assert "per class" in job["error"] and "Traceback" not in job["error"]


def test_the_heartbeat_keeps_the_worker_and_its_job_alive_and_hears_cancel(tmp_path, monkeypatch):
    monkeypatch.setattr(worker_module, "HEARTBEAT_SECONDS", 0.05)
    store = SqlStore(tmp_path / "r.db")
    queue = JobQueue(store)
    job_id = _submit(store)
    worker = Worker(queue)
    try:
        job = queue.claim(worker.id)
        worker.job = job["id"]
        before = queue.job(job_id)["heartbeat"]
        first_beat = queue.alive_workers().heartbeat.iloc[0]
        # no progress report, yet the job and the worker keep beating
        wait_for(lambda: queue.job(job_id)["heartbeat"] > before, timeout=30, what="the job's heartbeat")
        wait_for(lambda: queue.alive_workers().heartbeat.iloc[0] > first_beat, timeout=30, what="the worker's")
        assert queue.alive_workers().job.iloc[0] == job_id
        queue.cancel(job_id)
        # a long step between reports still learns of the cancel
        wait_for(worker.cancel.is_set, timeout=30, what="the worker hearing the cancel")
    finally:
        worker.stop()
    assert queue.alive_workers().empty


def test_ensure_worker_starts_one_background_worker(tmp_path):
    store = SqlStore(tmp_path / "r.db")
    queue = JobQueue(store)
    assert ensure_worker(store) == "started"
    try:  # stopped whatever happens: a worker left running would go on for half an hour after the tests
        assert ensure_worker(store) == "starting"  # a second page load while it imports does not start another
        wait_for(lambda: not queue.alive_workers().empty, timeout=300, every=0.5, what="the worker's first heartbeat")
        alive = queue.alive_workers()
        assert len(alive) == 1
        assert ensure_worker(store) == "running"
    finally:
        stop_processes([jobs_module._started.pop(store.url)])  # SIGTERM, as `kill` stops it
    wait_for(lambda: queue.alive_workers().empty, timeout=30, what="SIGTERM retiring the worker cleanly")


def test_progress_of_packed_runs_follows_the_newest_and_counts_the_others():
    import threading

    from core.running.grid import RunSpec

    class Reports:
        def __init__(self):
            self.last = None

        def report(self, job_id, state):
            self.last = state
            return False  # no cancel requested

    reports = Reports()
    progress = JobProgress(reports, 1, threading.Event())
    progress.grid_started("g", 3, 3)
    first, second = RunSpec("lora", "8", 0), RunSpec("full", "8", 0)
    progress.run_started(first)
    progress.run_started(second)
    progress.run_progress(first, 0.5, {"loss": 9.0})  # an older packed run: not what the page follows
    assert reports.last["current_run"] == "full|8|0" and reports.last["in_flight"] == ["lora|8|0", "full|8|0"]
    assert reports.last["loss"] is None
    progress.run_finished(second, {"status": "finished"})
    assert reports.last["current_run"] == "lora|8|0" and reports.last["in_flight"] == ["lora|8|0"]
    assert reports.last["runs_done"] == 1
    progress.run_finished(first, {"status": "failed"})
    assert reports.last["current_run"] is None and reports.last["runs_failed"] == 1


def test_a_worker_stops_by_itself_when_the_process_that_started_it_is_killed(tmp_path):
    """A dashboard, benchmark or test run killed outright (SIGKILL: nothing of it runs) leaves no worker behind."""
    import subprocess
    import sys
    from pathlib import Path

    import psutil

    store = SqlStore(tmp_path / "r.db")
    queue = JobQueue(store)
    log = tmp_path / "worker.log"
    script = ("import time\nfrom pathlib import Path\nfrom core.running.jobs import start_worker\n"
              f"start_worker(None, Path({str(log)!r}), store={store.url!r})\ntime.sleep(3600)\n")
    starter = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[3])
    worker = None
    try:
        wait_for(lambda: not queue.alive_workers().empty or starter.poll() is not None, timeout=300, every=0.5,
                 what="the worker's first heartbeat")
        worker = psutil.Process(int(queue.alive_workers().pid.iloc[0]))
        starter.kill()
        starter.wait()
        wait_for(lambda: queue.alive_workers().empty, timeout=60, every=0.2, what="the worker retiring by itself")
        assert psutil.wait_procs([worker], timeout=60)[1] == [], log.read_text()[-2000:]
    finally:
        if starter.poll() is None:
            starter.kill()
        if worker is not None and worker.is_running():
            worker.kill()


def test_a_server_started_with_stop_with_parent_ends_when_its_starter_is_killed(tmp_path):
    """The Streamlit server (dashboard.serve.start_streamlit, `adaptlab dashboard`) has no --stop-with-parent flag:
    the kernel stops it (PR_SET_PDEATHSIG). A stand-in child that would sleep an hour, started as those start it."""
    import subprocess
    import sys
    from pathlib import Path

    import psutil

    pid_file = tmp_path / "child.pid"
    script = ("import subprocess, sys, time\nfrom pathlib import Path\n"
              "from core.running.processes import stop_with_parent\n"
              "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)'],"
              " start_new_session=True, preexec_fn=stop_with_parent)\n"
              f"Path({str(pid_file)!r}).write_text(str(child.pid))\ntime.sleep(3600)\n")
    starter = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[3])
    child = None
    try:
        wait_for(lambda: pid_file.exists() and pid_file.read_text() or starter.poll() is not None, timeout=120,
                 every=0.1, what="the child's pid")
        child = psutil.Process(int(pid_file.read_text()))
        assert child.is_running()
        starter.kill()  # SIGKILL: nothing of the starter runs, no finally, no teardown
        starter.wait()
        assert psutil.wait_procs([child], timeout=30)[1] == []
    finally:
        if starter.poll() is None:
            starter.kill()
        if child is not None and child.is_running():
            child.kill()
