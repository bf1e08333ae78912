"""The decision report: recommendation, reasons, evidence, data provenance, environment. Markdown or HTML.

Pure: frames and figures (already rendered to HTML fragments) in, one string out, so the dashboard,
a script or a test produce the same file::

    report = build_report(store.experiment(name), summary, recommend(summary, constraints), constraints)
    Path("decision.md").write_text(to_markdown(report))
    Path("decision.html").write_text(to_html(report, {"Accuracy against cost": fig.to_html(full_html=False,
                                                                                          include_plotlyjs=False)}))

The HTML file is self-contained: plotly.js is embedded once, so it opens offline and can be mailed.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.errors import AdaptlabError
from core.methods import DEFAULT_REFERENCE, METHODS
from core.paths import now
from core.results.decision import (
    Constraints,
    Recommendation,
    break_even_queries,
    money,
    option_label,
    quality_name,
    same_serving_cost,
    total_cost,
    updates_without_training,
)
from core.results.tuning import tuning_lines, tuning_table
from core.running.grid import RunSpec
from core.task.sizes import NO_TRAINING_DATA, size_label, size_order
from core.task.uploads import upload_info

QUESTION = ("For this task and data, should we prompt, retrieve (RAG), train a LoRA adapter, fully fine-tune, "
            "or train from scratch, and what does each cost?")


@dataclass
class DecisionReport:
    experiment: str
    recommendation: Recommendation
    constraints: Constraints
    results: pd.DataFrame  # display-ready results table (strings)
    provenance: list[dict]  # one per data source: source, file, sha256, rows, licence
    data_rows: dict  # rows per split, classes, corpus documents
    settings: dict  # what was run: model, methods, sizes, seeds, budget, prices
    environment: dict  # python, platform, device, package versions
    warnings: list[str] = field(default_factory=list)
    failed_runs: list[str] = field(default_factory=list)
    generated_at: str = field(default_factory=now)
    quality: str = "accuracy"  # what the accuracy column measures (core.results.decision.quality_name)
    incomplete: list[str] = field(default_factory=list)  # runs finished of planned, cells short of seeds: at the top
    options: pd.DataFrame = field(default_factory=pd.DataFrame)  # every option at the query volume (strings)
    cost_lines: list[str] = field(default_factory=list)  # break-even volumes, options that cost the same to serve
    pareto: pd.DataFrame = field(default_factory=pd.DataFrame)  # the front of quality against total cost (strings)
    pareto_note: str = ""  # where the chosen option sits relative to the front
    facts_lines: list[str] = field(default_factory=list)  # a QA task with a knowledge update: when facts change
    tuning_lines: list[str] = field(default_factory=list)  # how each option was tuned (core/results/tuning.py)


def provenance_rows(task_info: dict) -> list[dict]:
    """Where the data came from, with the user's own file names and licences for uploads."""
    provenance = task_info.get("provenance", {})
    scenario = provenance.get("scenario")
    if scenario:
        return [{"source": f"built-in scenario '{scenario.get('name')}': {scenario.get('title', '')}",
                 "file": scenario.get("source", ""), "sha256": provenance.get("sha256", ""),
                 "rows": sum(task_info.get("stats", {}).get("rows", {}).values()) or None,
                 "licence": scenario.get("licence") or "not stated"}]
    rows = []
    for source in provenance.get("sources", []):
        info = upload_info(source.get("sha256", "")) or {}
        rows.append({"source": source.get("split", "all splits"),
                     "file": info.get("original_name") or source.get("file"),
                     "sha256": source.get("sha256", ""), "rows": source.get("rows"),
                     "licence": info.get("licence") or "not stated"})
    return rows


def results_rows(summary: pd.DataFrame, reference: str, unit: str, kind: str = "classification") -> pd.DataFrame:
    """The results table as a reader sees it: one row per (method, size), numbers formatted as text.

    The one results table: the Compare page, the decision report and `adaptlab show` all show this.
    A qa task's quality is answer match and its F1 is token F1 (both stored in the classification columns)."""
    if summary.empty:
        return pd.DataFrame()
    nothing = pd.Series(float("nan"), index=summary.index)
    delta = summary.get(f"vs_{reference}", nothing)
    low, high = summary.get(f"vs_{reference}_low", nothing), summary.get(f"vs_{reference}_high", nothing)
    hurts = summary.get("transfer_hurts", pd.Series(False, index=summary.index))
    return pd.DataFrame({
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
        "ms / query": summary.inference_seconds_per_1k.map("{:.2f}".format),
        "peak MB": summary.peak_memory_mb.map("{:,.0f}".format),
        "trainable": summary.trainable_parameters.map(human_count),
        "stored": summary.bytes_stored.map(human_bytes),
    })


