"""How a run used its labelled examples, in one line: where it chose its stop, and what it trained on.

`adaptlab show NAME --runs` and the dashboard's Runs page show it beside each run (`validation: refit`,
core/running/refit.py, records both of its trainings; the other modes say where they early-stopped).
"""

from __future__ import annotations

import pandas as pd


def how_trained(record: dict | None) -> str:
    """One run's line; empty for a method that neither early-stops nor searches on held-out examples."""
    record = record or {}
    refit = (record.get("details") or {}).get("refit")
    if refit:
        return (f"stop chosen on {refit['selected_on']} held out: {refit['chosen_steps']} steps "
                f"({refit['selection_seconds']:.1f} s); refit on all {refit['trained_on']} for {refit['steps']} steps "
                f"({refit['refit_seconds']:.1f} s)")
    where = record.get("validation")
    if not where or where == "none":
        return ""
    return f"early-stopped on {record.get('validation_examples')} ({where})"


def how_trained_column(runs: pd.DataFrame) -> pd.Series:
    """how_trained for every run of a runs frame (SqlStore.runs_frame: a `record` column of dicts)."""
    if "record" not in runs:
        return pd.Series([""] * len(runs), index=runs.index, dtype=object)
    return runs.record.map(lambda record: how_trained(record if isinstance(record, dict) else None))
