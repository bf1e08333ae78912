"""Compare: the results table and charts side by side: learning curves, accuracy against cost, per-class F1."""

from __future__ import annotations

import streamlit as st

from core.results.costs import COST_AXES
from core.results.results_table import results_rows, titled_rows
from core.results.text import markdown_text, method_name
from core.results.tuning import tuning_lines, tuning_table
from core.task.sizes import NO_TRAINING_DATA, size_label, size_order
from dashboard import charts, missing_runs, ui, verdict, words

KEY = "compare"
ALL_BANDS = "every method"


def render() -> None:
    st.title("Compare")
    results = ui.chosen_results(KEY)
    if results is None:
        return
    progress = missing_runs.banner(results.name, KEY, results.unit)  # which runs are missing, and why; run them
    _verdict(results, progress.complete)
    _headline(results)
    _results_table(results)
    left, right = st.columns(2)
    methods = list(dict.fromkeys(results.curves.method))
    band = left.selectbox("Interval band", [ALL_BANDS, *methods], key=f"{KEY}.band.{results.name}",
                          format_func=lambda m: f"95% intervals: {m}" if m == ALL_BANDS else
                          f"95% interval: {method_name(m)} only",
                          label_visibility="collapsed",
                          help="Where the bands overlap, show one method's 95% interval at a time.")
    cost = right.selectbox("Cost axis", list(COST_AXES), format_func=COST_AXES.get, key=f"{KEY}.cost_axis",
                           label_visibility="collapsed")
    left, right = st.columns(2)
    with left:
        st.plotly_chart(charts.learning_curves_chart(results.curves, results.unit, results.quality,
                                                     band=None if band == ALL_BANDS else band), key=f"{KEY}.curves")
        st.caption("Subsets are nested (each size contains the smaller ones) and every method sees the same test "
                   "examples and seeds, so the curves are paired.")
    with right:
        st.plotly_chart(charts.accuracy_cost_chart(results.summary, cost, results.unit, results.quality),
                        key=f"{KEY}.cost")
        st.caption(words.PARETO.format(quality=results.quality))
    _tuning(results)
    _per_class(results)
    _failures(results)


def training_data_note(results) -> str:
    """What a size counts, in this experiment's numbers (its labels, its smallest size), not an example's."""
    config = results.experiment.get("config", {})
    sizes = [int(s) for s in config.get("sizes", []) if str(s).isdigit()]
    return words.training_data_note(results.unit, len(results.experiment.get("labels") or []), min(sizes, default=8))


def _results_table(results) -> None:
    """The results table as two full-width tables, how well each option does and what it costs, so every column is
    on screen at 1440 px without scrolling sideways; the methods' titles in a line below, not a wide column."""
    keyed = results_rows(results.summary, results.reference, results.unit, results.kind)
    if keyed.empty:
        return
    rows = titled_rows(keyed, results.reference)  # each method by its title, as the verdict card above names it
    quality, cost = ui.split_columns(rows, ["method", "training data"])
    for title, table, key in (("How well each option does", quality, "table"), ("What each costs", cost, "costs")):
        st.markdown(f"**{title}**")
        # every row on screen, no inner scroll: the table is as tall as its rows
        st.dataframe(table, hide_index=True, width="stretch", height=ui.table_height(len(table)), key=f"{KEY}.{key}")
    st.caption(words.methods_legend(keyed.method))
    note = words.reference_note(results.configured_reference, results.reference)  # scratch did not run: which did
    if note:
        st.caption(note)
    st.caption(training_data_note(results))


def _verdict(results, complete: bool) -> None:
    """The Decision report's verdict card, judged with the constraints set there (none yet: none), so a reader of
    Compare alone reaches the report's conclusion; provisional, as there, while runs are missing."""
    verdict.show(verdict.card(results, verdict.shared_constraints()), provisional=not complete)
    ui.link("report", "Set constraints and read every reason on the Decision report")


def _headline(results) -> None:
    environment = results.experiment.get("task", {}).get("environment", {})
    cols = st.columns(4)
    cols[0].metric("Finished runs", int((results.runs.status == "finished").sum()),
                   delta=f"{len(results.failed)} failed" if len(results.failed) else None, delta_color="inverse")
    cols[1].metric("Device", environment.get("device_kind", "?").upper(), help=environment.get("device"))


def _tuning(results) -> None:
    """How each option was tuned (core/results/tuning.py): searched or at its defaults, and its labels."""
    config = results.experiment.get("config", {})
    table = tuning_table(results.runs, config)
    with st.expander("How each option was tuned"):
        st.caption(markdown_text(tuning_lines(table, config)[0]))
        st.dataframe(table.assign(size=table["size"].map(lambda s: size_label(s, results.unit))), hide_index=True,
                     width="stretch", key=f"{KEY}.tuning")


def _per_class(results) -> None:
    f1 = results.per_class
    if f1.empty:
        return
    sizes = sorted(f1["size"].unique(), key=size_order)
    trained = [s for s in sizes if s != NO_TRAINING_DATA] or sizes
    # keyed by experiment: another experiment starts at its own largest size, not at this one's pick
    size = st.segmented_control("Per-class F1 at training-set size", trained, default=trained[-1], required=True,
                                key=f"{KEY}.f1_size.{results.name}", format_func=lambda s: size_label(s, results.unit))
    shown = f1[f1["size"].isin([size, NO_TRAINING_DATA])]
    st.plotly_chart(charts.per_class_f1_chart(shown, results.unit), key=f"{KEY}.f1")
    st.caption("F1 per class: for each label, how well a method finds its examples without calling others by its "
               "name (1 = every one found, none wrong). A low cell is a label that method confuses.")


def _failures(results) -> None:
    if results.failed.empty:
        return
    with st.expander(f"Failed runs ({len(results.failed)})"):
        for run in results.failed.itertuples():
            st.error(markdown_text(f"{run.run_key}: {run.error}"), icon=":material/error:")  # may quote the data
        st.caption("A failed run is retried when the same experiment is launched again.")