HURTS = " (hurts)"  # after a difference to the reference that is reliably below zero (core.results.analysis)
# what a "(hurts)" flag means, for the reader of a table that shows them
HURTS_NOTE = ("(hurts): reliably below the reference, with the error controlled across all the cells compared "
              "(one-sided bootstrap p-values, Benjamini-Hochberg at 2.5%), so a few flags among many cells are not "
              "expected by chance; the interval beside each difference is its 95% paired interval")
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


def human_count(n: float) -> str:
    """A parameter count as a person reads it: 1.2M, 70.0k, 512."""
    if pd.isna(n):
        return ""
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return f"{n:.0f}"


def human_bytes(n: float) -> str:
    if pd.isna(n):
        return ""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n:.0f} B"


def build_report(experiment: dict, summary: pd.DataFrame, recommendation: Recommendation,
                 constraints: Constraints, failed_runs: list[str] = (), runs: pd.DataFrame | None = None
                 ) -> DecisionReport:
    """Gather everything the report shows from a stored experiment (SqlStore.experiment) and its summary.

    `runs` (SqlStore.runs_frame) counts finished runs exactly against the planned grid; without it the
    summary's seeds per option stand in."""
    config, task_info = experiment["config"], experiment.get("task", {})
    unit, reference = config.get("size_unit", "per_class"), config.get("reference", DEFAULT_REFERENCE)
    kind = task_info.get("kind", "classification")
    stats = task_info.get("stats", {})
    settings = {"model": config.get("model", {}).get("name", "default"),
                "max length (tokens)": config.get("model", {}).get("max_length"),
                "methods": ", ".join(config.get("methods", [])),
                "training-set sizes": (", ".join(str(s) for s in config.get("sizes", []))
                                       + f" ({unit.replace('_', ' ')})"),
                "seeds": ", ".join(str(s) for s in config.get("seeds", [])), "reference": reference,
                "budget": ", ".join(f"{k} {v}" for k, v in config.get("budget", {}).items()),
                "prices ($ per device hour)": ", ".join(f"{k} {v}" for k, v in config.get("prices", {}).items())}
    planned = planned_seeds(config)
    results = results_rows(summary, reference, unit, kind)
    if len(results) and planned:
        results["seeds"] = [seeds_text(n, len(planned.get((m, z), ()))) for m, z, n in
                            zip(summary.method, summary["size"], summary.seeds)]
    quality = quality_name(kind)
    pareto, pareto_note = pareto_rows(recommendation, constraints)
    facts = facts_lines(runs, constraints) if runs is not None else []
    tuning = tuning_table(runs, config) if runs is not None else pd.DataFrame()
    tuned = tuning_lines(tuning, config) if len(tuning) else []
    return DecisionReport(facts_lines=facts, tuning_lines=tuned,
        experiment=experiment["name"], recommendation=recommendation, constraints=constraints,
        results=results, provenance=provenance_rows(task_info),
        data_rows={**stats.get("rows", {}), "classes": stats.get("classes"),
                   "corpus documents": stats.get("corpus_documents", 0)},
        settings=settings, environment=task_info.get("environment", {}),
        warnings=list(task_info.get("warnings", [])), failed_runs=list(failed_runs), quality=quality,
        incomplete=completeness(planned, summary, runs, unit),
        options=options_rows(recommendation, constraints, planned),
        cost_lines=cost_lines(recommendation, constraints), pareto=pareto, pareto_note=pareto_note)


