"""Charts: each takes a DataFrame from core (analysis or decision) and returns a plotly Figure.

No streamlit here and no computation beyond laying out what core computed, so every chart can be
built and checked in a test, and the decision report embeds the very same figures. The Knowledge page's charts
(QA on an LLM) are in dashboard/knowledge_charts.py, laid out by this module's `layout`.
"""

from __future__ import annotations

import html
import math
import textwrap

import pandas as pd
import plotly.graph_objects as go

from core.methods import DEFAULT_REFERENCE, METHODS
from core.results.costs import COST_AXES, pareto_front
from core.results.figures import cost_volume_figure
from core.results.text import method_name
from core.task.sizes import size_label, size_order

# One colour per method everywhere, from the methods' specs (their dash too: core.results.figures draws it). Red is
# kept out: it means "transfer hurts" (and, for answers, "made up").
METHOD_COLORS = {name: spec.colour for name, spec in METHODS.items()}
HURTS = "#D62728"
SPLIT_COLORS = {"train": "#1F77B4", "validation": "#9AA5B1", "test": "#FF7F0E"}
HEIGHT = 430
TITLE_CHARS = 26  # characters a title line holds in 230 px at 16 px (a half-width chart on an 800 px screen)
NOTE_CHARS = 36  # and a note line, at 12 px
LEGEND_BELOW = {"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0, "title": None}  # frees a half-width chart
# at the very bottom, under the x-axis title: Compare and the report draw these charts half width, where a legend
# beside the plot would take most of a narrow chart's width (the bottom margin is made room for: legend_room)
LEGEND_UNDER_AXIS = {"orientation": "h", "yref": "container", "yanchor": "bottom", "y": 0.0, "x": 0, "title": None}


def legend_room(figure: go.Figure) -> None:
    """A bottom margin for LEGEND_UNDER_AXIS: the x axis, then a row per two entries (a narrow chart's worst case)."""
    entries = sum(1 for trace in figure.data if trace.showlegend is not False)
    rows = math.ceil(entries / 2)
    figure.update_layout(margin_b=60 + 22 * rows, height=(figure.layout.height or HEIGHT) + 22 * rows)


def color(method: str) -> str:
    return METHOD_COLORS.get(method, "#444444")


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _wrap(text: str, width: int) -> str:
    return "<br>".join(textwrap.wrap(text, width)) if text else ""


def layout(figure: go.Figure, title: str, x: str, y: str, note: str = "", **extra) -> go.Figure:
    """Title, axes and legend; the title short and wrapped (a half-width chart on an 800 px screen is about 230 px
    wide: nothing is cut off), what to read in the chart in smaller type below it (note)."""
    extra.setdefault("height", HEIGHT)
    # beside the plot, one entry a line: seven methods never run into the title
    extra.setdefault("legend", {"orientation": "v", "yanchor": "top", "y": 1.0, "x": 1.02, "title": None})
    title_lines = _wrap(title, TITLE_CHARS).count("<br>") + 1
    note_lines = _wrap(note, NOTE_CHARS).count("<br>") + 1 if note else 0
    heading = {"text": _wrap(title, TITLE_CHARS), "x": 0, "xanchor": "left", "font": {"size": 16}}
    if note:
        heading["subtitle"] = {"text": _wrap(note, NOTE_CHARS), "font": {"size": 12, "color": "#52606D"}}
    figure.update_layout(title=heading, template="plotly_white",
                         margin={"l": 60, "r": 20, "t": 30 + 20 * title_lines + 16 * note_lines, "b": 55},
                         xaxis_title=x, yaxis_title=y, hoverlabel={"namelength": -1}, **extra)
    return figure


def _money_axis(axis, values) -> None:
    """Dollar ticks a person reads: $0.00002, not 20µ (nor $0.0000 on a log axis spanning decades)."""
    if axis.type == "log":  # ticks at powers of ten: two significant digits, never rounded to zero
        axis.update(tickprefix="$", tickformat=",.2~r", exponentformat="none")
        return
    largest = float(max(values, default=1.0)) or 1.0
    decimals = min(8, max(2, 1 - math.floor(math.log10(largest))))
    axis.update(tickprefix="$", tickformat=f",.{decimals}f", exponentformat="none")


def _log_axis(axis, suffix: str = "") -> None:
    """Powers of ten only (no 2 and 5 in between), with SI suffixes: 1k, 10M, 100MB."""
    axis.update(type="log", dtick=1, exponentformat="SI", ticksuffix=suffix)


def _sizes(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["size"].unique(), key=size_order)


def _unit_axis(unit: str) -> str:
    return "training examples per class" if unit == "per_class" else "training examples"


def learning_curves_chart(curves: pd.DataFrame, unit: str = "per_class", quality: str = "accuracy",
                          band: str | None = None) -> go.Figure:
    """Accuracy (or answer match: `quality`) against training-set size, one line per method, its 95% interval
    as a band: every method's, or only `band`'s (where many overlap). With one size there is nothing to draw a line
    through: each method is a point with its interval. A method that uses no training data is at no size: it is a
    level line across the chart (core.results.analysis repeats its one result at every size)."""
    figure = go.Figure()
    unsized = curves.method.map(lambda m: m in METHODS and not METHODS[m].uses_training_data) if len(curves) else []
    sized = curves[~unsized] if len(curves) else curves
    one_size = sized["size"].nunique() == 1
    for method, group in sized.groupby("method", sort=False):
        group = group.sort_values("size", key=lambda s: s.map(size_order))
        x = list(group["size"])
        if (band is None or band == method) and not one_size:
            figure.add_trace(go.Scatter(
                x=x + x[::-1], y=list(group.accuracy_high) + list(group.accuracy_low)[::-1], fill="toself",
                mode="lines", fillcolor=_rgba(color(method), 0.25 if band else 0.15), line={"width": 0},
                hoverinfo="skip", showlegend=False, name=f"{method_name(method)} 95% interval", legendgroup=method))
        interval = {"type": "data", "symmetric": False, "array": group.accuracy_high - group.accuracy,
                    "arrayminus": group.accuracy - group.accuracy_low, "color": _rgba(color(method), 0.6)}
        figure.add_trace(go.Scatter(
            x=x, y=group.accuracy, mode="markers" if one_size else "lines+markers", name=method_name(method),
            legendgroup=method,
            line={"color": color(method), "width": 2.5}, marker={"size": 11 if one_size else 8, "color": color(method)},
            error_y=interval if one_size else None, offsetgroup=method if one_size else None,
            customdata=group[["accuracy_low", "accuracy_high", "seeds"]].to_numpy(),
            hovertemplate=f"<b>{method_name(method)}</b> at %{{x}}<br>{quality} %{{y:.3f}} [%{{customdata[0]:.3f}}, "
                          "%{customdata[1]:.3f}]<br>%{customdata[2]} seed(s)<extra></extra>"))
    for method, group in curves[unsized].groupby("method", sort=False) if len(curves) else ():
        _level_line(figure, method, group.iloc[0], quality, band is None or band == method)
    layout(figure, f"{quality.capitalize()} as training data grows", _unit_axis(unit), quality,
            note=("bars" if one_size else "bands") + ": 95% intervals" if band is None or one_size
            else f"band: {method_name(band)}'s 95% interval", legend=LEGEND_UNDER_AXIS,
            scattermode="group" if one_size else None)
    legend_room(figure)
    categories = _sizes(sized) if len(sized) else []
    figure.update_xaxes(type="category", categoryorder="array", categoryarray=categories)
    return figure


def _level_line(figure: go.Figure, method: str, row, quality: str, interval: bool) -> None:
    """A method that uses no training data: a dashed level line across the chart at its result, its interval a
    faint band (where intervals are shown), named in the legend as learning from no training data."""
    if interval:
        figure.add_hrect(y0=row.accuracy_low, y1=row.accuracy_high, line_width=0, layer="below",
                         fillcolor=_rgba(color(method), 0.08))
    figure.add_hline(y=row.accuracy, line={"color": color(method), "dash": "dash", "width": 2})
    figure.add_trace(go.Scatter(  # the legend entry (a shape has none), and what a hover on the legend names
        x=[None], y=[None], mode="lines", name=f"{method_name(method)} (no training data)", legendgroup=method,
        line={"color": color(method), "dash": "dash", "width": 2},
        hovertemplate=f"<b>{method_name(method)}</b>, no training data<br>{quality} {row.accuracy:.3f} "
                      f"[{row.accuracy_low:.3f}, {row.accuracy_high:.3f}]<extra></extra>"))


def accuracy_cost_chart(table: pd.DataFrame, cost: str = "train_dollars", unit: str = "per_class",
                        quality: str = "accuracy") -> go.Figure:
    """Accuracy (or answer match) against one cost per (method, size); the Pareto front (nothing cheaper is as
    good) marked, each of its points labelled with its size beside its ring, where no other point is, and drawn
    last so no marker covers a label."""
    frame = table.dropna(subset=[cost, "accuracy"])
    figure = go.Figure()
    front = frame[pareto_front(frame, cost)].sort_values(cost) if len(frame) else frame
    spread = bool(len(frame) and (frame[cost] > 0).all() and frame[cost].max() / frame[cost].min() > 50)
    figure.add_trace(go.Scatter(x=front[cost], y=front.accuracy, mode="lines", name="Pareto front",
                                line={"color": "#1F2933", "dash": "dot", "width": 1.5, "shape": "hv"},
                                hoverinfo="skip"))
    for method, group in frame.groupby("method", sort=False):
        labels = [size_label(s, unit) for s in group["size"]]
        figure.add_trace(go.Scatter(
            x=group[cost], y=group.accuracy, mode="markers", name=method_name(method),
            marker={"color": color(method), "size": 11},
            error_y={"type": "data", "symmetric": False, "array": group.accuracy_high - group.accuracy,
                     "arrayminus": group.accuracy - group.accuracy_low, "color": _rgba(color(method), 0.5)},
            text=labels, hovertemplate=f"<b>{method_name(method)}</b>, %{{text}}<br>{quality} %{{y:.3f}}<br>"
                                       f"{COST_AXES.get(cost, cost)} %{{x:.4g}}<extra></extra>"))
    texts = _front_labels(front["size"], unit)
    figure.add_trace(go.Scatter(x=front[cost], y=front.accuracy, mode="markers+text", showlegend=False,
                                hoverinfo="skip", name="on the front", text=texts,
                                textposition=_front_label_spots(frame, front, cost, texts, spread),
                                textfont={"size": 11, "color": "#1F2933"}, cliponaxis=False,
                                marker={"size": 20, "color": "rgba(0,0,0,0)",
                                        "line": {"color": "#1F2933", "width": 2}}))
    layout(figure, f"{quality.capitalize()} against cost", COST_AXES.get(cost, cost), quality,
            note="ringed: the Pareto front, labelled with its size", legend=LEGEND_UNDER_AXIS)
    legend_room(figure)
    if spread:
        _log_axis(figure.layout.xaxis, "B" if cost == "bytes_stored" else "")
    if cost == "train_dollars":
        _money_axis(figure.layout.xaxis, frame[cost])
    elif cost == "bytes_stored":
        figure.update_xaxes(ticksuffix="B", exponentformat="SI")
    return figure


PLOT_PX = (380, 250)  # the plot area of a half-width chart at 1440 px, about: where labels are placed


def _front_label_spots(frame: pd.DataFrame, front: pd.DataFrame, cost: str, texts: list[str],
                       log_x: bool) -> list[str]:
    """Where each front label goes (label_spots): clear of every point drawn, the front's and every method's, and of
    their interval bars (points along each bar count as points to keep clear of)."""
    if front.empty:
        return []
    at = (lambda v: math.log10(v)) if log_x else float
    xs, ys = [at(v) for v in front[cost]], list(front.accuracy)
    bars = "accuracy_low" in frame and "accuracy_high" in frame
    for row in frame.itertuples():
        along = [row.accuracy_low + (row.accuracy_high - row.accuracy_low) * k / 4 for k in range(5)] if bars else []
        for y in [row.accuracy, *along]:
            xs.append(at(getattr(row, cost)))
            ys.append(y)
    extent = (float(frame.accuracy_low.min()), float(frame.accuracy_high.max())) if bars else None
    spots = label_spots(xs, ys, [*texts, *[""] * (len(xs) - len(texts))], extent, *PLOT_PX)
    return spots[:len(front)]


def _as_text(labels) -> list[str]:
    """Labels from the user's data as plotly shows text: it draws <a href>, <b> and the like in axis labels and hover
    text, so their characters are escaped as HTML (plotly shows the entities as the characters they stand for)."""
    return [html.escape(str(label)) for label in labels]


def _front_labels(sizes, unit: str) -> list[str]:
    """Each Pareto point's training-set size, said once for a run of neighbours of the same size (less clutter)."""
    labels, previous = [], None
    for size in sizes:
        label = size_label(size, unit)
        labels.append("" if label == previous else label)
        previous = label
    return labels


def per_class_f1_chart(f1: pd.DataFrame, unit: str = "per_class") -> go.Figure:
    """F1 per class (columns) and option (rows): which classes each method gets wrong."""
    rows = f1.assign(option=[f"{method_name(m)} · {size_label(s, unit)}" for m, s in zip(f1.method, f1["size"])])
    grid = rows.pivot_table(index="option", columns="label", values="f1", sort=False)
    figure = go.Figure(go.Heatmap(z=grid.to_numpy(), x=_as_text(grid.columns), y=list(grid.index), zmin=0, zmax=1,
                                  colorscale="Blues", texttemplate="%{z:.2f}", colorbar={"title": "F1"},
                                  hovertemplate="%{y}<br>class %{x}: F1 %{z:.3f}<extra></extra>"))
    layout(figure, "F1 per class", "class", "", height=max(HEIGHT, 120 + 28 * len(grid)))
    figure.update_yaxes(autorange="reversed")
    return figure


def negative_transfer_chart(transfer: pd.DataFrame, reference: str = DEFAULT_REFERENCE, unit: str = "per_class",
                            quality: str = "accuracy") -> go.Figure:
    """Each method minus the reference, per size, with 95% intervals; cells where transfer hurts in red."""
    pooled = transfer[transfer.seed.isna()]
    figure = go.Figure()
    figure.add_hrect(y0=min(-0.05, float(pooled.low.min()) - 0.08) if len(pooled) else -0.1, y1=0, line_width=0,
                     fillcolor=_rgba(HURTS, 0.06), layer="below")
    figure.add_hline(y=0, line={"color": "#1F2933", "width": 1.2})
    for method, group in pooled.groupby("method", sort=False):
        group = group.sort_values("size", key=lambda s: s.map(size_order))
        hurts = group.hurts.astype(bool).tolist()
        figure.add_trace(go.Scatter(  # the legend entry: the method's colour, whatever its first cell shows
            x=[None], y=[None], mode="markers", name=method_name(method), legendgroup=method,
            marker={"color": color(method)}))
        figure.add_trace(go.Scatter(
            x=group["size"], y=group.difference, mode="markers+text", name=method_name(method), legendgroup=method,
            offsetgroup=method, showlegend=False, text=["hurts" if h else "" for h in hurts],
            textposition="middle right", textfont={"color": HURTS, "size": 12},
            marker={"color": [HURTS if h else color(method) for h in hurts], "size": [16 if h else 10 for h in hurts],
                    "symbol": ["x" if h else "circle" for h in hurts], "line": {"width": 0}},
            error_y={"type": "data", "symmetric": False, "array": group.high - group.difference,
                     "arrayminus": group.difference - group.low, "color": color(method), "thickness": 1.5},
            customdata=group[["low", "high"]].assign(verdict=["TRANSFER HURTS" if h else "" for h in hurts]).to_numpy(),
            hovertemplate=f"<b>{method_name(method)}</b> at %{{x}}<br>%{{y:+.3f}} vs {method_name(reference)} "
                          "[%{customdata[0]:+.3f}, "
                          "%{customdata[1]:+.3f}]<br><b>%{customdata[2]}</b><extra></extra>"))
    if pooled.hurts.astype(bool).any():
        figure.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="transfer hurts",
                                    marker={"color": HURTS, "symbol": "x", "size": 12}))
    layout(figure, f"{quality.capitalize()} minus {method_name(reference)}", _unit_axis(unit),
            f"difference vs {method_name(reference)}",
            note="with 95% intervals; below 0: worse than the reference", scattermode="group")
    figure.update_xaxes(type="category", categoryorder="array", categoryarray=_sizes(pooled) if len(pooled) else [])
    return figure


