"""The one results table: one row per (method, size), numbers written as text, with the notes a reader needs
(what "(hurts)" means, what the intervals are over). The Compare page, the decision report, `adaptlab show` and
docs/make_results.py all show this table::

    results_rows(analyse(runs, test_labels, "scratch").summary, "scratch", "per_class")
"""

from __future__ import annotations

import pandas as pd

from core.results.text import LATENCY_BATCHED, human_bytes, human_count, method_name, money, quality_name
from core.task.sizes import size_label


def results_rows(summary: pd.DataFrame, reference: str | None, unit: str, kind: str = "classification") -> pd.DataFrame:
    """The results table as a reader sees it: one row per (method, size), numbers formatted as text.

    The one results table: the Compare page, the decision report and `adaptlab show` all show this.
    A qa task's quality is answer match and its F1 is token F1 (both stored in the classification columns).
    reference: the one that ran (core.results.analysis.compared_reference); None: no column of differences, as no
    reference ran to take them to."""
    if summary.empty:
        return pd.DataFrame()
    nothing = pd.Series(float("nan"), index=summary.index)
    delta = summary.get(f"vs_{reference}", nothing)
    low, high = summary.get(f"vs_{reference}_low", nothing), summary.get(f"vs_{reference}_high", nothing)
    hurts = summary.get("transfer_hurts", pd.Series(False, index=summary.index))
    rows = pd.DataFrame({
        "method": summary.method,
        "training data": [size_label(s, unit) for s in summary["size"]],
        "seeds": summary.seeds.map(lambda n: "" if pd.isna(n) else f"{n:.0f}"),
        f"{quality_name(kind)} [95% interval]": [f"{a:.3f} [{lo:.3f}, {hi:.3f}]" for a, lo, hi in
                                                 zip(summary.accuracy, summary.accuracy_low, summary.accuracy_high)],
        "token F1" if kind == "qa" else "macro-F1": summary.macro_f1.map("{:.3f}".format),
        f"vs {reference} [95% interval]": [difference_text(d, h, lo, hi)
                                           for d, h, lo, hi in zip(delta, hurts, low, high)],
        "train s": summary.train_seconds.map(lambda n: "" if pd.isna(n) else f"{n:.1f}"),
        "train $": summary.train_dollars.map(money),
        f"ms, {LATENCY_BATCHED}": summary.inference_seconds_per_1k.map("{:.2f}".format),
        "peak MB": summary.peak_memory_mb.map("{:,.0f}".format),
        "trainable": summary.trainable_parameters.map(human_count),
        "stored": summary.bytes_stored.map(human_bytes),
    })
    return rows if reference else rows.drop(columns=[f"vs {reference} [95% interval]"])


def titled_rows(rows: pd.DataFrame, reference: str | None) -> pd.DataFrame:
    """results_rows as a stakeholder reads them (Compare, the decision report): each method, the reference's too,
    by its title ("TF-IDF + logistic regression", not "tfidf"), as the verdict and the reasons name them. The CLI
    and the docs keep the keys a person types."""
    if rows.empty:
        return rows
    return rows.assign(method=rows.method.map(method_name)).rename(
        columns={f"vs {reference} [95% interval]": f"vs {method_name(reference)} [95% interval]"})


HURTS = " (hurts)"  # after a difference to the reference that is reliably below zero (core.results.analysis)
# what a "(hurts)" flag means, for the reader of a table that shows them
HURTS_NOTE = ("(hurts): reliably below the reference, with the error controlled across all the cells compared "
              "(one-sided bootstrap p-values, Benjamini-Hochberg at 2.5%: a correction for comparing many cells at "
              "once, so that of the cells flagged no more than about 1 in 40 is expected to be flagged by chance); "
              "the interval beside each difference is its 95% paired interval (the two measured on the same test "
              "examples and seeds)")
# what every interval in the report is over
INTERVALS_NOTE = ("Intervals are 95% bootstrap intervals over the test examples and the seeds run (at 0% or 100%, "
                  "Wilson's). With fewer than 5 seeds the seed-to-seed spread is poorly estimated: read them as "
                  "conditional on the seeds run.")


def difference_text(difference: float, hurts, low: float = float("nan"), high: float = float("nan")) -> str:
    """A method's difference to a reference, "+0.020 [-0.010, +0.050]" or "-0.050 [...] (hurts)"; empty where
    there is none."""
    if pd.isna(difference):
        return ""
    interval = "" if pd.isna(low) or pd.isna(high) else f" [{low:+.3f}, {high:+.3f}]"
    return f"{difference:+.3f}{interval}" + (HURTS if hurts is True or hurts == 1 else "")
