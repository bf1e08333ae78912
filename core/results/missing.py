"""An experiment's missing runs, read from the store (its runs, its latest job, the run claims), and the one way to
run them: a job of its stored grid, which skips the finished runs (core.running.runner.run_experiment), so it runs
exactly the missing ones::

    state = completeness_of(store, "geo-qa-quick")   # core.results.completeness.Completeness
    if state.can_run_missing:
        run_missing(store, "geo-qa-quick")           # the job id; a worker picks it up
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import inspect, select

from core.config import ExperimentConfig
from core.errors import StoreError
from core.results.completeness import Completeness, run_states
from core.results.store import SqlStore
from core.running.jobs import STALE_SECONDS, JobQueue, jobs


def latest_job(store: SqlStore, name: str) -> pd.DataFrame:
    """The experiment's newest job as a one-row frame (empty when it never had one), whatever other jobs came since."""
    columns = [c for c in jobs.c if c.name != "config"]
    if not inspect(store.engine).has_table(jobs.name):
        return pd.DataFrame(columns=[c.name for c in columns])
    with store.engine.connect() as db:
        rows = db.execute(select(*columns).where(jobs.c.experiment == name).order_by(jobs.c.id.desc())
                          .limit(1)).mappings().all()
    return pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in columns])


def held_keys(store: SqlStore, name: str, stale_seconds: float = STALE_SECONDS) -> list[str]:
    """The experiment's runs a live process outside the job queue runs now (`adaptlab run` on this store)."""
    from core.running.claims import running_elsewhere

    elsewhere = running_elsewhere(store, stale_seconds)
    rows = elsewhere[elsewhere.experiment == name]
    return [key for keys in rows.run_keys for key in keys]


def completeness_of(store: SqlStore, name: str, runs: pd.DataFrame | None = None) -> Completeness:
    """Planned against finished runs, and why each missing one is missing. runs: SqlStore.runs_frame(name), if read."""
    config = store.experiment(name)["config"]
    runs = store.runs_frame(name) if runs is None else runs
    return run_states(config, runs, latest_job(store, name), held_keys(store, name))


def run_missing(store: SqlStore, name: str) -> int:
    """Queue the experiment's stored grid again: its finished runs are skipped, so the job runs the missing ones.

    Asked for by name, they all run: the grid budget (a limit on one invocation, which may be what stopped them)
    is lifted for this job, as a grid setting may change between invocations. Refused in words while a job of it is
    queued or running, or when nothing is missing."""
    if completeness_of(store, name).complete:
        raise StoreError(f"'{name}' has every planned run finished: nothing to run")
    stored = store.experiment(name)["config"]
    return JobQueue(store).submit(ExperimentConfig.model_validate({**stored, "grid_budget": {}}))