def cost_volume_chart(costs: pd.DataFrame, break_even: pd.DataFrame) -> go.Figure:
    """Total cost (train once, then pay per query) against query volume; break-even points marked: the report's
    figure (core.results.figures.cost_volume_figure, one line per method), laid out for a dashboard column."""
    figure = cost_volume_figure(costs, break_even)
    layout(figure, "Total cost against query volume", "queries served", "total cost",
            note="train once, then pay per query; ◆ break-even")
    _log_axis(figure.layout.xaxis)
    if len(costs) and (costs.total_dollars > 0).all():
        _log_axis(figure.layout.yaxis)
    figure.update_yaxes(tickprefix="$", exponentformat="none", tickformat=",~g")
    return figure


OVERLAP_SYMBOLS = ["circle", "diamond-open", "x-thin-open", "square-open"]
OVERLAP_DASHES = ["dash", "dot", "dashdot", "longdash"]
OVERLAP_SHIFT = 0.1  # each line hidden under an identical one moves right by 10% (on the log axis), so both show


def storage_chart(storage: pd.DataFrame) -> go.Figure:
    """Bytes to keep N task variants: adapters and heads share one base model, full copies do not.

    Methods that store exactly as much (a full fine-tune and training from scratch keep a whole model each) would
    draw one line over the other: each later one is drawn shifted a little to the right, with its own marker and
    dash, and named "(same as ...)" in the legend; its hover shows the true count of variants."""
    figure = go.Figure()
    drawn: list[tuple[str, list]] = []  # (method, its bytes) already on the chart
    for method, group in storage.groupby("method", sort=False):
        group = group.sort_values("variants")
        shared = bool(group.shares_base_model.iloc[0])
        values = group["bytes"].astype(float).tolist()
        same = [other for other, seen in drawn if len(seen) == len(values) and
                all(abs(a - b) <= 0.01 * max(abs(a), abs(b), 1.0) for a, b in zip(seen, values))]
        drawn.append((method, values))
        k = len(same)
        name = f"{method_name(method)} (same as {method_name(same[0])})" if same else method_name(method)
        figure.add_trace(go.Scatter(
            x=group.variants * (1 + OVERLAP_SHIFT * k), y=group["bytes"], mode="lines+markers", name=name,
            customdata=group.variants, line={"color": color(method), "width": max(1.5, 2.5 - 0.5 * k),
                                             "dash": ("solid" if shared else OVERLAP_DASHES[k % len(OVERLAP_DASHES)])},
            marker={"symbol": OVERLAP_SYMBOLS[k % len(OVERLAP_SYMBOLS)], "size": 8 + 2 * k,
                    "line": {"width": 2, "color": color(method)}},
            hovertemplate=f"<b>{method_name(method)}</b> "
                          f"({'base model once + small part each' if shared else 'a full copy each'})"
                          "<br>%{customdata} variants: %{y:.3s}B<extra></extra>"))
    layout(figure, "Storage of N task variants", "task variants", "storage",
            note="solid: one base model shared; dashed: a whole copy each")
    _log_axis(figure.layout.xaxis)
    if len(storage) and (storage["bytes"] > 0).all():
        _log_axis(figure.layout.yaxis, "B")
    return figure


