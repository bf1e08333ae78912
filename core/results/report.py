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
from dataclasses import dataclass, field

import pandas as pd

from core.paths import now
from core.results.decision import Constraints, Recommendation, money, quality_name
from core.running.grid import size_label
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
        rows.append({"source": source.get("split", "all splits"), "file": info.get("original_name") or source.get("file"),
                     "sha256": source.get("sha256", ""), "rows": source.get("rows"),
                     "licence": info.get("licence") or "not stated"})
    return rows


def results_rows(summary: pd.DataFrame, reference: str, unit: str, kind: str = "classification") -> pd.DataFrame:
    """The results table as a reader sees it: one row per (method, size), numbers formatted as text.

    The one results table: the Compare page, the decision report and `adaptlab show` all show this.
    A qa task's quality is answer match and its F1 is token F1 (both stored in the classification columns)."""
    if summary.empty:
        return pd.DataFrame()
    delta = summary.get(f"vs_{reference}", pd.Series(float("nan"), index=summary.index))
    hurts = summary.get("transfer_hurts", pd.Series(False, index=summary.index))
    return pd.DataFrame({
        "method": summary.method,
        "training data": [size_label(s, unit) for s in summary["size"]],
        "seeds": summary.seeds.map(lambda n: "" if pd.isna(n) else f"{n:.0f}"),
        f"{quality_name(kind)} [95% interval]": [f"{a:.3f} [{lo:.3f}, {hi:.3f}]" for a, lo, hi in
                                                 zip(summary.accuracy, summary.accuracy_low, summary.accuracy_high)],
        "token F1" if kind == "qa" else "macro-F1": summary.macro_f1.map("{:.3f}".format),
        f"vs {reference}": [difference_text(d, h) for d, h in zip(delta, hurts)],
        "train s": summary.train_seconds.map(lambda n: "" if pd.isna(n) else f"{n:.1f}"),
        "train $": summary.train_dollars.map(money),
        "ms / query": summary.inference_seconds_per_1k.map("{:.2f}".format),
        "peak MB": summary.peak_memory_mb.map("{:,.0f}".format),
        "trainable": summary.trainable_parameters.map(human_count),
        "stored": summary.bytes_stored.map(human_bytes),
    })


HURTS = " (hurts)"  # after a difference to the reference whose whole interval is below zero


def difference_text(difference: float, hurts) -> str:
    """A method's difference to a reference, "+0.020" or "-0.050 (hurts)"; empty where there is none."""
    return "" if pd.isna(difference) else f"{difference:+.3f}" + (HURTS if hurts is True or hurts == 1 else "")


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
                 constraints: Constraints, failed_runs: list[str] = ()) -> DecisionReport:
    """Gather everything the report shows from a stored experiment (SqlStore.experiment) and its summary."""
    config, task_info = experiment["config"], experiment.get("task", {})
    unit, reference = config.get("size_unit", "per_class"), config.get("reference", "scratch")
    kind = task_info.get("kind", "classification")
    stats = task_info.get("stats", {})
    settings = {"model": config.get("model", {}).get("name", "default"),
                "max length (tokens)": config.get("model", {}).get("max_length"),
                "methods": ", ".join(config.get("methods", [])),
                "training-set sizes": ", ".join(str(s) for s in config.get("sizes", [])) + f" ({unit.replace('_', ' ')})",
                "seeds": ", ".join(str(s) for s in config.get("seeds", [])), "reference": reference,
                "budget": ", ".join(f"{k} {v}" for k, v in config.get("budget", {}).items()),
                "prices ($ per device hour)": ", ".join(f"{k} {v}" for k, v in config.get("prices", {}).items())}
    return DecisionReport(
        experiment=experiment["name"], recommendation=recommendation, constraints=constraints,
        results=results_rows(summary, reference, unit, kind), provenance=provenance_rows(task_info),
        data_rows={**stats.get("rows", {}), "classes": stats.get("classes"),
                   "corpus documents": stats.get("corpus_documents", 0)},
        settings=settings, environment=task_info.get("environment", {}),
        warnings=list(task_info.get("warnings", [])), failed_runs=list(failed_runs), quality=quality_name(kind))


def constraint_lines(constraints: Constraints, quality: str = "accuracy") -> list[str]:
    lines = [f"{quality} floor: {constraints.accuracy_floor:.3f}" if constraints.accuracy_floor is not None
             else f"{quality} floor: none",
             f"budget: {money(constraints.budget_dollars)}" if constraints.budget_dollars is not None else "budget: none",
             f"latency limit: {constraints.latency_ms:g} ms per query" if constraints.latency_ms is not None
             else "latency limit: none",
             f"expected queries: {constraints.queries:,}"]
    if constraints.data_changes_often:
        lines.append(f"data changes often: trained methods retrain {constraints.retrains} times")
    return lines


def _environment_lines(environment: dict) -> list[str]:
    lines = [f"device: {environment.get('device', 'unknown')}", f"python: {environment.get('python', 'unknown')}",
             f"platform: {environment.get('platform', 'unknown')}"]
    versions = environment.get("versions", {})
    return lines + [f"{package}: {version or 'not installed'}" for package, version in versions.items()]


# -- Markdown --------------------------------------------------------------------------------------
def markdown_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_none_"
    cell = lambda value: str(value).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def to_markdown(report: DecisionReport) -> str:
    rec = report.recommendation
    parts = [f"# Decision report: {report.experiment}", "", f"_{QUESTION}_", "",
             "## Recommendation", "", f"**{rec.headline}**", "", *[f"- {r}" for r in rec.reasons], "",
             "## Constraints", "", *[f"- {line}" for line in constraint_lines(report.constraints, report.quality)], "",
             "## Results", "", markdown_table(report.results), ""]
    if report.failed_runs:
        parts += ["Failed runs:", "", *[f"- {line}" for line in report.failed_runs], ""]
    parts += ["## Data", "", markdown_table(pd.DataFrame(report.provenance)), "",
              "Rows: " + ", ".join(f"{k} {v}" for k, v in report.data_rows.items() if v is not None), ""]
    if report.warnings:
        parts += ["Data warnings:", "", *[f"- {w}" for w in report.warnings], ""]
    parts += ["## Settings", "", *[f"- {k}: {v}" for k, v in report.settings.items()], "",
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
"""


def _list(items) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(str(item))}</li>" for item in items) + "</ul>"


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, escape=True, border=0) if not frame.empty else "<p>none</p>"


def to_html(report: DecisionReport, figures: dict[str, str] | None = None) -> str:
    """One self-contained HTML page; `figures` maps a title to a plotly fragment (include_plotlyjs=False)."""
    figures = figures or {}
    rec = report.recommendation
    plotly_js = ""
    if figures:
        from plotly.offline import get_plotlyjs

        plotly_js = f'<script type="text/javascript">{get_plotlyjs()}</script>'
    evidence = "".join(f'<div class="figure"><h3>{html.escape(title)}</h3>{fragment}</div>'
                       for title, fragment in figures.items())
    body = [
        f"<h1>Decision report: {html.escape(report.experiment)}</h1>",
        f'<p class="question">{html.escape(QUESTION)}</p>',
        "<h2>Recommendation</h2>",
        f'<p class="headline{"" if rec.met else " unmet"}">{html.escape(rec.headline)}</p>', _list(rec.reasons),
        "<h2>Constraints</h2>", _list(constraint_lines(report.constraints, report.quality)),
        "<h2>Results</h2>", _table(report.results),
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
