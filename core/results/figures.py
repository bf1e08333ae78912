"""Plotly figures drawn in core, so the decision report (HTML) and the dashboard show the very same charts:
total cost against query volume (the one such chart: the dashboard's Cost page lays it out for its column), and
the report's Pareto front of quality against total cost.

plotly is imported inside each function: reading results needs no plotting library.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from core.methods import METHODS
from core.results.costs import Constraints, break_even_queries, total_cost
from core.results.recommendation import Recommendation
from core.results.report import DecisionReport, contenders
from core.results.text import method_name, option_title


def _colour(method: str) -> str:
    return METHODS[method].colour if method in METHODS else "#444444"


def _dash(method: str) -> str | None:
    return METHODS[method].dash if method in METHODS else None


def cost_volume_figure(costs: pd.DataFrame, break_even: pd.DataFrame, unit: str | None = None,
                       chosen: tuple[str, str] | None = None, ruled_out=frozenset(), volume: int | None = None):
    """Total cost (train, label and store, then pay per query: costs.total_cost) against query volume, a line per
    option, and the break-even points (costs.break_even_queries) as diamonds. The one such chart: the decision
    report draws it as it is, the dashboard's Cost page lays it out for its column (dashboard/charts.py).

    unit: options are named by title with their training-set size, "LoRA adapter (32 per class)"; without it by
    the method's title alone (one size per method). chosen: the recommended (method, size), drawn thick and solid and
    every other line dashed; without it each method keeps its own dash. ruled_out: the (method, size) options the
    constraints rule out, drawn faint and dotted. volume: the user's query volume, marked with a vertical line."""
    import plotly.graph_objects as go

    figure = go.Figure()
    # named as the report's tables and the Cost page's sentences name them: by method title, with the size if asked
    name = (lambda method, size: option_title(method, size, unit)) if unit else \
        (lambda method, size: method_name(method))
    for (method, size), group in costs.groupby(["method", "size"], sort=False):
        picked, out = (method, size) == chosen, (method, size) in ruled_out
        label = name(method, size) + (" (chosen)" if picked else " (ruled out)" if out else "")
        dash = "solid" if picked else "dot" if out else "dash" if chosen else _dash(method)
        figure.add_trace(go.Scatter(x=group.queries, y=group.total_dollars, mode="lines", name=label,
                                    opacity=0.45 if out else 1.0,
                                    line={"color": _colour(method), "width": 4 if picked else 1.5 if out else 2.5,
                                          "dash": dash},
                                    hovertemplate=f"<b>{html.escape(label)}</b><br>%{{x:,.0f}} queries: "
                                                  "$%{y:,.4f}<extra></extra>"))
    if len(break_even):
        text = [f"beyond {q:,.0f} queries {name(after, after_size)} is cheaper than {name(first, first_size)}"
                for q, after, after_size, first, first_size in
                zip(break_even.queries, break_even.cheaper_after, break_even.cheaper_after_size,
                    break_even.cheaper_first, break_even.cheaper_first_size)]
        figure.add_trace(go.Scatter(x=break_even.queries, y=break_even.total_dollars, mode="markers",
                                    name="break-even", text=text, hovertemplate="%{text}<br>$%{y:,.4f}<extra></extra>",
                                    marker={"symbol": "diamond", "size": 11, "color": "#1F2933"}))
    if volume is not None and volume > 0:  # a log axis has no zero
        figure.add_vline(x=volume, line={"color": "#2f6fed", "dash": "dash"})
        # on a log axis an annotation's x is the power of ten
        figure.add_annotation(x=np.log10(volume), y=1.02, yref="paper", showarrow=False,
                              xanchor="center", text=f"your volume: {volume:,}",
                              font={"color": "#2f6fed"})
    positive = (costs.total_dollars > 0).all()
    figure.update_layout(title="Total cost against query volume (◆ break-even)", template="plotly_white",
                         showlegend=True, margin={"t": 70},
                         xaxis={"title": "queries served", "type": "log"},
                         yaxis={"title": "total cost ($)", "type": "log" if positive else "linear",
                                "tickprefix": "$"}, height=420)
    return figure


