"""Knowledge: should facts live in the prompt (retrieval) or in the weights (fine-tuning)? Covered against uncovered
questions, how often each method makes a fact up, and what taking new facts in costs each method."""

from __future__ import annotations

import streamlit as st

from core.results.knowledge import at_size, knowledge_fact, knowledge_rows
from core.results.known_facts import shown_table, summary_line
from core.results.learning_epochs import learning_figure
from core.results.text import method_name
from core.task.sizes import NO_TRAINING_DATA, size_label, size_order
from dashboard import knowledge_charts, missing_runs, state, ui

KEY = "knowledge"
LARGEST = "largest per method"


def render() -> None:
    st.title("Knowledge")
    st.caption("Should facts live in the prompt (retrieval) or in the weights (fine-tuning)? The test questions are "
               "split in two: covered (a passage in the documents holds the answer) and not covered (no passage "
               "does, so the honest answer is \"I don't know\").")
    name = ui.pick_qa_experiment(KEY)
    if name is None:
        return
    view = state.knowledge(name)
    progress = missing_runs.banner(name, KEY, view.unit)  # which runs are missing, and why; run them
    if view.coverage.empty and view.update.empty:
        # "as runs finish" only while something runs them
        st.info(f"No finished run of '{name}' recorded covered and uncovered questions or a knowledge update"
                + (" yet. They appear here as its runs finish." if progress.under_way else
                   ". The geo-qa scenario records both: documents that cover some questions, and new facts after "
                   "training."), icon=":material/hourglass_top:" if progress.under_way else ":material/info:")
    else:
        _by_coverage(view)
    _known_facts(view.known_facts)


def _by_coverage(view) -> None:
    sizes = sorted({*view.coverage["size"], *view.update["size"]} - {NO_TRAINING_DATA}, key=size_order)
    size = st.selectbox("Training-set size", [LARGEST, *sizes], key=f"{KEY}.size",
                        format_func=lambda s: s if s == LARGEST else size_label(s, view.unit),
                        help="Methods that use no training data (prompt, corpus fine-tuning) are the same at every "
                             "size.")
    coverage, update = at_size(view.coverage, None if size == LARGEST else size), \
        at_size(view.update, None if size == LARGEST else size)
    st.info(f"**{knowledge_fact(coverage, update)}**", icon=":material/lightbulb:")
    _coverage(coverage)
    _update(update)
    rows = knowledge_rows(coverage, update, view.unit)
    rows = rows.assign(method=rows.method.map(method_name)) if len(rows) else rows  # by title, as the charts
    # two tables, what each answers and what new facts do, so every column is on screen at 800 px without scrolling
    later = [c for c in ("new facts", "taking them in costs") if c in rows]
    lead = [c for c in ("method", "training data") if c in rows]
    st.dataframe(rows.drop(columns=later), hide_index=True, width="stretch", key=f"{KEY}.table")
    if later:
        st.dataframe(rows[lead + later], hide_index=True, width="stretch", key=f"{KEY}.update_table")
    st.caption("Right: answer match. \"I don't know\" and made up: on the questions not covered, where \"I don't "
               "know\" is the honest answer. New facts: answer match on facts that arrived after training, before → "
               "after.")


def _known_facts(known) -> None:
    if known is None:  # a classification experiment: no facts to know
        return
    st.subheader("Known and unknown facts")
    st.caption(summary_line(known))
    if known.ran and len(known.table):
        st.dataframe(shown_table(known), hide_index=True, width="stretch", key=f"{KEY}.known_facts")
        st.info(known.finding, icon=":material/psychology:")
    if known.learning_lines:  # fine-tuning runs' checkpoints: known and Unknown facts across epochs
        st.plotly_chart(learning_figure(known.learning), key=f"{KEY}.learning")
        for line in known.learning_lines:
            st.caption(line)


def _coverage(coverage) -> None:
    if coverage.empty:
        st.caption("These runs did not record which questions the documents cover.")
        return
    left, right = st.columns(2)
    left.plotly_chart(knowledge_charts.coverage_chart(coverage), key=f"{KEY}.coverage")
    right.plotly_chart(knowledge_charts.answer_kinds_chart(coverage), key=f"{KEY}.answer_kinds")


def _update(update) -> None:
    st.subheader("When new facts arrive")
    if update.empty:
        st.caption("These runs were not given new facts after training (no knowledge update).")
        return
    st.caption("New passages arrive after training, and each method takes them in the way it can: a method that "
               "retrieves indexes them; a method that learned facts into its weights trains again on them, and pays "
               "that time and those dollars every time facts change; a prompt has nowhere to put them. \"After\" is "
               "measured once the method has taken them in.")
    left, right = st.columns(2)
    left.plotly_chart(knowledge_charts.knowledge_update_chart(update), key=f"{KEY}.update")
    right.plotly_chart(knowledge_charts.update_cost_chart(update), key=f"{KEY}.update_cost")
