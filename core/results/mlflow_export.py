"""`adaptlab export NAME --mlflow URI`: the experiment in MLflow with what needs the whole grid as well: each
run's negative transfer against the reference (same seed, same test examples, with its 95% interval) and the
decision report, as HTML, on the parent run. The logging itself is core/running/tracking.py's."""

from __future__ import annotations

import pandas as pd

from core.results.analysis import negative_transfer, with_correctness
from core.running.tracking import MlflowExport, log_experiment


def export_experiment(store, name: str, tracking_uri: str, report_html: str | None = None) -> MlflowExport:
    """Every finished run of `name` in MLflow at `tracking_uri`, with negative transfer per run; idempotent."""
    from core.methods import DEFAULT_REFERENCE

    stored = store.experiment(name)
    runs = store.runs_frame(name, with_predictions=True)
    reference = stored["config"].get("reference", DEFAULT_REFERENCE)
    return log_experiment(store, name, tracking_uri, report_html=report_html,
                          extra=transfer_metrics(runs, stored["test_labels"], reference))


def transfer_metrics(runs: pd.DataFrame, test_labels: list[int], reference: str) -> dict[str, dict]:
    """run key -> {vs_REF, vs_REF_low, vs_REF_high}: its accuracy minus the reference's on the same seed."""
    finished = runs[runs.status == "finished"]
    if finished.empty or reference not in set(finished.method):
        return {}
    transfer = negative_transfer(with_correctness(finished, test_labels), reference)
    per_seed = {(row.method, row.size, row.seed): row for row in transfer[transfer.seed.notna()].itertuples()}
    metrics = {}
    for row in finished.itertuples():
        found = per_seed.get((row.method, row.size, row.seed))
        if found is not None and row.method != reference:
            metrics[row.run_key] = {f"vs_{reference}": found.difference, f"vs_{reference}_low": found.low,
                                    f"vs_{reference}_high": found.high}
    return metrics
