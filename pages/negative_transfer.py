"""Negative transfer: each method minus the from-scratch reference, per size, with 95% intervals."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.methods import METHODS, references
from core.results.text import method_name
from core.task.sizes import size_label
from dashboard import charts, missing_runs, ui, words

KEY = "negative_transfer"


def render() -> None:
    st.title("Negative transfer")
    st.caption("Does starting from the pretrained model help, or get in the way? Each method's accuracy (answer match "
               "for questions answered in words) minus the from-scratch reference's, on the same test examples and "
               "seeds (paired), with a 95% interval.")
    results = ui.chosen_results(KEY)
    if results is None:
        return
    missing_runs.banner(results.name, KEY, results.unit)  # which runs are missing, and why; run them
    configured, reference = results.configured_reference, results.reference  # reference: one that ran, or None
    if reference is None or results.transfer.empty:
        others = " or ".join(f"'{m}'" for m in other_references(results))  # only references that run on this task
        st.info(f"This experiment has no finished '{configured}' runs to compare with. Add "
                f"'{configured}' to the methods" + (f" (or use {others} as the reference)" if others else "")
                + " and launch it again: only the missing runs are run.", icon=":material/info:")
        return
    note = words.reference_note(configured, reference)  # scratch did not run: the differences are to one that did
    if note:
        st.info(note, icon=":material/info:")
    # only a method that starts from the pretrained model says anything about transfer: another reference (tfidf
    # beside scratch) starts from none, so it is left out of the count, the chart and the table
    pretrained = results.transfer[results.transfer.method.map(words.starts_pretrained)]
    others = list(dict.fromkeys(results.transfer.method[~results.transfer.method.map(words.starts_pretrained)]))
    declines = words.reference_declines(results.curves, reference, results.unit)
    if declines:
        st.warning(declines, icon=":material/warning:")
    if pretrained.empty:
        st.info("No method here starts from the pretrained model, so there is no transfer to measure: add prompt, "
                "probe, LoRA or full fine-tuning to the methods.", icon=":material/info:")
        return
    pooled = pretrained[pretrained.seed.isna()]
    st.markdown(verdict(pooled, reference, results.unit))
    if others:
        st.caption(" ".join(f"**{method_name(m)}** starts from no pretrained model, so its gap to "
                            f"{method_name(reference)} says nothing about transfer: it is not counted here (see it on "
                            "Compare)." for m in others))
    unpaired = int(pooled.unpaired.sum()) if "unpaired" in pooled else 0
    st.caption(f"A cell is flagged where the method is reliably worse, with the error controlled across the "
               f"{len(pooled)} cells (Benjamini-Hochberg over one-sided bootstrap p-values, 2.5%), so a flag is "
               "not one of the few a plain test over many cells expects by chance."
               + (f" {unpaired} run(s) had no {method_name(reference)} run with the same seed and size to pair "
                  "with, and are left out." if unpaired else ""))
    st.plotly_chart(charts.negative_transfer_chart(pretrained, reference, results.unit,
                                                   results.quality), key=f"{KEY}.chart")
    _table(results, pretrained, pooled)


def other_references(results) -> list[str]:
    """The from-scratch references besides the experiment's own that run on its model and task (TF-IDF sorts texts
    into labels: on a QA task it cannot run)."""
    family = results.experiment.get("task", {}).get("family", "encoder")
    return [m for m in references() if m != results.configured_reference and METHODS[m].supports(family, results.kind)]


def verdict(pooled: pd.DataFrame, reference: str, unit: str) -> str:
    """The chart in one or two plain sentences (pooled: the methods that start from the pretrained model)."""
    hurts = pooled[pooled.hurts.astype(bool)]
    helps = pooled[pooled.low > 0]
    if hurts.empty:
        text = (f"**No method is reliably worse than the from-scratch reference ({method_name(reference)}) at any "
                "size.** "
                "Transfer does not hurt here")
        return text + (f"; it clearly helps in {len(helps)} of {len(pooled)} cells (a method at a training-set size)."
                       if len(helps) else ".")
    cells = "; ".join(f"**{method_name(row.method)}** at {size_label(row.size, unit)} ({row.difference:+.3f}, interval "
                      f"{row.low:+.3f} to {row.high:+.3f})" for row in hurts.itertuples())
    return (f":red[**Transfer hurts in {len(hurts)} of {len(pooled)} cells**] (a method at a training-set size): "
            f"{cells}. There, the pretrained model "
            f"(adapted that way) is reliably worse than the from-scratch reference ({method_name(reference)}) "
            "trained on the same "
            "examples: what the model learned before gets in the way of this task. At those sizes prefer the "
            "reference, or another method.")


def _table(results, transfer: pd.DataFrame, pooled: pd.DataFrame) -> None:
    per_seed = st.toggle("Show each seed", key=f"{KEY}.per_seed")
    frame = transfer if per_seed else pooled
    versus = f"vs {method_name(results.reference)}"
    shown = pd.DataFrame({"method": frame.method.map(method_name),
                          "training data": [size_label(s, results.unit) for s in frame["size"]],
                          "seed": frame.seed.map(lambda s: "pooled" if pd.isna(s) else int(s)),
                          versus: frame.difference, "low": frame.low, "high": frame.high,
                          "hurts": frame.hurts.astype(bool)})
    styled = shown.style.format({versus: "{:+.3f}", "low": "{:+.3f}", "high": "{:+.3f}"}).apply(
        lambda row: ["background-color: #fde2e2; color: #8a1c1c" if row.hurts else "" for _ in row], axis=1)
    st.dataframe(styled, hide_index=True, width="stretch")