# -- how complete the experiment is ----------------------------------------------------------------------------
def planned_seeds(config: dict) -> dict[tuple[str, str], list[int]]:
    """The seeds planned per (method, size) by the experiment's grid (core.running.grid.plan_runs); {} unknown."""
    from core.config import parse_config
    from core.running.grid import plan_runs

    try:
        parsed = parse_config(config, source="the stored config")
        plan = plan_runs(parsed, corpus_only_rag=parsed.rag.source == "corpus")
    except AdaptlabError:  # a config stored by hand (tests, old stores): its methods, sizes and seeds alone
        methods, seeds = config.get("methods") or [], config.get("seeds") or []
        once = [m for m in methods if m in METHODS and not METHODS[m].uses_training_data]
        plan = [RunSpec(m, NO_TRAINING_DATA, seeds[0]) for m in once if seeds]
        plan += [RunSpec(m, str(size), seed) for size in config.get("sizes") or [] for seed in seeds
                 for m in methods if m not in once]
    cells: dict[tuple[str, str], list[int]] = {}
    for spec in plan:
        cells.setdefault((spec.method, spec.size), []).append(spec.seed)
    return cells


def seeds_text(finished, planned: int) -> str:
    """Seeds behind an option: "2", or "1 of 2" where fewer finished than planned."""
    if pd.isna(finished):
        return ""
    return f"{finished:.0f} of {planned}" if planned and finished < planned else f"{finished:.0f}"


def completeness(planned: dict, summary: pd.DataFrame, runs: pd.DataFrame | None, unit: str) -> list[str]:
    """Lines for the top of a report on an incomplete experiment: runs finished of planned, options with fewer
    seeds than planned, options not finished at all. Empty when every planned run finished."""
    if not planned:
        return []
    total = sum(len(seeds) for seeds in planned.values())
    done: dict[tuple[str, str], int] = {}
    failed = 0
    if runs is not None and len(runs) and "run_key" in runs:
        finished_keys, failed_keys = set(runs.run_key[runs.status == "finished"]), set(
            runs.run_key[runs.status == "failed"])
        for (method, size), seeds in planned.items():
            keys = {f"{method}|{size}|{seed}" for seed in seeds}
            done[(method, size)] = len(keys & finished_keys)
            failed += len(keys & failed_keys - finished_keys)
    else:
        counts = {(m, z): n for m, z, n in zip(summary.method, summary["size"], summary.seeds)} \
            if len(summary) and "seeds" in summary else {}
        done = {cell: min(int(counts.get(cell, 0)), len(seeds)) for cell, seeds in planned.items()}
    finished = sum(done.values())
    if finished >= total:
        return []
    cells = sorted(planned, key=lambda c: (size_order(c[1]), list(METHODS).index(c[0]) if c[0] in METHODS else 99))
    short = [f"{option_label(m, z, unit)} {done[(m, z)]} of {len(planned[(m, z)])}" for m, z in cells
             if 0 < done[(m, z)] < len(planned[(m, z)])]
    missing = [option_label(m, z, unit) for m, z in cells if done[(m, z)] == 0]
    waiting = total - finished - failed
    why = ", ".join(part for part in (f"{failed} failed" if failed else "",
                                      f"{waiting} not finished yet" if waiting and runs is not None else "") if part)
    lines = [f"Incomplete experiment: {finished} of {total} planned runs finished" + (f" ({why})" if why else "")
             + ". The results and the recommendation may change as the rest finish."]
    if short:
        lines.append("Options with fewer seeds than planned: " + "; ".join(short) + ".")
    if missing:
        lines.append("Options with no finished run (not in the results): " + ", ".join(missing) + ".")
    return lines


