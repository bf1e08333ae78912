"""Decision report: a recommendation from the measured results and your constraints, with its evidence; export."""

from __future__ import annotations

import streamlit as st

from core.errors import AdaptlabError
from core.results.artifact_export import export_option, exports_folder, zipped
from core.results.costs import Constraints
from core.results.mlflow_export import export_experiment
from core.results.report import PARETO_MEANS, build_report
from core.results.report_render import to_html, to_markdown
from core.results.text import LATENCY_ALONE, LATENCY_BATCHED, markdown_text, option_title
from core.running.tracking import default_uri
from dashboard import charts, missing_runs, state, ui, verdict

KEY = "report"


def render() -> None:
    st.title("Decision report")
    results = ui.chosen_results(KEY)
    if results is None:
        return
    progress = missing_runs.banner(results.name, KEY, results.unit)  # which runs are missing, and why; run them
    constraints = _constraints(results)
    verdict.remember(constraints)  # Compare's verdict card is judged with the same ones
    choice = verdict.recommendation(results, constraints)
    failed = [f"{run.run_key}: {run.error}" for run in results.failed.itertuples()]
    report = build_report(results.experiment, results.summary, choice, constraints, failed, runs=results.runs,
                          progress=progress)
    if report.incomplete[1:]:  # the first line is the banner's; then the options short of seeds
        st.caption("  \n".join(markdown_text(line) for line in report.incomplete[1:]))
    verdict.show(report.verdict, provisional=bool(report.incomplete))  # the card Compare shows too
    with st.expander("Every reason in full, each option named as the tables name it"):
        st.markdown("\n".join(f"- {markdown_text(reason)}" for reason in choice.reasons))
    _export_option(results, choice)
    _decision(report)
    figures = _evidence(results)
    _provenance(report)
    _downloads(report, figures)


def _export_option(results, choice) -> None:
    """Beside the recommendation: an option written ready to serve, with its model card (adaptlab export --option)."""
    options = [f"{row.method}@{row.size}" for row in results.summary.itertuples()]
    chosen = f"{choice.method}@{choice.size}"
    with st.form(f"{KEY}.export", border=False):
        left, middle, right = st.columns([2, 1, 1], vertical_alignment="bottom")
        option = left.selectbox("Option to export, ready to serve", options, key=f"{KEY}.export.option",
                                index=options.index(chosen) if chosen in options else 0,
                                format_func=lambda key: option_title(*key.split("@", 1), results.unit),
                                help="Its kept weights (keep_artifacts: true) as peft, transformers or scikit-learn "
                                     "load them, with load.py and a model card README.md carrying this evidence.")
        merged = middle.checkbox("LoRA merged too", key=f"{KEY}.export.merged")
        replace = right.checkbox("Replace an earlier export", key=f"{KEY}.export.replace")
        sent = st.form_submit_button("Export this option", icon=":material/deployed_code:")
    if sent:
        try:
            with st.spinner(f"Exporting {option}"):
                result = export_option(state.store(), results.name, option, exports_folder(results.name, option),
                                       merged=merged, force=replace, verdict=choice.headline)
        except AdaptlabError as error:
            st.error(markdown_text(str(error)), icon=":material/error:")
        else:
            st.success(markdown_text(result.summary()), icon=":material/check_circle:")
            st.download_button("Download the folder (zip)", zipped(result.folder), key=f"{KEY}.export.zip",
                               file_name=f"{result.folder.name}.zip", mime="application/zip",
                               icon=":material/download:", on_click="ignore")


def _decision(report) -> None:
    """The cost that decides (every option at the query volume), break-even volumes and the Pareto front."""
    volume = f"{report.constraints.queries:,} queries"
    st.subheader(f"Options at {volume}")
    _options_table(report.options)
    st.markdown("\n".join(f"- {line}" for line in report.cost_lines))
    with st.expander(f"Pareto front: {report.quality} against total cost at {volume}"):
        st.caption(PARETO_MEANS.format(quality=report.quality))
        st.dataframe(report.pareto, hide_index=True, key=f"{KEY}.pareto")
        if report.pareto_note:
            st.caption(report.pareto_note)


