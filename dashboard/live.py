"""What the Runs page says about a grid under way: its phase, elapsed and remaining time, from what is stored.

Pure functions (no streamlit). A worker reports progress at events (a run started, a loss); between events (the
model loading, the texts being encoded) its report goes stale, so times are counted here from when the job
started and from the durations of the runs finished so far."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from dashboard.words import parse_time


def phase(progress: dict) -> str:
    """What the grid is doing now, in a few words (a metric's value): "encoding texts", "run 3 of 12", "loading"."""
    total, done = progress.get("runs_total"), progress.get("runs_done") or 0
    message = str(progress.get("message") or "")
    if progress.get("current_run") and total:
        at_once = len(progress.get("in_flight") or []) or 1
        first = min(done + 1, total)
        last = min(done + at_once, total)
        return f"run {first} of {total}" if last == first else f"runs {first}–{last} of {total}"
    if "encoding texts" in message:
        return "encoding texts"
    if total is None:
        return "loading"  # the data and the model (the job's message says which)
    if total and done >= total:
        return "finishing"
    return "between runs"


def elapsed_seconds(started_at, now: datetime | None = None, reported: float | None = None) -> float | None:
    """Seconds since the job started (its stored start time), never less than the worker last reported."""
    start = parse_time(started_at)
    counted = None if start is None else max(0.0, ((now or datetime.now(UTC)) - start).total_seconds())
    values = [v for v in (counted, reported) if v is not None]
    return max(values) if values else None


def run_durations(runs: pd.DataFrame, since=None) -> list[float]:
    """Wall seconds of each run finished (or failed) since a moment (the job's start): finished_at - started_at."""
    if runs.empty or "started_at" not in runs:
        return []
    start = parse_time(since)
    durations = []
    for began, ended, status in zip(runs.started_at, runs.finished_at, runs.status):
        first, last = parse_time(began), parse_time(ended)
        if status not in ("finished", "failed") or first is None or last is None:
            continue
        if start is not None and first < start:
            continue  # a run of an earlier job: this one skipped it
        durations.append(max(0.0, (last - first).total_seconds()))
    return durations


def remaining_seconds(durations: list[float], runs_left: int, at_once: int = 1) -> float | None:
    """The average finished run's duration times the runs left (shared among runs packed at once); None until a
    run has finished."""
    if not durations or runs_left is None:
        return None
    return sum(durations) / len(durations) * max(0, runs_left) / max(1, at_once)


def planned_runs(config: dict) -> int | None:
    """How many runs a stored experiment's grid has (core.results.completeness.planned_runs); None if none."""
    from core.results.completeness import planned_runs as plan

    return len(plan(config)) or None


def run_nodes(runs: pd.DataFrame) -> pd.Series:
    """The Ray node that ran each run ("host (node id)"), None for runs on this machine (core/running/ray_grid.py)."""

    def node(record) -> str | None:
        where = ((record or {}).get("environment") or {}).get("node") if isinstance(record, dict) else None
        return f"{where['host']} ({where['node_id'][:8]})" if where else None

    column = runs["record"] if "record" in runs else pd.Series([None] * len(runs), index=runs.index)
    return column.map(node)
