"""The verdict card on screen (core/results/verdict.py builds it), the same on Compare and the Decision report, and
the constraints it was judged with, shared by the two pages so a reader of either reaches the same conclusion."""

from __future__ import annotations

import dataclasses

import streamlit as st

from core.results.costs import Constraints
from core.results.recommendation import Recommendation, recommend
from core.results.text import markdown_text
from core.results.verdict import VerdictCard, verdict_card

SHARED_CONSTRAINTS = "shared.constraints"  # the Decision report's constraints (a dict), read by Compare too


def shared_constraints() -> Constraints:
    """The constraints last set on the Decision report in this session; none set: Constraints()."""
    return Constraints(**st.session_state.get(SHARED_CONSTRAINTS, {}))


def remember(constraints: Constraints) -> None:
    st.session_state[SHARED_CONSTRAINTS] = dataclasses.asdict(constraints)


def recommendation(results, constraints: Constraints) -> Recommendation:
    """The one recommendation both pages show: ties decided on paired differences, the runs carry predictions."""
    return recommend(results.summary, constraints, results.unit, results.quality, runs=results.scored,
                     test_labels=results.experiment.get("test_labels"))


def card(results, constraints: Constraints) -> VerdictCard:
    return verdict_card(recommendation(results, constraints), constraints)


def show(card: VerdictCard, provisional: bool = False) -> None:
    """The card: the choice and its quality in words, why, the options tied with it and those the constraints
    rule out, and what it was judged with. Sentences are shown as the characters they are (dollar signs).
    `provisional`: runs are missing, so the choice may change when they finish (amber, and said first)."""
    from core.results.report_render import PROVISIONAL

    box = st.success if card.met and not provisional else st.warning
    headline = (PROVISIONAL if provisional else "") + card.headline
    box(f"**{markdown_text(headline)}**" + (f"  \n{markdown_text(card.quality)}" if card.quality else ""),
        icon=":material/recommend:")
    if card.lines():
        st.markdown("\n".join(f"- {markdown_text(line)}" for line in card.lines()))
    st.caption(markdown_text(card.judged))
