"""What the result pages say in plain words: method titles, times as a reader says them, the one fact of a chart.

Pure functions over core's tables (no streamlit), so each sentence is checked in a test."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from core.methods import METHODS
from core.results.text import method_name
from core.task.sizes import size_label, size_order

# Explained once, where each first appears (Compare): what a reader cannot guess from the words alone.
TOTAL = "**Training data** counts labelled examples in all, whatever their labels."
PARETO = ("**Pareto front** (ringed, labelled with its training-set size): the options that no other option beats on "
          "both {quality} and this cost. For any option off the front, one on it scores at least as well and costs "
          "less.")  # .format(quality=...)


def training_data_note(unit: str, labels: int, size: int = 8) -> str:
    """What a training-set size counts, with the experiment's own numbers: its smallest size and its labels."""
    if unit != "per_class":
        return TOTAL
    in_all = f" ({size * labels} in all for {labels} labels)" if labels > 1 else ""
    return (f"**Training data** counts examples *per class*: \"{size} per class\" means {size} labelled examples of "
            f"each label{in_all}.")


def method_title(method: str) -> str:
    """The plain name of a method key (tfidf -> "TF-IDF + logistic regression (classical)")."""
    spec = METHODS.get(method)
    return spec.title if spec else method


def with_titles(frame: pd.DataFrame, column: str = "method") -> pd.DataFrame:
    """The table with a "what it is" column beside its method keys."""
    if frame.empty or column not in frame:
        return frame
    out = frame.copy()
    out.insert(list(frame.columns).index(column) + 1, "what it is", frame[column].map(method_title))
    return out


def methods_legend(methods) -> str:
    """One line naming each method key shown on a page in plain words."""
    seen = list(dict.fromkeys(methods))
    return "Methods: " + " · ".join(f"**{m}**: {method_title(m)}" for m in seen) + "."


def reference_note(configured: str, compared: str | None) -> str | None:
    """Which reference the differences are to, where it is not the one the experiment names (that one did not run:
    core.results.analysis.compared_reference); None where it is."""
    if compared == configured:
        return None
    if compared is None:
        return (f"**{method_name(configured)}**, the reference this experiment compares with, did not run, nor did "
                "any other from-scratch reference: there are no differences to show. Add it to the methods and launch "
                "the experiment again: only the missing runs are run.")
    return (f"**{method_name(configured)}**, the reference this experiment names, did not run: every difference here "
            f"is to **{method_name(compared)}**, the from-scratch reference that did.")


def starts_pretrained(method: str) -> bool:
    """Whether a method adapts the pretrained model: references (from scratch, TF-IDF) start from none."""
    spec = METHODS.get(method)
    return spec is None or not spec.is_reference


