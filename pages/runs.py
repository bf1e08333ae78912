"""Runs: the queue and live progress of every job (read from the database every two seconds), cancel, errors in
words."""

from __future__ import annotations

import streamlit as st

from core.errors import AdaptlabError
from core.results.refit import how_trained_column
from core.results.text import markdown_text
from core.running.claims import running_elsewhere
from core.running.question_jobs import is_question_job, progress_line
from core.task.sizes import size_label
from dashboard import live, missing_runs, state, ui

KEY = "runs"
REFRESH_SECONDS = 2
SHOWN_JOBS = 15
SHOWN_RUNS = 100  # a job card lists its newest runs; Stored runs lists them all
PAGE_ROWS = 500
STATUS_ICONS = {"queued": ":material/schedule:", "running": ":material/sync:", "finished": ":material/check_circle:",
                "failed": ":material/error:", "cancelled": ":material/cancel:"}


def render() -> None:
    st.title("Runs")
    st.caption("Experiments run in a worker process, one job per device at a time. This page reads their "
               "progress from the database: reload it, close it, or open it in another browser: the work goes on.")
    _live()
    _stored()


@st.fragment(run_every=REFRESH_SECONDS)
def _live() -> None:
    _worker_line()
    if problem := st.session_state.pop(f"{KEY}.problem", None):
        st.error(markdown_text(problem), icon=":material/error:")
    jobs = state.queue().jobs(limit=SHOWN_JOBS)
    elsewhere = running_elsewhere(state.queue().store)  # grids started outside the dashboard: `adaptlab run`
    if jobs.empty and elsewhere.empty:
        if state.experiments(state.store_url()).empty:
            st.info("Nothing queued yet. Launch an experiment from the Experiment page, or a demo from Home.",
                    icon=":material/info:")
            ui.link("home", "Go to Home")
        else:  # the stored experiments below say which runs they miss, and offer to run them
            st.info("Nothing is running or queued. An experiment with runs missing says so below, with a button "
                    "that runs them; a new one starts on the Experiment page.", icon=":material/info:")
        return
    for grid in elsewhere.to_dict(orient="records"):
        _elsewhere(grid)
    latest = jobs.groupby("experiment").id.max().to_dict()  # only an experiment's newest job can be resumed
    for job in jobs.to_dict(orient="records"):
        _job(job, latest)


def _worker_line() -> None:
    workers = state.queue().alive_workers()
    if len(workers):
        devices = ", ".join(sorted(set(workers.device.dropna()))) or "detecting its device"
        st.caption(f":material/memory: {len(workers)} worker(s) alive on {devices}.")
        return
    started = state.keep_worker_alive()
    if started == "off":
        st.warning("No worker is running, and this dashboard does not start one (ADAPTLAB_AUTOSTART_WORKER=0). "
                   "Start one in a terminal: `adaptlab worker`.", icon=":material/warning:")
    else:
        st.caption(":material/hourglass_top: Starting a worker (it loads its libraries first; a few seconds)…")


def _job(job: dict, latest: dict) -> None:
    progress = job.get("progress") or {}
    status = job["status"]
    with st.container(border=True):
        head, action = st.columns([5, 1])
        took = f" · took {ui.seconds(progress['elapsed_seconds'])}" if status != "running" and \
            progress.get("elapsed_seconds") else ""
        head.markdown(f"{STATUS_ICONS.get(status, '')} **{job['experiment']}** · job {job['id']} · {status}{took}"
                      f"  \n:gray[{progress.get('message', '')}]")
        if status in ("queued", "running"):
            if job.get("cancel_requested"):
                action.caption("cancelling…")
            else:  # a callback runs before the rerun, so the card redraws as "cancelling…" at once
                action.button("Cancel", key=f"{KEY}.cancel.{job['id']}", icon=":material/stop_circle:",
                              on_click=_cancel, args=(job["id"],))
        elif status == "finished":
            # a link, not a button that switches page: this card redraws every few seconds (a fragment), and its
            # timer's rerun could clear the page a switch from inside it had just drawn (a blank Compare)
            with action:
                if is_question_job(job["experiment"]):  # its questions are reviewed on the Data page
                    ui.link("data", "Review")
                else:
                    ui.link("compare", "Compare", experiment=job["experiment"])
        elif status in ("cancelled", "failed") and job["id"] == latest.get(job["experiment"]):
            action.button("Resume", key=f"{KEY}.resume.{job['id']}", icon=":material/replay:", on_click=_resume,
                          args=(job["id"],), help="Queue it again: the runs already finished are kept and skipped.")
        if status == "running" and is_question_job(job["experiment"]):
            total = progress.get("chunks_total")
            st.progress(min(1.0, (progress.get("chunks_done") or 0) / total) if total else 0.0,
                        text=progress_line(progress) or "preparing…")
        elif status == "running":
            _progress(job, progress, _unit(job["experiment"]))
        if job.get("error"):
            (st.warning if status == "finished" else st.error)(markdown_text(job["error"]), icon=":material/error:")
        if status in ("running", "finished", "failed", "cancelled") and progress.get("runs_total") is not None:
            _runs_so_far(job["experiment"], expanded=status == "running")


