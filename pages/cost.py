"""Cost: total cost against query volume (train once, then pay per query), break-even points, storage of N variants."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.results.costs import (
    break_even_queries,
    cheapest_stretches,
    one_per_method,
    storage_of_variants,
    total_cost,
)
from core.results.text import human_bytes, method_name, money
from core.task.sizes import NO_TRAINING_DATA, size_label, size_order
from dashboard import charts, missing_runs, ui, words

KEY = "cost"
VOLUMES = [10**k for k in range(2, 11)]  # 100 to 10 billion queries
LARGEST = "largest per method"


def render() -> None:
    st.title("Cost")
    st.caption("Training is paid once, inference on every query: which option is cheapest depends on how much it "
               "will be used. Dollars come from the measured times and the experiment's price table.")
    results = ui.chosen_results(KEY)
    if results is None:
        return
    missing_runs.banner(results.name, KEY, results.unit)  # which runs are missing, and why; run them
    sizes = sorted({s for s in results.summary["size"] if s != NO_TRAINING_DATA}, key=size_order)
    left, right = st.columns(2)
    size = left.selectbox("Training-set size", [LARGEST, *sizes], key=f"{KEY}.size",
                          format_func=lambda s: s if s == LARGEST else size_label(s, results.unit))
    low, high = right.select_slider("Query volume", VOLUMES, value=(10**3, 10**8), key=f"{KEY}.volume",
                                    format_func=lambda v: f"{v:,}")
    table = one_per_method(results.summary, None if size == LARGEST else size)
    _volume(table, low, high)
    _storage(results.summary)
    st.caption(words.methods_legend(table.method))


def _volume(table: pd.DataFrame, low: int, high: int) -> None:
    high = max(high, low * 10)  # the chart spans a decade at least
    costs = total_cost(table, np.logspace(np.log10(low), np.log10(high), 60))
    # one computation for the headline and the list: the cheapest changes hands at a break-even volume itself
    stretches = cheapest_stretches(table, low, high)
    points = break_even_queries(table)
    shown = points[(points.queries >= low) & (points.queries <= high)]
    st.info(words.cost_fact(costs, stretches), icon=":material/lightbulb:")  # the chart's main fact, in one sentence
    st.plotly_chart(charts.cost_volume_chart(costs, shown), key=f"{KEY}.volume_chart")
    if shown.empty:
        st.markdown(f"No break-even point in this range: **{method_name(stretches.method.iloc[-1])}** stays the "
                    f"cheapest overall up to {high:,} queries.")
        return
    st.markdown("**Break-even points**")
    st.markdown("\n".join(f"- Beyond **{row.queries:,.0f}** queries, **{method_name(row.cheaper_after)}** costs less "
                          f"in total than **{method_name(row.cheaper_first)}** (both {money(row.total_dollars)} there)."
                          for row in shown.itertuples()))


def _storage(summary: pd.DataFrame) -> None:
    st.subheader("Storage of N task variants")
    st.caption("One base model serves many tasks when each task only adds a small part (a LoRA adapter, a probe "
               "head, an index); a full fine-tune stores a whole model per task.")
    variants = st.slider("Task variants", 1, 1000, 100, key=f"{KEY}.variants")
    storage = storage_of_variants(summary, sorted({1, 10, 100, 1000, variants}))
    st.plotly_chart(charts.storage_chart(storage), key=f"{KEY}.storage_chart")
    at = storage[storage.variants == variants].sort_values("bytes")
    st.markdown(f"For **{variants}** variants: " + ", ".join(f"{method_name(row.method)} {human_bytes(row.bytes)}"
                                                         for row in at.itertuples()) + ".")