def _options_table(options) -> None:
    """Every option in two tables as wide as the page (how it does, with its status in a few words; what it costs),
    then each status that says more (why an option is ruled out) in full, uncut.

    Static tables, whose cells wrap: an option named by its method's title ("TF-IDF + logistic regression (32 per
    class)") beside six costs is wider than an 800 px window, where a data grid cuts the name or scrolls sideways."""
    if options.empty:
        return
    label = options.columns[0]  # the option's name
    shown = options.assign(status=options.status.map(short_status)) if "status" in options else options
    quality, cost = ui.split_columns(shown, [label])
    for table in (quality, cost):
        st.table(table.set_index(label))
    said = [f"- **{markdown_text(name)}**: {markdown_text(full)}" for name, full, short in
            zip(options[label], options.get("status", []), shown.get("status", [])) if full and full != short]
    if said:
        st.markdown("\n".join(said))


def short_status(status: str) -> str:
    """An option's status in a few words: each part up to its colon ("ruled out: too slow" is "ruled out")."""
    return "; ".join(part.split(":")[0].strip() for part in str(status or "").split(";") if part.strip())


def _constraints(results) -> Constraints:
    """The constraints, starting from those last set in this session (the widgets' own state does not outlive a
    visit to another page; the shared copy does)."""
    st.subheader("Your constraints")
    shared = verdict.shared_constraints()
    cols = st.columns(4)
    floor = cols[0].number_input(f"{results.quality.capitalize()} floor", 0.0, 1.0, shared.accuracy_floor or 0.0, 0.01,
                                 key=f"{KEY}.floor", help=f"0 means none. The lowest {results.quality} you can accept.")
    budget = cols[1].number_input("Budget ($)", 0.0, 1e9, shared.budget_dollars or 0.0, 1.0, key=f"{KEY}.budget",
                                  help="0 means none. For training plus the expected queries.")
    latency = cols[2].number_input(f"Latency limit (ms, {LATENCY_ALONE})", 0.0, 1e6, shared.latency_ms or 0.0, 1.0,
                                   key=f"{KEY}.latency",
                                   help=f"0 means none. The time to answer {LATENCY_ALONE} (batch 1, median), as "
                                        "measured on this experiment's device: what a user waits for. Compare's "
                                        f"time per query {LATENCY_BATCHED} is shorter (throughput, many queries at "
                                        "once); where one query alone was not measured, the limit is held to it, "
                                        "and the verdict says so.")
    queries = cols[3].number_input("Expected queries", 0, 10**12, shared.queries, 10_000, key=f"{KEY}.queries")
    cols = st.columns(4)
    months = cols[0].number_input("Period (months)", 1, 600, shared.months, key=f"{KEY}.months",
                                  help="The period the expected queries, the updates and storage cover.")
    variants = cols[1].number_input("Task variants", 1, 100_000, shared.variants, key=f"{KEY}.variants",
                                    help="Deployed copies of this task (say one per customer): each is labelled, "
                                         "trained and stored. A full fine-tune stores a whole model per variant.")
    per_label = cols[2].number_input("Labelling ($ per example)", 0.0, 1e4, shared.dollars_per_label, 0.05,
                                     key=f"{KEY}.per_label", help="What one labelled training example costs.")
    storage = cols[3].number_input("Storage ($ per GB-month)", 0.0, 1e3, shared.storage_dollars_per_gb_month,
                                   0.01, key=f"{KEY}.storage", help="Keeping the models over the period.")
    left, right = st.columns([1, 1])  # half each: at 1:3 the toggle's label was cut short at 800 px
    changes = left.toggle("The data changes often", value=shared.data_changes_often, key=f"{KEY}.changes",
                          help="New documents or labels arrive often: trained methods must retrain; RAG re-indexes.")
    retrains = right.number_input(f"Updates in those {months} months", 1, 10_000, shared.retrains,
                                  key=f"{KEY}.retrains", disabled=not changes,
                                  help="How many times new data arrives over the period (12: monthly for a year).")
    return Constraints(accuracy_floor=floor or None, budget_dollars=budget or None, latency_ms=latency or None,
                       queries=int(queries), data_changes_often=changes, retrains=int(retrains), months=int(months),
                       variants=int(variants), dollars_per_label=float(per_label),
                       storage_dollars_per_gb_month=float(storage))


