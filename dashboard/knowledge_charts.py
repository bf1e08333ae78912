"""The Knowledge page's charts (QA on an LLM): core/results/knowledge.py's tables in, a plotly Figure out, laid out
as every chart is (dashboard/charts.py's `layout`). No streamlit here.
"""

from __future__ import annotations

import textwrap

import pandas as pd
import plotly.graph_objects as go

from core.results.answers import WRONG_OR_CUT
from core.results.text import method_name
from dashboard.charts import HEIGHT, HURTS, LEGEND_UNDER_AXIS, color, layout, legend_room

COVERAGE_COLORS = {"covered": "#1F77B4", "uncovered": "#9AA5B1"}
# what a run answered, as shares of the questions: right, an honest "I don't know", made up, nothing
ANSWER_KINDS = {"answer_match": ("right", "#2CA02C"), "abstention_rate": ("I don't know", "#9AA5B1"),
                "wrong_answer_rate": ("made up (wrong)", HURTS), "cut_off_rate": ("cut off", "#FF9F40"),
                "no_answer_rate": ("no answer", "#E4E7EB")}
# a run stored before cut-off answers were recorded: its wrong answers may be cut off, not made up (Answers' words)
WRONG_OR_CUT_KIND = (WRONG_OR_CUT, "#F4A3A3")
COVERAGE_WORDS = {"covered": "covered (passage in the documents)", "uncovered": "not covered (no passage)"}


def coverage_chart(coverage: pd.DataFrame) -> go.Figure:
    """Answer match per method on questions the documents cover and on those they do not, side by side."""
    figure = go.Figure()
    for group in ("covered", "uncovered"):
        rows = coverage[coverage.group == group]
        # titles wrapped at word breaks: they read level under their bars, not slanted into the legend
        figure.add_trace(go.Bar(x=["<br>".join(textwrap.wrap(method_name(m), 12, break_on_hyphens=False))
                                   for m in rows.method], y=rows.answer_match,
                                name=COVERAGE_WORDS[group],
                                marker_color=COVERAGE_COLORS[group], text=[f"{v:.0%}" for v in rows.answer_match],
                                textposition="outside", textfont={"size": 11}, cliponaxis=False,
                                hovertemplate=f"<b>%{{x}}</b><br>{group}: answer match %{{y:.3f}}<extra></extra>"))
    layout(figure, "Answer match by coverage", "", "answer match", note="covered and uncovered questions",
            barmode="group",
            legend=LEGEND_UNDER_AXIS, uniformtext={"minsize": 9, "mode": "show"})
    legend_room(figure)
    figure.update_layout(margin_b=figure.layout.margin.b + 60)  # the titles under the bars, slanted where narrow
    figure.update_yaxes(range=[0, 1.12], tickformat=".0%")
    return figure


def answer_kinds_chart(coverage: pd.DataFrame) -> go.Figure:
    """What each method answers, per coverage group: right, "I don't know", made up, or nothing (stacked shares).

    On uncovered questions no passage holds the answer: "I don't know" is the honest answer there, and the red
    part is how often the method makes a fact up."""
    figure = go.Figure()
    # one bar a row, labelled on a two-level axis (method, then covered / not covered): the labels read across
    y = [coverage.method.map(method_name).tolist(), ["not covered" if g == "uncovered" else g for g in coverage.group]]
    recorded = coverage.cut_off_recorded.astype(bool) if "cut_off_recorded" in coverage else \
        pd.Series(True, index=coverage.index)
    kinds = [(coverage[column].where(recorded, 0.0) if column in ("wrong_answer_rate", "cut_off_rate") else
              coverage.get(column, pd.Series(0.0, index=coverage.index)), name, colour)
             for column, (name, colour) in ANSWER_KINDS.items()]
    if not recorded.all():  # made up or cut off, unknown which: its own bar part, named as the Answers page names it
        kinds.insert(3, (coverage.wrong_answer_rate.where(~recorded, 0.0), *WRONG_OR_CUT_KIND))
    for values, name, colour in kinds:
        figure.add_trace(go.Bar(x=values, y=y, name=name, marker_color=colour, orientation="h",
                                hovertemplate=f"%{{y}}<br>{name}: %{{x:.0%}}<extra></extra>"))
    layout(figure, "What each method answers", "share of questions", "", note="red: a fact made up",
            barmode="stack",
            legend={**LEGEND_UNDER_AXIS, "traceorder": "normal"}, height=max(HEIGHT, 150 + 26 * len(coverage)))
    legend_room(figure)  # under the axis title, not over it
    figure.update_xaxes(range=[0, 1], tickformat=".0%")
    figure.update_yaxes(autorange="reversed")
    return figure


def knowledge_update_chart(update: pd.DataFrame) -> go.Figure:
    """Answer match on facts that arrive after training: before (grey) and after (the method's colour) they do."""
    figure = go.Figure()
    lines_x, lines_y = [], []
    for row in update.itertuples():
        lines_x += [row.before, row.after, None]
        lines_y += [method_name(row.method), method_name(row.method), None]
    figure.add_trace(go.Scatter(x=lines_x, y=lines_y, mode="lines", line={"color": "#CBD2D9", "width": 3},
                                hoverinfo="skip", showlegend=False, name="change"))
    titles = update.method.map(method_name).tolist()
    figure.add_trace(go.Scatter(x=update.before, y=titles, mode="markers", name="before the new facts",
                                marker={"color": "#9AA5B1", "size": 12}, customdata=update[["how"]].to_numpy(),
                                hovertemplate="<b>%{y}</b><br>before: %{x:.0%}<extra></extra>"))
    figure.add_trace(go.Scatter(
        x=update.after, y=titles, mode="markers+text", name="after taking them in",
        marker={"color": [color(m) for m in update.method], "size": 14, "symbol": "diamond"},
        text=[f"{a:.0%}" for a in update.after], textposition="middle right", customdata=update[["how"]].to_numpy(),
        hovertemplate="<b>%{y}</b><br>after: %{x:.0%}<br>it %{customdata[0]}<extra></extra>"))
    layout(figure, "New facts: before and after", "answer match on the new facts", "",
            note="answer match before the new facts arrive, and once taken in",
            height=max(300, 140 + 42 * len(update)), legend=LEGEND_UNDER_AXIS)
    legend_room(figure)
    figure.update_xaxes(range=[-0.02, 1.12], tickformat=".0%")
    figure.update_yaxes(autorange="reversed", type="category")
    return figure


def update_cost_chart(update: pd.DataFrame) -> go.Figure:
    """Seconds each method needs to take new facts in: training again for trained methods, indexing for
    retrieval, nothing for methods that have nowhere to put them (the words beside each bar say which)."""
    from core.results.knowledge import update_cost

    seconds = update.update_seconds.fillna(0.0)
    figure = go.Figure(go.Bar(
        x=seconds, y=update.method.map(method_name).tolist(), orientation="h",
        marker_color=[color(m) for m in update.method],
        text=[update_cost(row) for row in update.itertuples()], textposition="outside", cliponaxis=False,
        hovertemplate="<b>%{y}</b><br>%{text}<extra></extra>", name="cost of taking new facts in"))
    layout(figure, "What taking new facts in costs", "seconds, each time new facts arrive", "",
            height=max(300, 140 + 42 * len(update)), showlegend=False)
    figure.update_xaxes(range=[0, float(seconds.max() or 1) * 2.2])  # room for the words beside the bars
    figure.update_yaxes(autorange="reversed", type="category")
    return figure