# -- the options at the user's query volume: the cost that decides -------------------------------------------------
def options_rows(rec: Recommendation, constraints: Constraints, planned: dict | None = None) -> pd.DataFrame:
    """Every option as the decision sees it: quality, seeds, training (times its retrains), cost per 1,000
    queries and total cost at the query volume, latency, and its status (chosen, tied with the best, on the
    Pareto front, ruled out and why). Most accurate first."""
    frame = rec.candidates
    if frame is None or frame.empty:
        return pd.DataFrame()
    frame = frame.sort_values(["accuracy", "total_dollars"], ascending=[False, True])
    planned = planned or {}
    why = {"meets_accuracy": f"below the {rec.quality} floor", "meets_budget": "over budget",
           "meets_latency": "too slow"}

    def status(row) -> str:
        words = []
        if row.get("chosen"):
            words.append("chosen")
        if row.get("tied") and rec.met:
            words.append("tied with the best")
        if not row.feasible:
            words.append("ruled out: " + ", ".join(w for k, w in why.items() if not row[k]))
        if row.get("pareto"):
            words.append("Pareto front")
        return "; ".join(words)

    seeds = frame.seeds if "seeds" in frame else pd.Series(np.nan, index=frame.index)
    return pd.DataFrame({
        "option": [option_label(m, z, rec.unit) for m, z in zip(frame.method, frame["size"])],
        f"{rec.quality} [95% interval]": [f"{a:.3f} [{lo:.3f}, {hi:.3f}]" for a, lo, hi in
                                          zip(frame.accuracy, frame.accuracy_low, frame.accuracy_high)],
        "seeds": [seeds_text(n, len(planned.get((m, z), ()))) for m, z, n in zip(frame.method, frame["size"], seeds)],
        "to train": [money(t * r * constraints.variants) + (f" ({r:.0f}×)" if r > 1 else "") for t, r in
                     zip(frame.train_dollars, frame.retrains)],
        # labelling and storing its models, every variant, over the period (decision.fixed_dollars)
        "labels + storage": (frame.fixed_dollars - frame.train_dollars * frame.retrains * constraints.variants)
        .map(money) if "fixed_dollars" in frame else "",
        "per 1,000 queries": frame.inference_dollars_per_1k.map(money),
        f"total at {constraints.queries:,} queries": frame.total_dollars.map(money),
        "ms / query (alone)": frame.latency_ms.map(lambda v: "" if pd.isna(v) else f"{v:.2f}"),
        "status": [status(row) for _, row in frame.iterrows()],
    })


def contenders(rec: Recommendation, ruled_out: bool = False) -> pd.DataFrame:
    """The options the cost comparison shows: the chosen one and, per other method, its most accurate option
    that meets every constraint (any option when nothing meets them all). ruled_out: methods with no option
    that meets them are shown too, by their most accurate option."""
    frame = rec.candidates
    if frame is None or frame.empty or rec.method is None:
        return pd.DataFrame()
    picked = [frame[frame.chosen].iloc[0]]
    for _, group in frame[frame.method != rec.method].groupby("method", sort=False):
        pool = group[group.feasible] if rec.met else group
        if pool.empty and ruled_out:
            pool = group
        if len(pool):
            picked.append(pool.sort_values(["accuracy", "total_dollars"], ascending=[False, True]).iloc[0])
    return pd.DataFrame(picked).reset_index(drop=True)


def cost_lines(rec: Recommendation, constraints: Constraints) -> list[str]:
    """Break-even volumes between the chosen option and the others, where their per-query costs differ by more
    than their noise; the options that cost the same to serve as it, where they do not."""
    table = contenders(rec)
    if table.empty:
        return []
    chosen = option_label(rec.method, rec.size, rec.unit)
    retrains = constraints.retrains_counted
    mine = lambda m, z: (m, z) == (rec.method, rec.size)  # noqa: E731
    points = break_even_queries(table, retrains, constraints=constraints)
    points = points[[mine(a, b) or mine(c, d) for a, b, c, d in zip(
        points.cheaper_first, points.cheaper_first_size, points.cheaper_after, points.cheaper_after_size)]]
    lines = [f"Beyond {row.queries:,.0f} queries, {option_label(row.cheaper_after, row.cheaper_after_size, rec.unit)} "
             f"costs less in total than {option_label(row.cheaper_first, row.cheaper_first_size, rec.unit)} "
             f"(both {money(row.total_dollars)} there)." for row in points.itertuples()]
    same = same_serving_cost(table)
    for row in same.itertuples():
        if mine(row.method, row.size) or mine(row.other, row.other_size):
            other = option_label(row.other, row.other_size, rec.unit) if mine(row.method, row.size) else \
                option_label(row.method, row.size, rec.unit)
            lines.append(f"{chosen} and {other} cost the same to serve ({money(row.dollars_per_1k)} and "
                         f"{money(row.other_dollars_per_1k)} per 1,000 queries, within the noise of the measurement):"
                         " no query volume changes which is cheaper; training decides.")
    if not lines:
        lines.append(f"No break-even volume with {chosen}: against each other option shown, the same one is cheaper "
                     "in total at every query volume.")
    if retrains > 1:
        lines.append(f"Totals include {retrains} trainings for options that train (the data changes often).")
    return lines


