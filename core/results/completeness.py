"""How complete an experiment is: its planned runs against the ones finished, and why each missing one is missing.

Pure: the stored config, its runs (SqlStore.runs_frame), its jobs (JobQueue.jobs, newest first) and the run keys a
process outside the queue holds now (core.running.claims.running_elsewhere) in; a Completeness out. Every page that
shows an experiment, the decision report and the CLI say the same thing from it::

    state = run_states(experiment["config"], store.runs_frame(name), queue.jobs(), held=())
    state.complete, state.under_way, state.lines("per_class")

A missing run is running now, waiting in a job that will reach it, failed (its error is stored), cancelled (its job
was), never started (the grid budget ran out, its job stopped before it, or nothing ever ran it), or, where the jobs
are not known, simply not finished. Only "running now" and "waiting" mean something is doing it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from core.errors import AdaptlabError
from core.methods import METHODS
from core.results.text import option_label
from core.running.grid import RunSpec
from core.task.sizes import NO_TRAINING_DATA, size_order

RUNNING, WAITING, FAILED, CANCELLED, NEVER_STARTED, NOT_FINISHED = (
    "running now", "waiting to run", "failed", "cancelled", "never started", "not finished")
UNDER_WAY = (RUNNING, WAITING)
SHOWN_PER_REASON = 4  # runs named per reason in a sentence; the rest are counted


@dataclass(frozen=True)
class MissingRun:
    key: str
    method: str
    size: str
    seed: int
    reason: str  # one of the six above
    detail: str = ""  # in words: the run's error, the job that was cancelled, "the grid budget ran out"


@dataclass(frozen=True)
class Completeness:
    planned: int  # 0: the grid could not be read from the config (nothing is said then)
    finished: int  # planned runs with a finished result
    missing: tuple[MissingRun, ...] = field(default_factory=tuple)

    @property
    def complete(self) -> bool:
        return not self.planned or not self.missing

    @property
    def under_way(self) -> bool:
        """Whether something is running or will run a missing run without anyone asking."""
        return any(run.reason in UNDER_WAY for run in self.missing)

    @property
    def can_run_missing(self) -> bool:
        """Missing runs that nothing will run unless asked: a job of the grid would run exactly these."""
        return bool(self.missing) and not self.under_way

    def counts(self) -> dict[str, int]:
        """Missing runs per reason, in the order a reader needs them (under way first)."""
        found = {}
        for reason in (RUNNING, WAITING, FAILED, CANCELLED, NEVER_STARTED, NOT_FINISHED):
            n = sum(run.reason == reason for run in self.missing)
            if n:
                found[reason] = n
        return found

    def reasons_text(self) -> str:
        """"1 failed, 1 never started"; "" when nothing is missing."""
        return ", ".join(f"{n} {reason}" for reason, n in self.counts().items())

    def headline(self) -> str:
        """"Incomplete experiment: 4 of 6 planned runs finished (2 never started)"."""
        why = self.reasons_text()
        return f"Incomplete experiment: {self.finished} of {self.planned} planned runs finished" + (
            f" ({why})" if why else "")

    def outlook(self) -> str:
        """What happens next, said truthfully: something runs the rest, or nothing does."""
        if self.under_way:
            return "The rest are under way: the results and the recommendation may change as they finish."
        return ("Nothing is running them now: the results and the recommendation are provisional until the missing "
                "runs finish.")

    def lines(self, unit: str = "per_class") -> list[str]:
        """The headline with what happens next, then one line per reason naming the runs. Empty when complete."""
        if self.complete:
            return []
        lines = [f"{self.headline()}. {self.outlook()}"]
        for reason in self.counts():
            runs = [run for run in self.missing if run.reason == reason]
            named = [f"{option_label(run.method, run.size, unit)} seed {run.seed}"
                     + (f" ({run.detail})" if run.detail and reason == FAILED else "")
                     for run in runs[:SHOWN_PER_REASON]]
            more = f" and {len(runs) - SHOWN_PER_REASON} more" if len(runs) > SHOWN_PER_REASON else ""
            details = sorted({run.detail for run in runs if run.detail and reason != FAILED})
            why = f" ({'; '.join(details)})" if details else ""
            lines.append(f"{reason.capitalize()}{why}: " + "; ".join(named) + more + ".")
        return lines


def planned_runs(config: dict) -> list[RunSpec]:
    """Every run the experiment's grid plans (core.running.grid.plan_runs); a config stored by hand (tests, old
    stores) is read for its methods, sizes and seeds alone."""
    from core.config import parse_config
    from core.running.grid import plan_runs

    try:
        parsed = parse_config(config, source="the stored config")
        return plan_runs(parsed, corpus_only_rag=parsed.rag.source == "corpus")
    except AdaptlabError:
        methods, seeds = config.get("methods") or [], config.get("seeds") or []
        once = [m for m in methods if m in METHODS and not METHODS[m].uses_training_data]
        plan = [RunSpec(m, NO_TRAINING_DATA, seeds[0]) for m in once if seeds]
        return plan + [RunSpec(m, str(size), seed) for size in config.get("sizes") or [] for seed in seeds
                       for m in methods if m not in once]


def run_states(config: dict, runs: pd.DataFrame, jobs: pd.DataFrame | None = None, held=(),
               plan: list[RunSpec] | None = None) -> Completeness:
    """The experiment's completeness. jobs: its jobs, newest first (None: not known, so a run that is neither
    finished nor failed is "not finished"); held: run keys a process outside the queue runs now."""
    plan = planned_runs(config) if plan is None else plan
    statuses = dict(zip(runs.run_key, runs.status)) if len(runs) and "run_key" in runs else {}
    errors = dict(zip(runs.run_key, runs.error)) if len(runs) and "error" in runs else {}
    ended = dict(zip(runs.run_key, runs.finished_at)) if len(runs) and "finished_at" in runs else {}
    job = _latest(jobs)
    active = job is not None and job.get("status") in ("queued", "running")
    in_flight = _in_flight(job) if active else set()
    held = set(held)
    finished, missing = 0, []
    for spec in _in_order(plan):
        status = statuses.get(spec.key)
        if status == "finished":
            finished += 1
            continue
        if spec.key in held or spec.key in in_flight:
            reason, detail = RUNNING, ""
        elif status == "failed" and not (active and _before(ended.get(spec.key), job.get("started_at"))):
            reason, detail = FAILED, _first_line(errors.get(spec.key))  # and the job under way does not retry it
        elif active or held:
            reason, detail = WAITING, _waiting(job) if active else "a grid started outside the dashboard runs them"
        elif jobs is None:
            reason, detail = NOT_FINISHED, ""
        else:
            reason, detail = _stopped(job)
        missing.append(MissingRun(spec.key, spec.method, spec.size, spec.seed, reason, detail))
    return Completeness(planned=len(plan), finished=finished, missing=tuple(missing))


def _latest(jobs: pd.DataFrame | None) -> dict | None:
    if jobs is None or jobs.empty:
        return None
    return jobs.sort_values("id", ascending=False).iloc[0].to_dict()


def _in_flight(job: dict) -> set[str]:
    progress = job.get("progress") if isinstance(job.get("progress"), dict) else {}
    return set(progress.get("in_flight") or []) | ({progress["current_run"]} if progress.get("current_run") else set())


def _waiting(job: dict) -> str:
    return f"job {job['id']} is queued" if job["status"] == "queued" else f"job {job['id']} reaches them in turn"


def _before(finished_at, started_at) -> bool:
    """Whether a failed attempt ended before the job under way started (so that job tries it again). ISO times in
    UTC compare as text; an unknown time counts as before."""
    if not isinstance(finished_at, str) or not isinstance(started_at, str):
        return True
    return finished_at < started_at


def _stopped(job: dict | None) -> tuple[str, str]:
    """Why nothing ran a run the latest job (if any) did not reach."""
    if job is None:
        return NEVER_STARTED, ""
    if job.get("status") == "cancelled":
        return CANCELLED, f"job {job['id']} was cancelled"
    if job.get("status") == "failed":
        return NEVER_STARTED, f"job {job['id']} failed before it"
    if isinstance(job.get("result"), dict) and job["result"].get("over_budget"):
        return NEVER_STARTED, "the grid budget ran out"
    return NEVER_STARTED, ""


def _first_line(error) -> str:
    text = "" if error is None or (isinstance(error, float) and pd.isna(error)) else str(error).strip()
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= 120 else line[:117] + "..."


def _in_order(plan: list[RunSpec]) -> list[RunSpec]:
    order = {name: i for i, name in enumerate(METHODS)}
    return sorted(plan, key=lambda s: (size_order(s.size), order.get(s.method, 99), s.seed))
