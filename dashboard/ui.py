"""Small pieces every page shares: the page registry, the experiment picker, errors in words, formats."""

from __future__ import annotations

import importlib

import pandas as pd
import streamlit as st

from core.errors import AdaptlabError
from core.results.text import markdown_text
from dashboard import state

PAGES = {  # module in pages/: (title, icon)
    "home": ("Home", ":material/home:"),
    "data": ("Data", ":material/table:"),
    "experiment": ("Experiment", ":material/tune:"),
    "runs": ("Runs", ":material/play_circle:"),
    "compare": ("Compare", ":material/compare_arrows:"),
    "answers": ("Answers", ":material/question_answer:"),
    "knowledge": ("Knowledge", ":material/menu_book:"),
    "negative_transfer": ("Negative transfer", ":material/trending_down:"),
    "cost": ("Cost", ":material/payments:"),
    "report": ("Decision report", ":material/description:"),
}
SECTIONS = {"Run": ["home", "data", "experiment", "runs"],
            "Decide": ["compare", "answers", "knowledge", "negative_transfer", "cost", "report"]}
SHARED_EXPERIMENT = "shared.experiment"  # the experiment the result pages show, kept across pages
SHARED_TASK = "shared.task"  # the data chosen on the Data page (a TaskSpec as a dict)
SHARED_MODEL = "shared.model"  # the model chosen on the Experiment page (its name in a config)


NARROW_PX = 1100  # below this window width the sidebar starts collapsed: at 800 px its 300 px left 470 for the page
# Streamlit collapses the sidebar itself only up to 768 px ("auto"); this script does it up to NARROW_PX, once per
# page load (a flag on the window, which moving between pages keeps and a reload clears), so a sidebar the user
# opens again stays open. Streamlit stores a click on its collapse button as the user's choice for every later visit
# (localStorage): that is removed, so a wide window opens with the sidebar as before.
COLLAPSE_WHEN_NARROW = """<script>
(() => {
  if (window.innerWidth >= %d || window.adaptlabSidebarFitted) return;
  window.adaptlabSidebarFitted = true;
  const collapse = (tries) => {
    const bar = document.querySelector('[data-testid="stSidebar"]');
    const button = document.querySelector('[data-testid="stSidebarCollapseButton"] button');
    if (bar && button && bar.getAttribute("data-collapsed") === "false") {
      button.click();
      setTimeout(() => Object.keys(localStorage).filter(k => k.startsWith("stSidebarCollapsed-"))
        .forEach(k => localStorage.removeItem(k)), 0);
    } else if (tries > 0) {
      setTimeout(() => collapse(tries - 1), 100);
    }
  };
  collapse(100);
})();
</script>""" % NARROW_PX


def sidebar_fits_the_window() -> None:
    """Collapse the sidebar on a narrow window (see COLLAPSE_WHEN_NARROW); it draws nothing."""
    st.sidebar.html(COLLAPSE_WHEN_NARROW, unsafe_allow_javascript=True)


def page(name: str, default: bool = False) -> st.Page:
    title, icon = PAGES[name]
    module = importlib.import_module(f"pages.{name}")
    return st.Page(module.render, title=title, icon=icon, url_path=name.replace("_", "-"), default=default)


def go(name: str) -> None:
    st.switch_page(page(name, default=name == "home"))


def link(name: str, label: str | None = None, experiment: str | None = None) -> None:
    """A link to a page; `experiment`: the page opens on it (a query parameter pick_experiment reads)."""
    title, icon = PAGES[name]
    st.page_link(page(name, default=name == "home"), label=label or title, icon=icon,
                 query_params={"experiment": experiment} if experiment else None)


def error(problem: Exception) -> None:
    """An error as words on screen: an AdaptlabError's message, or a short line for anything else. Shown as text
    (markdown_text): messages name files, columns and labels from the user's data."""
    if isinstance(problem, AdaptlabError):
        st.error(markdown_text(problem), icon=":material/error:")
    else:
        st.error(markdown_text(f"Something went wrong: {type(problem).__name__}: {problem}"), icon=":material/error:")


