"""Home: what adaptlab answers, the device it runs on, recent experiments, and one-click demos."""

from __future__ import annotations

import streamlit as st

from core.config import parse_config
from core.errors import AdaptlabError
from core.results.report import QUESTION
from core.results.text import markdown_text
from dashboard import missing_runs, state, ui, words

KEY = "home"
SHOWN_INCOMPLETE = 3  # recent experiments with missing runs nothing runs: each gets its banner, and a button


def render() -> None:
    st.title("adaptlab")
    st.markdown(f"#### {QUESTION}")
    st.markdown("adaptlab answers with evidence: it runs every option side by side on your labelled examples, over "
                "several training-set sizes and seeds, and measures accuracy (with 95% intervals) next to what each "
                "costs: train time, latency, memory, storage and dollars. Then it recommends one, with its reasons.")
    _machine()
    st.subheader("Start with a built-in scenario")
    st.caption("Real data that ships with adaptlab. One click queues a quick grid (every method, two sizes, one "
               "seed); watch it on **Runs**, then read **Compare** and the **Decision report**.")
    _demos()
    st.subheader("Or bring your own data")
    cols = st.columns(4)
    for col, (name, text) in zip(cols, [("data", "1. Upload and check your data"),
                                        ("experiment", "2. Choose methods, sizes, budget"),
                                        ("runs", "3. Watch the runs"), ("report", "4. Read the decision")]):
        with col:
            ui.link(name, text)
    _recent()


def _machine() -> None:
    device = state.device()
    workers = state.queue().alive_workers()
    left, right = st.columns(2)
    left.metric("Runs will use", device["name"], help=device["label"], border=True)
    autostart = state.keep_worker_alive() != "off"
    worker = f"ready ({len(workers)} alive)" if len(workers) else "starting…" if autostart else "not running"
    right.metric("Worker", worker, help="Experiments run in a separate worker process, never in the dashboard: "
                 "they go on if you close this tab.", border=True)
    if device["kind"] == "cpu":
        st.caption(f"No GPU found: everything runs on this machine's CPU ({device['memory_gib']:.0f} GiB memory). "
                   "Small grids take minutes; the Experiment page measures an estimate before you launch.")
    else:
        st.caption(f"GPU: {device['label']}. One job runs on it at a time so timings stay honest.")


def _demos() -> None:
    cards = state.scenarios()
    stored = set(state.experiments(state.store_url()).name)
    jobs = state.queue().jobs()
    active = set(jobs.experiment[jobs.status.isin(["queued", "running"])]) if len(jobs) else set()
    cols = st.columns(min(3, max(1, len(cards))))
    for i, card in enumerate(cards):
        with cols[i % len(cols)].container(border=True):
            st.markdown(f"**{card.get('title', card['name'])}**  \n`{card['name']}`")
            st.caption(card.get("probes", ""))
            _demo_button(card["name"], stored, active)
            labels = card.get("labels") or []
            if labels:
                st.caption("Labels: " + ", ".join(map(str, labels[:8])) + (" …" if len(labels) > 8 else ""))
            st.caption(f"Source: {card.get('source', 'built in')} · Licence: {card.get('licence', 'not stated')}")


def _demo_button(scenario: str, stored: set, active: set) -> None:
    """Run the demo; or watch it while it runs; or see its results once it has run.

    Where its name is stored with other settings (the quick look changed since it ran), the store would refuse it:
    the stored one can be opened, and the demo runs under the next free name, as `adaptlab demo --name` would."""
    config = state.demo_settings(scenario)
    conflict = state.store().settings_conflict(config)
    if conflict:
        _stored_differently(scenario, config["name"], conflict)
        config = {**config, "name": state.store().free_name(config)}
    if config["name"] in active:
        if st.button("Watch it run", key=f"{KEY}.watch.{scenario}", icon=":material/play_circle:"):
            st.session_state[ui.SHARED_EXPERIMENT] = config["name"]
            ui.go("runs")
    elif config["name"] in stored:
        if st.button("See its results", key=f"{KEY}.view.{scenario}", icon=":material/insights:"):
            st.session_state[ui.SHARED_EXPERIMENT] = config["name"]
            ui.go("compare")
    else:
        # the name the button offered when it was clicked: if the demo was stored since (another tab, the CLI), the
        # click meant another name, so nothing runs and this run of the page offers the choice instead
        offered_key = f"{KEY}.offered.{scenario}"
        offered = st.session_state.get(offered_key)
        st.session_state[offered_key] = config["name"]
        if st.button(f"Run it as {config['name']}" if conflict else "Run the demo", key=f"{KEY}.demo.{scenario}",
                     type="primary", icon=":material/play_arrow:") and offered == config["name"]:
            _launch(config)


def _stored_differently(scenario: str, name: str, conflict: str) -> None:
    st.caption(f"**{name}** is stored with other settings ({markdown_text(conflict)}): the quick look has changed "
               "since it ran. Its results stay; open them, or run today's quick look under a new name.")
    if st.button(f"Open the stored {name}", key=f"{KEY}.stored.{scenario}", icon=":material/history:"):
        st.session_state[ui.SHARED_EXPERIMENT] = name
        ui.go("compare")


def _launch(config: dict) -> None:
    try:
        experiment = parse_config(config, source="demo")
        if state.store().settings_conflict(config):  # stored meanwhile (another tab, the CLI): offer the choice
            st.rerun()
        state.queue().submit(experiment)
    except AdaptlabError as problem:
        ui.error(problem)
        return
    state.keep_worker_alive()
    st.session_state[ui.SHARED_EXPERIMENT] = experiment.name
    ui.go("runs")


def _recent() -> None:
    st.subheader("Recent experiments")
    frame = state.experiments(state.store_url())
    if frame.empty:
        st.caption("None yet: run a demo above, or set one up on the Experiment page.")
        return
    table = words.experiments_table(frame).head(10)
    progress = {name: state.completeness(name) for name in table.experiment}
    # beside the finished runs, the missing ones and why: "4 finished runs" alone reads as complete
    table.insert(3, "missing runs", [progress[name].reasons_text() for name in table.experiment])
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"finished runs": st.column_config.NumberColumn("finished runs"),
                                "missing runs": st.column_config.TextColumn(
                                    "missing runs", help="Planned runs not finished, and why."),
                                "updated": st.column_config.TextColumn(
                                    "updated", help="When its latest run finished (or its settings last changed)."),
                                "created": st.column_config.TextColumn("created")})
    for name in [name for name in table.experiment if progress[name].can_run_missing][:SHOWN_INCOMPLETE]:
        missing_runs.banner(name, KEY, frame.set_index("name").size_unit.get(name, "per_class"), named=True)