# -- times --------------------------------------------------------------------------------------------------------
def parse_time(value) -> datetime | None:
    """A stored timestamp (ISO 8601, UTC) as an aware datetime; None when missing or unreadable."""
    if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "":
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def time_ago(value, now: datetime | None = None) -> str:
    """"just now", "4 min ago", "3 h ago", "yesterday", "5 days ago", then the date ("12 Mar 2025")."""
    moment = parse_time(value)
    if moment is None:
        return "–"
    now = now or datetime.now(UTC)
    seconds = (now - moment).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min ago"
    if seconds < 86400:
        return f"{seconds // 3600:.0f} h ago"
    days = int(seconds // 86400)
    if days == 1:
        return "yesterday"
    if days < 7:
        return f"{days} days ago"
    return f"{moment.day} {moment:%b %Y}"


def latest(*values) -> str | None:
    """The latest of some stored timestamps (missing ones ignored)."""
    moments = [(parse_time(v), v) for v in values]
    moments = [(m, v) for m, v in moments if m is not None]
    return max(moments)[1] if moments else None


def experiments_table(frame: pd.DataFrame, now: datetime | None = None) -> pd.DataFrame:
    """Home's list: last change first (the latest finished run, or the settings), times in words."""
    if frame.empty:
        return frame
    last_run = frame["last_run_at"] if "last_run_at" in frame else pd.Series(None, index=frame.index)
    changed = [latest(updated, run) for updated, run in zip(frame.updated_at, last_run)]
    order = sorted(range(len(frame)), key=lambda i: parse_time(changed[i]) or datetime.min.replace(tzinfo=UTC),
                   reverse=True)
    table = pd.DataFrame({"experiment": frame.name, "model": frame.model, "finished runs": frame.runs,
                          "updated": [time_ago(c, now) for c in changed],
                          "created": [time_ago(c, now) for c in frame.created_at]})
    return table.iloc[order].reset_index(drop=True)


# -- negative transfer ----------------------------------------------------------------------------------------------
def reference_declines(curves: pd.DataFrame, reference: str, unit: str) -> str | None:
    """A warning when the reference gets worse with more data (a larger size below a smaller one), else None."""
    rows = curves[curves.method == reference]
    if rows.empty:
        return None
    rows = rows.sort_values("size", key=lambda s: s.map(size_order))
    sizes, accuracy = rows["size"].tolist(), rows.accuracy.to_numpy(dtype=float)
    for later in range(1, len(rows)):
        earlier = int(np.argmax(accuracy[:later]))
        if accuracy[later] < accuracy[earlier]:
            return (f"The reference itself gets worse with more data: **{method_name(reference)}** scores "
                    f"{accuracy[earlier]:.3f} at {size_label(sizes[earlier], unit)} but {accuracy[later]:.3f} at "
                    f"{size_label(sizes[later], unit)}. Training from scratch is unstable here, so large gaps "
                    f"say more about the reference than about transfer.")
    return None


# -- cost -------------------------------------------------------------------------------------------------------------
def _times(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio < 10 else f"{ratio:,.0f}x"


def cost_fact(costs: pd.DataFrame, stretches: pd.DataFrame) -> str:
    """The cost chart in one sentence, in method titles: which option is cheapest over the volumes shown, and by
    how much; or where the cheapest changes hands, at the break-even volume itself.

    costs: core.results.costs.total_cost (method, queries, total_dollars), several volumes; stretches:
    core.results.costs.cheapest_stretches over the same volumes, the one computation the break-even list reads."""
    if costs.empty or costs.method.nunique() == 0 or stretches.empty:
        return "No costs were measured."
    wide = costs.pivot_table(index="queries", columns="method", values="total_dollars", aggfunc="min").sort_index()
    if wide.shape[1] == 1:
        return f"Only **{method_name(wide.columns[0])}** has a measured cost."
    low, high = f"{stretches.from_queries.iloc[0]:,.0f}", f"{stretches.to_queries.iloc[-1]:,.0f}"
    if len(stretches) == 1:
        best = stretches.method.iloc[0]
        others = wide.drop(columns=best)
        runner_up = others.min(axis=1)
        best_cost = wide[best].where(wide[best] > 0)
        ratios = (runner_up / best_cost).replace([np.inf, -np.inf], np.nan).dropna()
        second = method_name(others.iloc[-1].idxmin())
        if ratios.empty:
            return (f"**{method_name(best)}** is the cheapest at every volume from {low} to {high} queries (it costs "
                    "nothing).")
        smallest, largest = float(ratios.min()), float(ratios.max())
        by = f"about {_times(np.sqrt(smallest * largest))}" if largest / smallest < 1.5 else \
            f"{_times(smallest)} to {_times(largest)}"
        return (f"**{method_name(best)}** is the cheapest at every volume from {low} to {high} queries, by {by} "
                f"(next: **{second}**).")
    steps = [f"**{method_name(row.method)}** up to {row.to_queries:,.0f} queries"
             for row in stretches.iloc[:-1].itertuples()]
    return (f"The cheapest depends on the volume: {', then '.join(steps)}, then "
            f"**{method_name(stretches.method.iloc[-1])}** beyond.")