def class_balance_chart(class_counts: dict[str, dict[str, int]]) -> go.Figure:
    """Examples per class in each split (the Data page's first check)."""
    figure = go.Figure()
    for split, counts in class_counts.items():
        labels = sorted(counts)
        figure.add_trace(go.Bar(x=_as_text(labels), y=[counts[label] for label in labels], name=split,
                                marker_color=SPLIT_COLORS.get(split)))
    layout(figure, "Examples per class", "class", "examples", barmode="group")
    return figure


LABEL_SPOTS = {"top center": (0.0, 1.0), "bottom center": (0.0, -1.0), "middle right": (1.0, 0.0),
               "middle left": (-1.0, 0.0)}


def label_spots(x: list[float], y: list[float], texts: list[str], y_range: tuple[float, float] | None = None,
                width_px: float = 800, height_px: float = 260) -> list[str]:
    """Where each point's label goes (plotly textposition) so labels overlap one another and the points as little as
    they can: of above, below, right and left (in that order on a tie), the one whose box (about 6.5 px a character,
    14 px high) clashes least. y_range: the y axis's extent (error bars widen it beyond the points)."""
    if not x:
        return []
    low, high = y_range or (min(y), max(y))
    span_x, span_y = (max(x) - min(x)) or 1.0, (high - low) or 1.0
    px = [40 + (a - min(x)) / span_x * (width_px - 80) for a in x]  # plotly pads the axis beyond the points
    py = [(b - low) / span_y * height_px for b in y]
    taken: list[tuple[float, float, float, float]] = []
    spots = []

    def overlap(a, b) -> float:
        return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))

    for i, text in enumerate(texts):
        w, h = 6.5 * len(text), 14.0
        scored = []
        for order, (spot, (dx, dy)) in enumerate(LABEL_SPOTS.items()):
            cx, cy = px[i] + dx * (w / 2 + 8), py[i] + dy * (h / 2 + 8)
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            outside = not (-20 <= box[0] and box[2] <= width_px + 40 and -30 <= box[1] and box[3] <= height_px + 40)
            markers = sum(box[0] - 2 < px[j] < box[2] + 2 and box[1] - 2 < py[j] < box[3] + 2
                          for j in range(len(x)) if j != i)
            # the least clash: off the chart worst, then over another point, then by the area over other labels
            scored.append((10_000 * outside + 400 * markers + sum(overlap(box, b) for b in taken), order, spot, box))
        _, _, spot, box = min(scored)
        taken.append(box)
        spots.append(spot)
    return spots


