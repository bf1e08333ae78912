"""Cancel means stop: a real worker running a real job, cancelled as the Runs page cancels it (JobQueue.cancel),
stops at the run's next training step or generation batch; the run under way is not stored, the job says
cancelled, and running the job again (the page's Resume: JobQueue.resubmit) does that run.

Each run here would go on for a while after the cancel if nothing checked between steps, and reports no
progress meanwhile (where a cancel used to be noticed): training for its time budget with its first
evaluation far beyond it, or generating long answers. Without the check the run finishes and is stored.
"""

from __future__ import annotations

import os
import signal

import pytest

from core.config import parse_config
from core.results.store import SqlStore
from core.running.jobs import JobQueue, start_worker
from core.running.worker import serve
from tests.conftest import tiny_config, wait_for

pytestmark = pytest.mark.slow  # a worker's start, a model's load and two runs: a minute or two on a busy CPU

STOP_SECONDS = 120  # a generous bound on the stop (the poll is a second, a step or batch a fraction of one)


def _cancel_under_way(store: SqlStore, config: dict, tmp_path) -> tuple[int, str]:
    """Queue the job, let a worker start its run, press Cancel; wait for the worker to stop. (job id, the run's key)"""
    queue = JobQueue(store)
    job_id = queue.submit(parse_config(config), resource="cpu")
    log = tmp_path / "worker.log"
    worker = start_worker({**os.environ, "ADAPTLAB_STORE": store.url}, log, "--max-jobs", "1")
    try:
        under_way = lambda: (queue.job(job_id)["progress"] or {}).get("current_run")  # noqa: E731
        running = wait_for(lambda: under_way() or worker.poll() is not None, timeout=600, every=0.1,
                           what="the run to start")
        assert isinstance(running, str), log.read_text()[-3000:]
        # the worker's next heartbeat (every 2 s, from its own thread): by then the run is past the progress report
        # that started it, which would hear a cancel at once (a race, not the step check under test)
        beat = queue.job(job_id)["heartbeat"]
        wait_for(lambda: queue.job(job_id)["heartbeat"] > beat, timeout=60, every=0.1, what="the next heartbeat")
        assert queue.cancel(job_id) == "running"  # what the Runs page's Cancel button calls
        assert worker.wait(timeout=STOP_SECONDS) == 0, log.read_text()[-3000:]
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    return job_id, running


def _check_cancelled_then_resumed(store: SqlStore, job_id: int, key: str, name: str) -> None:
    queue = JobQueue(store)
    job = queue.job(job_id)
    assert job["status"] == "cancelled" and "kept" in job["progress"]["message"], job
    assert key not in store.finished_keys(name)  # the run under way was stopped, not finished and stored
    assert store.runs_frame(name).empty  # nor stored as failed
    again = queue.resubmit(job_id)  # the page's Resume button
    assert serve(store, max_jobs=1, poll_seconds=0.05) == 1
    assert queue.job(again)["status"] == "finished", queue.job(again)
    assert queue.job(again)["result"]["executed"] == 1  # the cancelled run was left to do, and done
    assert key in store.finished_keys(name)


def test_cancel_stops_training_at_its_next_step_and_resume_does_the_run(tmp_path):
    store = SqlStore(tmp_path / "r.db")
    # a million planned steps: the first evaluation (and progress report) is 125,000 steps in, far past the time
    # budget, so the run trains for its whole 30 s unless a step boundary hears the cancel (validation: separate,
    # so no refit follows, whose few steps would end in a progress report)
    config = tiny_config(methods=["full"], sizes=[4], validation="separate",
                         budget={"max_epochs": 1, "min_steps": 1_000_000, "max_train_seconds": 30})
    job_id, key = _cancel_under_way(store, config, tmp_path)
    assert key == "full|4|0"
    _check_cancelled_then_resumed(store, job_id, key, "tiny")


def test_cancel_stops_generation_at_its_next_batch_and_resume_does_the_run(tiny_llama, tmp_path):
    store = SqlStore(tmp_path / "r.db")
    # prompt-only trains nothing: the run is answering the test questions, long answers on a random tiny model
    config = {"name": "tiny-qa", "task": {"builtin": "geo-qa", "kind": "qa", "builtin_options": {"quick": True}},
              "model": {"name": str(tiny_llama), "precision": "fp32"}, "methods": ["prompt"], "sizes": [4],
              "seeds": [0], "forgetting": "off",
              "llm": {"context_length": 512, "max_new_tokens": 64, "known_facts": {"enabled": False}}}
    job_id, key = _cancel_under_way(store, config, tmp_path)
    assert key.startswith("prompt|")
    _check_cancelled_then_resumed(store, job_id, key, "tiny-qa")