def _unit(experiment: str) -> str:
    """The experiment's size unit ("per_class" or "total"), for its sizes in words."""
    units = state.experiments(state.store_url()).set_index("name").size_unit
    return units.get(experiment, "per_class")


def _progress(job: dict, progress: dict, unit: str) -> None:
    total, done = progress.get("runs_total") or 0, progress.get("runs_done") or 0
    grid = float(progress.get("grid_fraction") or 0.0)
    now = live.phase(progress)
    st.progress(min(1.0, grid), text=f"grid: {done} of {total} run(s) done · now: {now}" if total
                else "preparing…")
    current = progress.get("current_run")
    if current:
        method, size, seed = current.split("|")
        loss = progress.get("loss")
        detail = f" · loss {loss:.3f}" if isinstance(loss, (int, float)) else ""
        others = len(progress.get("in_flight") or []) - 1
        detail += f" · {others} more run(s) at once" if others > 0 else ""
        st.progress(min(1.0, float(progress.get("run_fraction") or 0.0)),
                    text=f"now: {method}, {size_label(size, unit)}, seed {seed}{detail}")
    # the worker reports at events; counted here, elapsed time goes on while it loads a model or encodes texts
    elapsed = live.elapsed_seconds(job.get("started_at"), reported=progress.get("elapsed_seconds"))
    durations = live.run_durations(state.runs_table(job["experiment"]), since=job.get("started_at"))
    at_once = max(1, len(progress.get("in_flight") or []))
    remaining = live.remaining_seconds(durations, total - done, at_once) if total else None
    cols = st.columns(4)
    cols[0].metric("Now", now)
    cols[1].metric("Elapsed", ui.seconds(elapsed))
    if remaining is not None:
        cols[2].metric("Remaining (estimate)", ui.seconds(remaining),
                       help=f"The {len(durations)} run(s) finished so far took "
                            f"{ui.seconds(sum(durations) / len(durations))} on average; {total - done} run(s) are "
                            "left" + (f", {at_once} at once." if at_once > 1 else "."))
    elif progress.get("remaining_seconds") is not None:
        cols[2].metric("Remaining (estimate)", ui.seconds(progress["remaining_seconds"]),
                       help="From the share of the grid done so far; refined once a run has finished.")
    else:
        cols[2].metric("Remaining (estimate)", "after run 1",
                       help="Estimated from the runs' own durations once the first run has finished.")
    cols[3].metric("Failed runs", progress.get("runs_failed", 0))


def _elsewhere(grid: dict) -> None:
    """A grid this dashboard did not start (`adaptlab run CONFIG` on this store): read-only progress."""
    experiment = grid["experiment"]
    try:
        config = state.store().experiment(experiment)["config"]
    except AdaptlabError:
        config = {}
    unit = config.get("size_unit", "per_class")
    runs = state.runs_table(experiment)
    total = live.planned_runs(config)
    finished = int((runs.status == "finished").sum()) if len(runs) else 0
    with st.container(border=True):
        st.markdown(f":material/terminal: **{experiment}** · running outside the dashboard  \n"
                    ":gray[started with `adaptlab run` (or another process) on this results database]")
        if total:
            st.progress(min(1.0, finished / total), text=f"grid: {finished} of {total} run(s) stored")
        for key in grid["run_keys"]:
            method, size, seed = key.split("|")
            st.caption(f":material/sync: now: {method}, {size_label(size, unit)}, seed {seed}")
        durations = live.run_durations(runs)
        left = max(total - finished, len(grid["run_keys"])) if total else None
        remaining = live.remaining_seconds(durations, left, len(grid["run_keys"])) if left is not None else None
        cols = st.columns(4)
        cols[0].metric("Now", f"run {finished + 1} of {total}" if total else "running")
        cols[1].metric("Remaining (estimate)", ui.seconds(remaining) if remaining is not None else "after run 1",
                       help="The average duration of its stored runs times the runs left.")
        cols[2].metric("Processes", int(grid["processes"]), help="Processes running runs of this grid now.")
        cols[3].metric("Failed runs", int((runs.status == "failed").sum()) if len(runs) else 0)
        st.caption("This dashboard cannot stop it: stop it where it was started (Ctrl-C in its terminal). Runs "
                   "already stored are kept.")
        _runs_so_far(experiment, expanded=False)