def _evidence(results) -> dict:
    st.subheader("Evidence")
    quality = results.quality
    figures = {f"{quality.capitalize()} against training cost": charts.accuracy_cost_chart(
                   results.summary, "train_dollars", results.unit, quality),
               "Learning curves": charts.learning_curves_chart(results.curves, results.unit, quality)}
    if not results.transfer.empty:
        figures["Negative transfer"] = charts.negative_transfer_chart(results.transfer, results.reference,
                                                                      results.unit, quality)
    cols = st.columns(2)
    for i, (title, figure) in enumerate(figures.items()):
        with cols[i % 2]:
            st.plotly_chart(figure, key=f"{KEY}.figure.{i}")
    return figures


def _provenance(report) -> None:
    st.subheader("Data, settings and environment")
    # the full hash is in the exported report; on screen its start identifies the data
    st.markdown("\n".join(
        f"- **{markdown_text(source['source'])}**: {markdown_text(source['file'])} · {source['rows'] or '?'} rows · "
        f"licence: {markdown_text(source['licence'])}"  # the uploaded file's name and the licence typed for it
        f" · sha256 `{str(source['sha256'])[:16]}…`" for source in report.provenance) or "- no provenance recorded")
    left, right = st.columns(2)
    with left.expander("Settings"):
        st.markdown("\n".join(f"- **{k}**: {markdown_text(v)}" for k, v in report.settings.items()))
    with right.expander("Environment and versions"):
        environment = report.environment
        st.markdown(f"- **device**: {environment.get('device', '?')}\n- **python**: {environment.get('python', '?')}"
                    f"\n- **platform**: {environment.get('platform', '?')}")
        st.markdown("\n".join(f"- {package}: {version}" for package, version in
                              environment.get("versions", {}).items()))


def _downloads(report, figures: dict) -> None:
    st.subheader("Export")
    buttons = st.container(horizontal=True)  # side by side, each as wide as its words (never "Downl...")
    # generated on click (a callable), so the 5 MB of embedded plotly.js is not sent on every rerun
    buttons.download_button(
        "Download HTML", lambda: to_html(report, {title: figure.to_html(full_html=False, include_plotlyjs=False)
                                                  for title, figure in figures.items()}),
        file_name=f"{report.experiment}-decision.html", mime="text/html", key=f"{KEY}.html",
        icon=":material/download:", on_click="ignore", type="primary")
    buttons.download_button("Download Markdown", to_markdown(report), file_name=f"{report.experiment}-decision.md",
                          mime="text/markdown", key=f"{KEY}.markdown", icon=":material/download:", on_click="ignore")
    st.caption("The HTML file is self-contained (charts included, with total cost against query volume and the "
               "Pareto front, opens offline); the Markdown has the same text and tables.")
    _to_mlflow(report)


def _to_mlflow(report) -> None:
    """Every finished run into the team's MLflow, this report on the grid's parent run (adaptlab export --mlflow)."""
    with st.form(f"{KEY}.mlflow", border=False):
        uri = st.text_input("MLflow tracking URI", value=default_uri(), key=f"{KEY}.mlflow.uri",
                            help="Where the team tracks experiments: sqlite:///path/mlflow.db, http://host:5000. "
                                 "Sending again adds only runs that are new.")
        sent = st.form_submit_button("Send the runs to MLflow", icon=":material/upload:")
    if sent:
        try:
            with st.spinner("Logging the runs to MLflow"):
                result = export_experiment(state.store(), report.experiment, uri.strip(), report_html=to_html(report))
        except AdaptlabError as error:
            st.error(markdown_text(str(error)), icon=":material/error:")
        else:
            st.success(markdown_text(result.summary()), icon=":material/check_circle:")