def pareto_rows(rec: Recommendation, constraints: Constraints) -> tuple[pd.DataFrame, str]:
    """The Pareto front of quality against total cost at the query volume (nothing cheaper is as good), the
    chosen option marked; and a sentence on where the chosen option sits."""
    frame = rec.candidates
    if frame is None or frame.empty or "pareto" not in frame:
        return pd.DataFrame(), ""
    shown = frame[frame.pareto | frame.chosen].sort_values("total_dollars")
    table = pd.DataFrame({
        "option": [option_label(m, z, rec.unit) + (" ← chosen" if c else "") for m, z, c in
                   zip(shown.method, shown["size"], shown.chosen)],
        rec.quality: shown.accuracy.map("{:.3f}".format),
        f"total at {constraints.queries:,} queries": shown.total_dollars.map(money),
        "on the front": ["yes" if p else "no" for p in shown.pareto],
        "meets the constraints": ["yes" if f else "no" for f in shown.feasible]})
    chosen = frame[frame.chosen]
    if chosen.empty:
        return table, ""
    row = chosen.iloc[0]
    where = option_label(row.method, row["size"], rec.unit)
    if row.pareto:
        note = f"{where} is on the front: no option is both cheaper at {constraints.queries:,} queries and better."
    else:
        better = frame[(frame.total_dollars <= row.total_dollars) & (frame.accuracy >= row.accuracy) & ~frame.chosen]
        names = ", ".join(option_label(m, z, rec.unit) for m, z in zip(better.method, better["size"]))
        if len(better) and not better.feasible.any():
            note = (f"{where} is not on the front: {names} cost less and do as well, but are ruled out by the "
                    "constraints.")
        else:
            stays = " (it stays current as the data changes)" if constraints.data_changes_often and \
                updates_without_training(row.method) else ""
            note = (f"{where} is not on the front: {names} cost less at {constraints.queries:,} queries and measure "
                    f"as well or better; it is chosen for the reasons above{stays}.")
    return table, note


# -- figures for the HTML report, from plotly directly (core never imports the dashboard) ------------------------
def _colour(method: str) -> str:
    return METHODS[method].colour if method in METHODS else "#444444"