def pick_experiment(page_key: str) -> str | None:
    """The experiment to show: a selectbox over stored ones, remembered across pages. None when there are none."""
    names = state.experiments(state.store_url()).name.tolist()
    if not names:
        st.info("No experiments yet. Start one from **Home** (a built-in demo, one click) or the **Experiment** page.",
                icon=":material/info:")
        link("home", "Go to Home")
        return None
    asked = st.query_params.pop("experiment", None)  # opened from a link naming it (link(..., experiment=))
    if asked in names:
        st.session_state[SHARED_EXPERIMENT] = st.session_state[f"{page_key}.experiment"] = asked
    current = st.session_state.get(SHARED_EXPERIMENT)
    index = names.index(current) if current in names else 0
    chosen = st.selectbox("Experiment", names, index=index, key=f"{page_key}.experiment")
    st.session_state[SHARED_EXPERIMENT] = chosen
    return chosen


def pick_qa_experiment(page_key: str) -> str | None:
    """The experiment to show, if it answers questions in words; otherwise None, saying why in words."""
    name = pick_experiment(page_key)
    if name is None:
        return None
    kinds = state.experiment_kinds(state.store_url())
    kind, family = kinds.get(name, ("classification", "encoder"))
    if kind == "qa":
        return name
    if family == "decoder":
        st.info(f"'{name}' sorts texts into labels on an LLM. Its answers are label likelihoods: for each text, the "
                "label whose words the LLM finds most likely after the prompt. There are no written answers to read; "
                "see how each method did on **Compare**.", icon=":material/info:")
    else:
        st.info(f"'{name}' sorts texts into labels with a sentence encoder: each answer is one of its labels, not "
                "words. See how each method did on **Compare**.", icon=":material/info:")
    answering = [other for other, (other_kind, _) in kinds.items() if other_kind == "qa"]
    st.caption("Experiments whose answers are written out: " + ", ".join(f"**{n}**" for n in answering) +
               " (pick one above)." if answering else "Written answers come from a question-answering experiment on "
               "an LLM, such as the built-in scenario geo-qa (pick it on the Data page).")
    return None


def load_results(name: str):
    """The experiment's results, or None (with the reason on screen) when there are none yet."""
    try:
        results = state.results(name)
    except AdaptlabError as problem:
        error(problem)
        return None
    if results.summary.empty:
        from dashboard.missing_runs import banner

        # runs under way: their results appear as each finishes; nothing running: which are missing, and a button
        if banner(name, "results", results.unit, watch_link=False).under_way:
            st.info(f"'{name}' has no finished runs yet. Results appear here as each run finishes.",
                    icon=":material/hourglass_top:")
            link("runs", "Watch it on the Runs page")
        return None
    return results


def chosen_results(page_key: str):
    """The results of the experiment picked on this page, or None with the reason on screen (no experiment yet,
    no finished run yet, or an error in words). Every results page starts with it."""
    name = pick_experiment(page_key)
    return None if name is None else load_results(name)


def table_height(rows: int) -> int:
    """Pixels for a table showing every row: a header and 35 px a row, plus the border."""
    return 35 * (rows + 1) + 3


def split_columns(rows: pd.DataFrame, lead: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(quality, cost): a wide table of options as two that each fit a 1440 px screen, both led by the columns that
    name the option. Quality: its status (first), seeds, the quality figure, its F1 and differences (the columns
    with an interval or an F1); cost: everything else (training, queries, speed, memory, size)."""
    named = [c for c in lead if c in rows]
    quality = [c for c in rows if c not in named and (c in ("status", "seeds") or "interval" in c or "F1" in c)]
    quality.sort(key=lambda c: c != "status")  # the status (chosen, ruled out) beside the option it is about
    cost = [c for c in rows if c not in named and c not in quality]
    return rows[named + quality], rows[named + cost]


def text_width(column: pd.Series) -> int:
    """Pixels a table column needs to show its longest text uncut (about 7.5 px a character at the table's 14 px,
    plus the cell's padding): a table sizes a column by its first rows, and cuts what is longer."""
    longest = max([len(str(column.name)), *(len(str(v)) for v in column)])
    return int(7.5 * longest) + 24


def seconds(value) -> str:
    if value is None or pd.isna(value):
        return "–"
    value = float(value)
    if value < 60:
        return f"{value:.0f} s"
    if value < 3600:
        return f"{value // 60:.0f} min {value % 60:.0f} s"
    return f"{value // 3600:.0f} h {value % 3600 // 60:.0f} min"
