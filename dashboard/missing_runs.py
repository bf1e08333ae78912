"""The banner every page that shows an experiment draws when runs of it are missing: which, and why (running,
waiting, failed, cancelled, never started: core/results/completeness.py), with a button that runs exactly the
missing ones (core/results/missing.py) when nothing else will. The recommendation is provisional until they finish.
"""

from __future__ import annotations

import streamlit as st

from core.errors import AdaptlabError
from core.results.completeness import Completeness
from core.results.text import markdown_text
from dashboard import state, ui

PROBLEM = "missing_runs.problem"  # a refusal from the button's callback, shown on the next run (a callback cannot draw)


def banner(name: str, page_key: str, unit: str = "per_class", watch_link: bool = True,
           named: bool = False) -> Completeness:
    """Draw the banner for an incomplete experiment (nothing when complete); return its completeness, so a page can
    mark what it concludes as provisional. named: the experiment's name first (a page listing several)."""
    progress = state.completeness(name)
    if problem := st.session_state.pop(PROBLEM, None):
        st.error(markdown_text(problem), icon=":material/error:")
    if progress.complete:
        return progress
    first, *reasons = progress.lines(unit)
    text = (f"{markdown_text(name)} · " if named else "") + f"**{markdown_text(first)}**" + "".join(
        f"\n- {markdown_text(line)}" for line in reasons)
    if progress.under_way:
        st.info(text, icon=":material/hourglass_top:")
        if watch_link:
            ui.link("runs", "Watch them on the Runs page")
        return progress
    st.warning(text, icon=":material/pending_actions:")
    if progress.can_run_missing:
        count = len(progress.missing)
        st.button(f"Run the {count} missing run{'s' if count > 1 else ''}", key=f"{page_key}.run_missing.{name}",
                  icon=":material/play_arrow:", on_click=_run_missing, args=(name,),
                  help="Queues this experiment's grid again: its finished runs are kept and skipped, so exactly the "
                       "missing runs run, all of them (its grid budget is lifted for this job).")
    return progress


def _run_missing(name: str) -> None:
    from core.results.missing import run_missing

    try:
        run_missing(state.store(), name)
    except AdaptlabError as problem:
        st.session_state[PROBLEM] = str(problem)
        return
    state.keep_worker_alive()
    st.toast(f"Queued the missing runs of {name}; watch them on the Runs page.")
