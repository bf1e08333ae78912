"""A stored experiment's runs written out, the same from `adaptlab export` and the dashboard's Runs page.

CSV: one row per run, the flat columns, with the nested facts (per-class F1, the method's details) as JSON text in
their own columns. JSON: every run's full record, a list of objects each naming its experiment.
"""

from __future__ import annotations

import pandas as pd

from core.evaluation.retrieval import RETRIEVAL_FIELDS
from core.results.store import json_text

FORMATS = ("csv", "json")


def runs_csv(runs: pd.DataFrame) -> str:
    """runs: SqlStore.runs_frame (with its `record` column)."""
    frame = runs.drop(columns=["record", "predictions"], errors="ignore")
    records = runs["record"] if "record" in runs else [{}] * len(runs)
    # retrieval against each question's source (RAG on questions that name one): empty cells elsewhere
    frame = frame.assign(**{name: [(r or {}).get(name) for r in records] for name in RETRIEVAL_FIELDS})
    frame = frame.assign(per_class_f1=[json_text((r or {}).get("per_class_f1", {})) for r in records],
                         details=[json_text((r or {}).get("details", {})) for r in records])
    return frame.to_csv(index=False)


def runs_json(experiment: str, runs: pd.DataFrame) -> str:
    records = runs["record"] if "record" in runs else [{}] * len(runs)
    return json_text([{"experiment": experiment, **(r or {})} for r in records], indent=2)


def export_text(experiment: str, runs: pd.DataFrame, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"export format must be one of {FORMATS}, not {fmt!r}")
    return runs_csv(runs) if fmt == "csv" else runs_json(experiment, runs)