def report_cost_figure(rec: Recommendation, constraints: Constraints):
    """The report's cost against volume: the chosen option and the best other option of each method (those the
    constraints rule out too, faint), over three decades either side of the user's volume, which is marked with
    the break-even points against the chosen option."""
    import plotly.graph_objects as go

    table = contenders(rec, ruled_out=True)
    if table.empty:
        return go.Figure()
    ruled_out = {(m, z) for m, z, f in zip(table.method, table["size"], table.feasible) if rec.met and not f}
    centre = np.log10(max(constraints.queries, 1))
    volumes = np.unique(np.append(np.logspace(max(0.0, centre - 3), centre + 3, 61), max(constraints.queries, 1)))
    return cost_volume_figure(total_cost(table, volumes, constraints=constraints),
                              break_even_queries(contenders(rec), constraints=constraints), rec.unit,
                              (rec.method, rec.size), ruled_out, constraints.queries)


def pareto_figure(rec: Recommendation, constraints: Constraints):
    """Quality against total cost at the query volume for every option: the Pareto front drawn, options ruled
    out by the constraints hollow, the chosen one starred."""
    import plotly.graph_objects as go

    frame = rec.candidates
    figure = go.Figure()
    if frame is None or frame.empty or "pareto" not in frame:
        return figure
    front = frame[frame.pareto].sort_values("total_dollars")
    figure.add_trace(go.Scatter(x=front.total_dollars, y=front.accuracy, mode="lines", name="Pareto front",
                                line={"color": "#1F2933", "dash": "dot", "shape": "hv"}, hoverinfo="skip"))
    for method, group in frame.groupby("method", sort=False):
        labels = [option_title(m, z, rec.unit) for m, z in zip(group.method, group["size"])]
        figure.add_trace(go.Scatter(
            x=group.total_dollars, y=group.accuracy, mode="markers", name=method_name(method), text=labels,
            marker={"color": [_colour(method) if f else "white" for f in group.feasible], "size": 11,
                    "line": {"color": _colour(method), "width": 2}},
            error_y={"type": "data", "symmetric": False, "array": group.accuracy_high - group.accuracy,
                     "arrayminus": group.accuracy - group.accuracy_low, "color": "rgba(0,0,0,0.25)"},
            hovertemplate=f"%{{text}}<br>{rec.quality} %{{y:.3f}}<br>total $%{{x:,.4f}}<extra></extra>"))
    chosen = frame[frame.chosen]
    if len(chosen):
        figure.add_trace(go.Scatter(x=chosen.total_dollars, y=chosen.accuracy, mode="markers", name="chosen",
                                    marker={"symbol": "star", "size": 22, "color": "#2f6fed",
                                            "line": {"color": "#1F2933", "width": 1}},
                                    hovertemplate="chosen<extra></extra>"))
    spread = (frame.total_dollars > 0).all() and frame.total_dollars.max() / frame.total_dollars.min() > 50
    figure.update_layout(title=f"{rec.quality.capitalize()} against total cost at {constraints.queries:,} queries "
                               "(hollow: ruled out; ★ chosen)", template="plotly_white",
                         xaxis={"title": "total cost ($)", "type": "log" if spread else "linear", "tickprefix": "$"},
                         yaxis={"title": rec.quality}, height=420)
    return figure


LEARNING = "Known and Unknown facts across epochs"


def report_figures(report: DecisionReport) -> dict[str, str]:
    """The report's own charts as HTML fragments (plotly.js not included): cost against volume, the Pareto front."""
    rec = report.recommendation
    fragment = lambda figure: figure.to_html(full_html=False, include_plotlyjs=False)  # noqa: E731
    known = report.known_facts
    own = {}
    if known is not None and not known.learning.empty:  # QA: known and Unknown facts across epochs
        from core.results.learning_epochs import learning_figure

        own[LEARNING] = fragment(learning_figure(known.learning))
    if rec.candidates is None or rec.candidates.empty:
        return own
    return {"Total cost against query volume": fragment(report_cost_figure(rec, report.constraints)),
            "Pareto front": fragment(pareto_figure(rec, report.constraints)), **own}
