"""How complete an experiment is, and why each missing run is missing: from a real store, its real job queue and
run claims (core/results/completeness.py, core/results/missing.py)."""

from __future__ import annotations

import pytest

from core.config import parse_config
from core.errors import StoreError
from core.results.completeness import CANCELLED, FAILED, NEVER_STARTED, NOT_FINISHED, RUNNING, WAITING, run_states
from core.results.missing import completeness_of, run_missing
from core.results.store import SqlStore
from core.running.jobs import JobQueue
from tests.conftest import tiny_config
from tests.decision_grid import stored_grid

MISSING = {"lora|32|1", "tfidf|32|1"}


@pytest.fixture
def store(tmp_path):
    stored_grid(str(tmp_path / "r.db"), seeds=(0, 1), missing=MISSING)  # 11 of 13 planned runs
    return SqlStore(tmp_path / "r.db")


def _reasons(state) -> dict[str, str]:
    return {run.key: run.reason for run in state.missing}


def test_runs_nothing_ran_are_never_started_and_nothing_claims_they_are_running(store):
    state = completeness_of(store, "grid")
    assert (state.planned, state.finished, state.complete, state.under_way) == (13, 11, False, False)
    assert _reasons(state) == {key: NEVER_STARTED for key in MISSING}
    assert state.can_run_missing
    lines = state.lines("per_class")
    assert lines[0].startswith("Incomplete experiment: 11 of 13 planned runs finished (2 never started). Nothing is "
                               "running them now")
    assert lines[1] == "Never started: lora (32 per class) seed 1; tfidf (32 per class) seed 1."
    assert "not finished yet" not in " ".join(lines) and "under way" not in " ".join(lines)


def test_a_failed_run_says_its_error_and_a_cancelled_job_leaves_its_runs_cancelled(store):
    store.write_run("grid", {"run_key": "lora|32|1", "method": "lora", "size": "32", "seed": 1, "status": "failed",
                             "error": "RuntimeError: CUDA out of memory\nTraceback ..."}, None)
    queue = JobQueue(store)
    job = queue.submit(parse_config(tiny_config("grid", methods=["prompt", "rag", "lora", "tfidf"], sizes=[8, 32],
                                                seeds=[0, 1])), resource="cpu")
    queue.cancel(job)  # dropped while queued
    state = completeness_of(store, "grid")
    assert _reasons(state) == {"lora|32|1": FAILED, "tfidf|32|1": CANCELLED}
    assert state.missing[0].detail == "RuntimeError: CUDA out of memory"
    assert state.headline().endswith("(1 failed, 1 cancelled)")
    assert f"Cancelled (job {job} was cancelled): tfidf (32 per class) seed 1." in state.lines()


def test_a_running_job_runs_one_now_and_the_other_waits_its_turn(store):
    queue = JobQueue(store)
    job = queue.submit(parse_config(tiny_config("grid", methods=["prompt", "rag", "lora", "tfidf"], sizes=[8, 32],
                                                seeds=[0, 1])), resource="cpu")
    state = completeness_of(store, "grid")
    assert _reasons(state) == {key: WAITING for key in MISSING} and state.under_way and not state.can_run_missing
    queue.claim("w1")
    queue.report(job, {"current_run": "lora|32|1", "in_flight": ["lora|32|1"], "runs_total": 2, "runs_done": 0})
    state = completeness_of(store, "grid")
    assert _reasons(state) == {"lora|32|1": RUNNING, "tfidf|32|1": WAITING}
    assert state.lines()[0].endswith("The rest are under way: the results and the recommendation may change as they "
                                     "finish.")
    with pytest.raises(StoreError, match="already queued or running"):
        run_missing(store, "grid")


def test_without_the_jobs_a_missing_run_is_only_not_finished(store):
    state = run_states(store.experiment("grid")["config"], store.runs_frame("grid"))
    assert set(_reasons(state).values()) == {NOT_FINISHED} and not state.under_way


def test_a_budget_stop_is_said_and_the_button_path_runs_exactly_the_missing_runs(adaptlab_home):
    """For real: a worker runs a grid whose budget stops it before its runs; the runs are 'never started (the grid
    budget ran out)'; run_missing queues a job that runs those two and nothing else."""
    from core.running.worker import serve

    store = SqlStore(adaptlab_home / "results.db")
    queue = JobQueue(store)
    config = parse_config(tiny_config("budget", methods=["tfidf"], sizes=[4], seeds=[0, 1],
                                      grid_budget={"max_seconds": 0.001}))
    queue.submit(config, resource="cpu")
    assert serve(store, max_jobs=1, poll_seconds=0.05) == 1
    state = completeness_of(store, "budget")
    assert (state.planned, state.finished) == (2, 0)
    assert {run.detail for run in state.missing} == {"the grid budget ran out"}
    assert state.lines()[1] == "Never started (the grid budget ran out): tfidf (4 per class) seed 0; tfidf (4 per " \
                               "class) seed 1."
    job = run_missing(store, "budget")
    assert queue.job(job)["config"]["grid_budget"] == {"max_seconds": None, "max_dollars": None}
    assert serve(store, max_jobs=1, poll_seconds=0.05) == 1
    assert completeness_of(store, "budget").complete
    assert sorted(store.runs_frame("budget").run_key) == ["tfidf|4|0", "tfidf|4|1"]
    with pytest.raises(StoreError, match="nothing to run"):
        run_missing(store, "budget")
