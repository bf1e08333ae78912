"""The job queue: atomic claims, one job per device at a time, cancel, and recovery from dead workers."""

import threading
import time

import pytest

from core.config import parse_config
from core.errors import StoreError
from core.results.store import SqlStore
from core.running.jobs import MAX_ATTEMPTS, JobQueue, jobs
from tests.conftest import tiny_config


def _config(name):
    return parse_config(tiny_config(name))


def test_concurrent_workers_never_claim_the_same_job(tmp_path):
    url = tmp_path / "r.db"
    queue = JobQueue(SqlStore(url))
    submitted = {queue.submit(_config(f"e{i}"), resource="cpu") for i in range(24)}
    claimed, start = [], threading.Barrier(4)

    def worker(n):
        mine = JobQueue(SqlStore(url))  # its own engine and connections, like another process
        start.wait()
        while (job := mine.claim(f"w{n}", limits={"cpu": 100})) is not None:
            claimed.append((job["id"], f"w{n}"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [job_id for job_id, _ in claimed]
    assert sorted(ids) == sorted(submitted)  # every job once, none twice
    frame = queue.jobs()
    assert set(frame.status) == {"running"} and frame.attempts.eq(1).all()
    assert dict(claimed) == dict(zip(frame.id, frame.worker))


def test_one_gpu_job_at_a_time_even_when_workers_race(tmp_path):
    url = tmp_path / "r.db"
    queue = JobQueue(SqlStore(url))
    first, second = queue.submit(_config("a"), resource="gpu"), queue.submit(_config("b"), resource="gpu")
    cpu_job = queue.submit(_config("c"), resource="cpu")
    results, start = [], threading.Barrier(3)

    def worker(n):
        mine = JobQueue(SqlStore(url))
        start.wait()
        results.append(mine.claim(f"w{n}", limits={"gpu": 1, "cpu": 0}))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [job["id"] for job in results if job is not None]
    assert won == [first]  # the oldest GPU job; the others wait; the CPU lane was closed (limit 0)
    queue.finish(first, "finished")
    assert queue.claim("w9")["id"] == second
    assert queue.claim("w9")["id"] == cpu_job  # the CPU lane is separate


def test_an_experiment_is_queued_once(tmp_path):
    queue = JobQueue(SqlStore(tmp_path / "r.db"))
    queue.submit(_config("same"), resource="cpu")
    with pytest.raises(StoreError, match="already queued or running"):
        queue.submit(_config("same"), resource="cpu")


def test_cancel_drops_a_queued_job_and_flags_a_running_one(tmp_path):
    queue = JobQueue(SqlStore(tmp_path / "r.db"))
    waiting = queue.submit(_config("a"), resource="cpu")
    queue.submit(_config("b"), resource="gpu")
    assert queue.claim("w")["id"] == waiting
    queue.claim("w")
    assert queue.cancel(waiting) == "running" and queue.cancel_requested(waiting)
    assert queue.report(waiting, {"message": "x"}) is True  # what the worker hears at its next report
    queue.finish(waiting, "cancelled")
    assert queue.cancel(waiting) == "cancelled"  # a finished job stays as it is
    again = queue.resubmit(waiting)  # resume: the same experiment, queued anew
    assert queue.job(again)["config"] == queue.job(waiting)["config"] and queue.job(again)["status"] == "queued"
    other = queue.submit(_config("c"), resource="cpu")
    assert queue.cancel(other) == "cancelled"  # never started
    assert not queue.cancel_requested(other)


def test_a_dead_workers_job_is_requeued_then_failed_in_words(tmp_path):
    store = SqlStore(tmp_path / "r.db")
    queue = JobQueue(store)
    job_id = queue.submit(_config("a"), resource="cpu")
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert queue.claim("w")["id"] == job_id
        with store.engine.begin() as db:  # the worker went silent two minutes ago
            db.execute(jobs.update().where(jobs.c.id == job_id).values(heartbeat=time.time() - 120))
        assert queue.recover_stale(stale_seconds=60) == [job_id]
        job = queue.job(job_id)
        if attempt < MAX_ATTEMPTS:
            assert job["status"] == "queued" and "queued again" in job["progress"]["message"]
    assert job["status"] == "failed" and "stopped 2 times" in job["error"] and "Traceback" not in job["error"]


def test_workers_are_alive_while_they_beat(tmp_path):
    queue = JobQueue(SqlStore(tmp_path / "r.db"))
    queue.register_worker("w1", 123, "host")
    assert queue.alive_workers().id.tolist() == ["w1"]
    assert queue.alive_workers(stale_seconds=-1).empty
    queue.retire_worker("w1")
    assert queue.alive_workers().empty