def forgetting_chart(summary: pd.DataFrame) -> go.Figure:
    """Recall a fine-tune lost on the forgetting probe against the task accuracy it reached: one line per
    method through its settings (core.results.forgetting.forgetting_summary), so settings are compared at matched
    accuracy by reading up and down."""
    figure = go.Figure()
    ordered = summary.sort_values("accuracy")
    # each label where it overlaps no other label or point, so settings at about the same accuracy stay legible
    extent = (min(0.0, ordered.recall_lost_low.min() * 100), ordered.recall_lost_high.max() * 100)
    ordered = ordered.assign(spot=label_spots(list(ordered.accuracy), list(ordered.recall_lost * 100),
                                              list(ordered.setting), extent))
    for method, group in ordered.groupby("method", sort=False):
        figure.add_trace(go.Scatter(
            x=group.accuracy, y=group.recall_lost * 100, mode="lines+markers+text", name=method_name(method),
            text=group.setting, textposition=list(group.spot), textfont={"size": 11, "color": color(method)},
            line={"color": color(method), "dash": METHODS[method].dash if method in METHODS else "solid"},
            marker={"size": 10, "color": color(method)}, cliponaxis=False,
            error_y={"type": "data", "symmetric": False, "array": (group.recall_lost_high - group.recall_lost) * 100,
                     "arrayminus": (group.recall_lost - group.recall_lost_low) * 100,
                     "color": _rgba(color(method), 0.5)},
            hovertemplate=f"<b>{method_name(method)}</b>, %{{text}}<br>task accuracy %{{x:.3f}}<br>recall lost "
                          "%{y:.1f} "
                          "points<extra></extra>"))
    probe = summary.probe.iloc[0] if len(summary) else ""
    layout(figure, "Forgetting against task accuracy", "task accuracy", f"recall lost on the {probe} probe (points)",
            note="each point a setting (mean over seeds; 95% interval); compare methods at the same accuracy",
            legend=LEGEND_UNDER_AXIS)
    legend_room(figure)
    figure.add_hline(y=0, line={"color": "#9AA5B1", "width": 1})
    return figure