def cost_volume_figure(rec: Recommendation, constraints: Constraints):
    """Total cost against query volume for the chosen option and the best other option of each method; the
    user's volume and the break-even points with the chosen option marked."""
    import plotly.graph_objects as go

    table = contenders(rec, ruled_out=True)
    figure = go.Figure()
    if table.empty:
        return figure
    feasible = {(m, z): bool(f) for m, z, f in zip(table.method, table["size"], table.feasible)}
    centre = np.log10(max(constraints.queries, 1))
    volumes = np.unique(np.append(np.logspace(max(0.0, centre - 3), centre + 3, 61), max(constraints.queries, 1)))
    costs = total_cost(table, volumes, constraints=constraints)
    for (method, size), group in costs.groupby(["method", "size"], sort=False):
        chosen = (method, size) == (rec.method, rec.size)
        out = rec.met and not feasible[(method, size)]
        label = option_label(method, size, rec.unit) + (" (chosen)" if chosen else " (ruled out)" if out else "")
        figure.add_trace(go.Scatter(x=group.queries, y=group.total_dollars, mode="lines", name=label,
                                    opacity=0.45 if out else 1.0,
                                    line={"color": _colour(method), "width": 4 if chosen else 1.5 if out else 2.5,
                                          "dash": "solid" if chosen else "dot" if out else "dash"},
                                    hovertemplate=f"<b>{html.escape(label)}</b><br>%{{x:,.0f}} queries: "
                                                  "$%{y:,.4f}<extra></extra>"))
    points = break_even_queries(contenders(rec), constraints=constraints)
    if len(points):
        text = [f"beyond {q:,.0f} queries {option_label(a, az, rec.unit)} is cheaper than "
                f"{option_label(b, bz, rec.unit)}" for q, a, az, b, bz in
                zip(points.queries, points.cheaper_after, points.cheaper_after_size, points.cheaper_first,
                    points.cheaper_first_size)]
        figure.add_trace(go.Scatter(x=points.queries, y=points.total_dollars, mode="markers", name="break-even",
                                    text=text, hovertemplate="%{text}<br>$%{y:,.4f}<extra></extra>",
                                    marker={"symbol": "diamond", "size": 11, "color": "#1F2933"}))
    if constraints.queries > 0:  # a log axis has no zero
        figure.add_vline(x=constraints.queries, line={"color": "#2f6fed", "dash": "dash"})
        # on a log axis an annotation's x is the power of ten
        figure.add_annotation(x=np.log10(constraints.queries), y=1.02, yref="paper", showarrow=False,
                              xanchor="center", text=f"your volume: {constraints.queries:,}",
                              font={"color": "#2f6fed"})
    positive = (costs.total_dollars > 0).all()
    figure.update_layout(title="Total cost against query volume (◆ break-even)", template="plotly_white",
                         showlegend=True, margin={"t": 70},
                         xaxis={"title": "queries served", "type": "log"},
                         yaxis={"title": "total cost ($)", "type": "log" if positive else "linear",
                                "tickprefix": "$"}, height=420)
    return figure


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
        labels = [option_label(m, z, rec.unit) for m, z in zip(group.method, group["size"])]
        figure.add_trace(go.Scatter(
            x=group.total_dollars, y=group.accuracy, mode="markers", name=method, text=labels,
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


def report_figures(report: DecisionReport) -> dict[str, str]:
    """The report's own charts as HTML fragments (plotly.js not included): cost against volume, the Pareto front."""
    rec = report.recommendation
    if rec.candidates is None or rec.candidates.empty:
        return {}
    fragment = lambda figure: figure.to_html(full_html=False, include_plotlyjs=False)  # noqa: E731
    return {"Total cost against query volume": fragment(cost_volume_figure(rec, report.constraints)),
            "Pareto front": fragment(pareto_figure(rec, report.constraints))}


def facts_lines(runs: pd.DataFrame, constraints: Constraints) -> list[str]:
    """For an experiment whose runs took new facts in (a knowledge update): the main fact of the knowledge view and
    which method to use when the facts change (`retrains` times over the period, monthly for a year by default)."""
    from core.results.knowledge import at_size, changing_facts_choice, coverage_table, knowledge_fact, update_table

    if "record" not in runs:  # runs without their records (a summary's source only): nothing to say
        return []
    update = at_size(update_table(runs))
    if update.empty:
        return []
    return [knowledge_fact(at_size(coverage_table(runs)), update),
            changing_facts_choice(update, constraints.retrains, constraints.months)]


def constraint_lines(constraints: Constraints, quality: str = "accuracy") -> list[str]:
    lines = [f"{quality} floor: {constraints.accuracy_floor:.3f}" if constraints.accuracy_floor is not None
             else f"{quality} floor: none",
             f"budget: {money(constraints.budget_dollars)}" if constraints.budget_dollars is not None
             else "budget: none",
             f"latency limit: {constraints.latency_ms:g} ms per query" if constraints.latency_ms is not None
             else "latency limit: none",
             f"expected queries: {constraints.queries:,} over {constraints.months} months",
             f"task variants: {constraints.variants:,} (each labelled, trained and stored)",
             f"labelling: {money(constraints.dollars_per_label)} per example",
             f"storage: {money(constraints.storage_dollars_per_gb_month)} per GB-month"]
    if constraints.data_changes_often:
        lines.append(f"data changes often: trained methods retrain {constraints.retrains} times over the "
                     f"{constraints.months} months")
    return lines


def _environment_lines(environment: dict) -> list[str]:
    lines = [f"device: {environment.get('device', 'unknown')}", f"python: {environment.get('python', 'unknown')}",
             f"platform: {environment.get('platform', 'unknown')}"]
    versions = environment.get("versions", {})
    return lines + [f"{package}: {version or 'not installed'}" for package, version in versions.items()]


# -- Markdown --------------------------------------------------------------------------------------
# What gives characters a meaning inside one line of Markdown as GitHub and Streamlit read it: code, emphasis, links and
# images (no [, no link: "!" and "(" alone mean nothing), raw HTML and <autolinks>, strikethrough, LaTeX, tables,
# entities (&), and a ":" that touches the next character (Streamlit's :red[...], :material/...: and :emoji:).
# "_" only counts at the edge of a word ("max_length" stays as it is).
INLINE_MARKUP = re.compile(r"[\\`*\[\]<~$|&]|:(?=\S)|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
LINE_START = re.compile(r"\d+[.)]|[-+=>#]")  # a list ("-", "+", "1." or "1)"), a quote, a heading, an underline
# Bare links (https://..., www.x, a@b.c) are found by remark-gfm in the text *after* backslash escapes are read, so
# no escape stops them: an invisible WORD JOINER (U+2060) inside each breaks the pattern and shows nothing.
BARE_LINK = re.compile(r"(?i)(?<=https:)(?=//)|(?<=http:)(?=//)|(?<=\bwww)(?=\.)|(?=@)")
JOINER = "\u2060"


def markdown_text(value) -> str:
    """Text that came from a user (a label, a column or file name, a question, an error naming them) to put inside
    Markdown, shown as the characters it is: no image fetched, no link, no emphasis or directive from its
    characters. One line: line breaks become spaces, so it cannot start a heading or a list.

    The one way to do this, for the decision report's Markdown and every dashboard page. Plain sentences come
    through unchanged, so a message reads the same in a terminal and on a page; an address keeps an invisible
    WORD JOINER (BARE_LINK)."""
    text = BARE_LINK.sub(JOINER, " ".join(str(value).split()))
    text = INLINE_MARKUP.sub(lambda mark: "\\" + mark.group(0), text)
    start = LINE_START.match(text)
    return f"{text[:start.end() - 1]}\\{text[start.end() - 1:]}" if start else text


def markdown_table(frame: pd.DataFrame, text: bool = False) -> str:
    """A Markdown table; text=True where its cells came from a user (markdown_text on each)."""
    if frame.empty:
        return "_none_"
    cell = markdown_text if text else lambda value: str(value).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def to_markdown(report: DecisionReport) -> str:
    rec = report.recommendation
    volume = f"{report.constraints.queries:,} queries"
    parts = [f"# Decision report: {markdown_text(report.experiment)}", "", f"_{QUESTION}_", ""]
    if report.incomplete:
        parts += [f"> **{report.incomplete[0]}**", *[f"> {line}" for line in report.incomplete[1:]], ""]
    parts += ["## Recommendation", "", f"**{rec.headline}**", "", *[f"- {r}" for r in rec.reasons], "",
              *(["## When the facts change", "", *[f"- {line}" for line in report.facts_lines], ""]
                if report.facts_lines else []),
              "## Constraints", "", *[f"- {line}" for line in constraint_lines(report.constraints, report.quality)],
              "", f"## Options at {volume}", "", markdown_table(report.options), "",
              "## Cost against query volume", "", *[f"- {line}" for line in report.cost_lines], "",
              f"## Pareto front: {report.quality} against total cost at {volume}", "", markdown_table(report.pareto),
              "", *([report.pareto_note, ""] if report.pareto_note else []),
              "## Results", "", markdown_table(report.results), "", f"_{INTERVALS_NOTE} {HURTS_NOTE}_", "",
              *(["## How each option was tuned", "", *[f"- {line}" for line in report.tuning_lines], ""]
                if report.tuning_lines else [])]
    if report.failed_runs:
        parts += ["Failed runs:", "", *[f"- {markdown_text(line)}" for line in report.failed_runs], ""]
    parts += ["## Data", "", markdown_table(pd.DataFrame(report.provenance), text=True), "",  # file names, licences
              "Rows: " + ", ".join(f"{k} {v}" for k, v in report.data_rows.items() if v is not None), ""]
    if report.warnings:
        parts += ["Data warnings:", "", *[f"- {markdown_text(w)}" for w in report.warnings], ""]  # labels in them
    parts += ["## Settings", "", *[f"- {k}: {markdown_text(v)}" for k, v in report.settings.items()], "",
              "## Environment", "", *[f"- {line}" for line in _environment_lines(report.environment)], "",
              f"_Generated by adaptlab at {report.generated_at}._", ""]
    return "\n".join(parts)


# -- HTML ------------------------------------------------------------------------------------------
STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2rem auto;padding:0 1rem;
color:#1f2933;line-height:1.5}
h1{font-size:1.8rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #e4e7eb;padding-bottom:.3rem}
.question{color:#52606d;font-style:italic}.headline{font-size:1.3rem;font-weight:600;padding:.8rem 1rem;
border-left:5px solid #2f6fed;background:#f0f4ff}.unmet{border-left-color:#d64545;background:#fff0f0}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{border-bottom:1px solid #e4e7eb;padding:.35rem .5rem;
text-align:left}th{background:#f5f7fa}.figure{margin:1.5rem 0}.muted{color:#7b8794;font-size:.85rem}
.incomplete{padding:.6rem 1rem;border-left:5px solid #de911d;background:#fffbea;margin:1rem 0}
"""


def _list(items) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(str(item))}</li>" for item in items) + "</ul>"


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, escape=True, border=0) if not frame.empty else "<p>none</p>"


def _figure(title: str, fragment: str) -> str:
    return f'<div class="figure"><h3>{html.escape(title)}</h3>{fragment}</div>'


def to_html(report: DecisionReport, figures: dict[str, str] | None = None, charts: bool = True) -> str:
    """One self-contained HTML page; `figures` maps a title to a plotly fragment (include_plotlyjs=False) for the
    Evidence section. `charts`: the report's own charts too (report_figures: cost against volume, Pareto front)."""
    figures = figures or {}
    own = report_figures(report) if charts else {}
    rec = report.recommendation
    volume = f"{report.constraints.queries:,} queries"
    plotly_js = ""
    if figures or own:
        from plotly.offline import get_plotlyjs

        plotly_js = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    evidence = "".join(_figure(title, fragment) for title, fragment in figures.items())
    cost_chart, pareto_chart = (own.get(title, "") for title in ("Total cost against query volume", "Pareto front"))
    body = [
        f"<h1>Decision report: {html.escape(report.experiment)}</h1>",
        f'<p class="question">{html.escape(QUESTION)}</p>',
        *([f'<div class="incomplete"><strong>{html.escape(report.incomplete[0])}</strong>',
           _list(report.incomplete[1:]) if len(report.incomplete) > 1 else "", "</div>"] if report.incomplete else []),
        "<h2>Recommendation</h2>",
        f'<p class="headline{"" if rec.met else " unmet"}">{html.escape(rec.headline)}</p>', _list(rec.reasons),
        *(["<h2>When the facts change</h2>", _list(report.facts_lines)] if report.facts_lines else []),
        "<h2>Constraints</h2>", _list(constraint_lines(report.constraints, report.quality)),
        f"<h2>Options at {volume}</h2>", _table(report.options),
        "<h2>Cost against query volume</h2>", _list(report.cost_lines),
        *([_figure("Total cost against query volume", cost_chart)] if cost_chart else []),
        f"<h2>Pareto front: {html.escape(report.quality)} against total cost at {volume}</h2>", _table(report.pareto),
        *([f"<p>{html.escape(report.pareto_note)}</p>"] if report.pareto_note else []),
        *([_figure("Pareto front", pareto_chart)] if pareto_chart else []),
        "<h2>Results</h2>", _table(report.results),
        f"<p><em>{html.escape(INTERVALS_NOTE)} {html.escape(HURTS_NOTE)}</em></p>",
        *(["<h2>How each option was tuned</h2>", _list(report.tuning_lines)] if report.tuning_lines else []),
        *(["<p>Failed runs:</p>", _list(report.failed_runs)] if report.failed_runs else []),
        *(["<h2>Evidence</h2>", evidence] if evidence else []),
        "<h2>Data</h2>", _table(pd.DataFrame(report.provenance)),
        "<p>" + html.escape(", ".join(f"{k} {v}" for k, v in report.data_rows.items() if v is not None)) + "</p>",
        *(["<p>Data warnings:</p>", _list(report.warnings)] if report.warnings else []),
        "<h2>Settings</h2>", _list(f"{k}: {v}" for k, v in report.settings.items()),
        "<h2>Environment</h2>", _list(_environment_lines(report.environment)),
        f'<p class="muted">Generated by adaptlab at {html.escape(report.generated_at)}.</p>',
    ]
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>adaptlab: '
            f'{html.escape(report.experiment)}</title><style>{STYLE}</style>{plotly_js}</head>'
            f'<body>{"".join(body)}</body></html>')