def _runs_so_far(experiment: str, expanded: bool) -> None:
    runs = state.runs_table(experiment)
    if runs.empty:
        return
    with st.expander(f"Runs stored so far ({len(runs)})", expanded=expanded):
        _table(runs.iloc[-SHOWN_RUNS:].iloc[::-1], _unit(experiment))
        if len(runs) > SHOWN_RUNS:
            st.caption(f"The newest {SHOWN_RUNS} of {len(runs):,}; every run, filtered and paged, and the downloads "
                       "are under **Stored runs** below.")


def _table(runs, unit: str) -> None:
    """Runs as a table: method, training data, seed, status, (node), accuracy, train seconds, error (blank if none)."""
    table = runs[["method", "size", "seed", "status", "accuracy", "train_seconds", "error"]].copy()
    table.insert(6, "how trained", how_trained_column(runs))  # where the stop was chosen, what it trained on
    table["size"] = [size_label(size, unit) for size in table["size"]]
    table["error"] = table["error"].fillna("")
    nodes = live.run_nodes(runs)
    if nodes.notna().any():  # run on a Ray cluster: which node ran each
        table.insert(4, "node", nodes)
    table = table.rename(columns={"size": "training data"})
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"accuracy": st.column_config.NumberColumn(format="%.3f"),
                                "train_seconds": st.column_config.NumberColumn("train s", format="%.1f"),
                                "error": st.column_config.TextColumn("error", width="large")})


def _stored() -> None:
    """Every stored run of one experiment: filtered by method and status, a page at a time, and downloadable."""
    if state.experiments(state.store_url()).empty:  # nothing stored: the queue above says where to start
        return
    st.subheader("Stored runs")
    name = ui.pick_experiment(f"{KEY}.stored")
    missing_runs.banner(name, KEY, _unit(name), watch_link=False)  # which runs are missing, and why; run them
    runs = state.runs_table(name)
    if runs.empty:
        st.info(f"'{name}' has no stored runs yet.", icon=":material/info:")
        return
    methods, statuses = list(dict.fromkeys(runs.method)), list(dict.fromkeys(runs.status))
    left, middle, right = st.columns([3, 2, 1])
    chosen_methods = left.multiselect("Methods", methods, key=f"{KEY}.methods.{name}", placeholder="every method")
    chosen_status = middle.multiselect("Status", statuses, key=f"{KEY}.status.{name}", placeholder="any status")
    shown = runs[runs.method.isin(chosen_methods or methods) & runs.status.isin(chosen_status or statuses)]
    pages = max(1, -(-len(shown) // PAGE_ROWS))
    page = right.number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1, step=1,
                              key=f"{KEY}.page.{name}.{len(shown)}")
    first = (page - 1) * PAGE_ROWS
    _table(shown.iloc[first:first + PAGE_ROWS], _unit(name))
    st.caption(f"Runs {first + 1:,} to {min(first + PAGE_ROWS, len(shown)):,} of {len(shown):,}"
               + (f" (of {len(runs):,} stored)" if len(shown) < len(runs) else "") + ", in the order they were stored.")
    url = state.store_url()
    left, right, _ = st.columns([1, 1, 1.2])
    for column, fmt, mime in ((left, "csv", "text/csv"), (right, "json", "application/json")):
        # built when clicked (on its own thread), from the store: every run, whatever the filters show
        column.download_button(f"Download all {len(runs):,} runs ({fmt.upper()})", _exporter(url, name, fmt),
                               file_name=f"{name}.{fmt}", mime=mime, on_click="ignore", icon=":material/download:",
                               key=f"{KEY}.download.{fmt}")
    st.caption("The same files as `adaptlab export " + name + " --format csv` (or json): CSV has one row per run, "
               "JSON every run's full record.")


def _exporter(url: str, name: str, fmt: str):
    def build() -> str:
        from core.results.export import export_text
        from core.results.store import SqlStore

        return export_text(name, SqlStore(url, create=False).runs_frame(name), fmt)

    return build


def _resume(job_id: int) -> None:
    try:
        state.queue().resubmit(job_id)
    except AdaptlabError as problem:
        st.session_state[f"{KEY}.problem"] = str(problem)  # shown by the next run (a callback cannot draw)
        return
    state.keep_worker_alive()
    st.toast("Queued again; finished runs will be skipped.")


def _cancel(job_id: int) -> None:
    try:
        status = state.queue().cancel(job_id)
    except AdaptlabError as problem:
        ui.error(problem)
        return
    st.toast("Cancelled." if status == "cancelled" else "Stopping at its next step; finished runs stay.")

