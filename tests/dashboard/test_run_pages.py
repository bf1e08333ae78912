"""Home, Runs and the router: empty states, one-click demos, live jobs, cancel, errors in words."""

import pytest

from core.config import parse_config
from core.results.store import SqlStore
from core.running.jobs import JobQueue
from dashboard.ui import PAGES, SHARED_EXPERIMENT
from tests.conftest import tiny_config
from tests.dashboard.conftest import assert_clean, fake_experiment, older_quick_look, open_page


@pytest.fixture
def queue(adaptlab_home):
    return JobQueue(SqlStore(adaptlab_home / "results.db"))


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_opens_on_an_empty_store_without_an_error(page):
    app = open_page(page)
    assert_clean(app)
    assert not app.error and app.title[0].value == PAGES[page][0].replace("Home", "adaptlab")


def test_home_says_what_it_answers_where_it_runs_and_offers_a_demo_per_scenario():
    from core.task.scenarios import scenario_cards

    app = open_page("home")
    assert "should we prompt, retrieve (RAG)" in app.markdown[0].value
    assert app.metric[0].label == "Runs will use" and app.metric[0].value
    demos = [b for b in app.button if b.key and b.key.startswith("home.demo.")]
    # one button per scenario (laid out in columns, so the order is the columns')
    assert sorted(b.key.removeprefix("home.demo.") for b in demos) == sorted(card["name"] for card in scenario_cards())
    assert "None yet" in " ".join(c.value for c in app.caption)


def test_a_demo_click_queues_a_quick_grid_and_opens_the_runs_page(queue):
    app = open_page("home")
    app.button(key="home.demo.fortunes").click().run()
    assert_clean(app)
    jobs = queue.jobs()
    assert jobs.experiment.tolist() == ["demo-fortunes-quick"] and jobs.status.tolist() == ["queued"]
    assert app.title[0].value == "Runs"  # switched pages
    assert "demo-fortunes-quick" in app.markdown[0].value and "queued" in app.markdown[0].value
    home = open_page("home")  # while it waits, Home offers to watch it rather than queue it twice
    assert home.button(key="home.watch.fortunes") is not None


def test_runs_shows_live_progress_and_cancel_stops_a_job(queue):
    job_id = queue.submit(parse_config(tiny_config("live")), resource="cpu")
    queue.claim("w1")
    queue.report(job_id, {"message": "running lora, size 8, seed 0", "runs_total": 4, "runs_done": 1,
                          "grid_fraction": 0.4, "current_run": "lora|8|0", "run_fraction": 0.6, "loss": 0.4321,
                          "elapsed_seconds": 65.0, "remaining_seconds": 97.0, "runs_failed": 0,
                          "in_flight": ["full|8|0", "lora|8|0"]})
    app = open_page("runs")
    assert_clean(app)
    bars = app.get("progress")
    assert len(bars) == 2 and "1 of 4 run(s) done" in bars[0].proto.text and "loss 0.432" in bars[1].proto.text
    assert "1 more run(s) at once" in bars[1].proto.text  # packed runs
    # now: runs 2 and 3 (two at once) of 4; no run has finished, so the worker's own estimate stands in
    assert [m.value for m in app.metric][:3] == ["runs 2–3 of 4", "1 min 5 s", "1 min 37 s"]
    app.button(key=f"runs.cancel.{job_id}").click().run()
    assert_clean(app)
    assert queue.cancel_requested(job_id)
    assert "cancelling" in " ".join(c.value for c in app.caption)


def test_a_failed_job_shows_its_error_in_words_and_can_be_resumed(queue):
    job_id = queue.submit(parse_config(tiny_config("broken")), resource="cpu")
    queue.claim("w1")
    queue.finish(job_id, "failed", error="- the grid asks for 500 training examples per class but 'zippy' has 26",
                 progress={"message": "stopped before it could run"})
    app = open_page("runs")
    assert_clean(app)
    assert "500 training examples per class" in app.error[0].value and "Traceback" not in app.error[0].value
    app.button(key=f"runs.resume.{job_id}").click().run()
    assert_clean(app)
    jobs = queue.jobs()
    assert jobs.status.tolist() == ["queued", "failed"] and set(jobs.experiment) == {"broken"}
    assert f"runs.resume.{job_id}" not in [b.key for b in app.button]  # the newer job is the one to watch


def test_without_a_worker_the_runs_page_says_how_to_start_one(queue):
    queue.submit(parse_config(tiny_config("waiting")), resource="cpu")
    app = open_page("runs")
    assert "adaptlab worker" in app.warning[0].value
    queue.register_worker("w1", 1, "host", "CPU (2 cores)")
    assert "1 worker(s) alive on CPU (2 cores)" in open_page("runs").caption[1].value


# -- grids under way: their phase and times, whoever started them; Home's last change ---------------------------
def _ago(seconds: float) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat(timespec="seconds")


def _store_run(store, experiment: str, key: str, began: float, took: float, status: str = "finished") -> None:
    """A run stored as the runner stores it: started `began` seconds ago, `took` seconds long."""
    method, size, seed = key.split("|")
    store.write_run(experiment, {"run_key": key, "method": method, "size": size, "seed": int(seed), "status": status,
                                 "accuracy": 0.5, "started_at": _ago(began), "finished_at": _ago(began - took)},
                    [0] * 60)


def _metrics(app) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def test_while_texts_are_encoded_the_runs_page_says_so_and_elapsed_time_goes_on(queue):
    from sqlalchemy import update

    from core.running.jobs import jobs

    store = queue.store
    fake_experiment(store, "encoding", finished=False)
    job_id = queue.submit(parse_config(tiny_config("encoding")), resource="cpu")
    queue.claim("w1")
    # the worker reported once, a second in, then went quiet encoding texts for a minute and a half
    with store.engine.begin() as db:
        db.execute(update(jobs).where(jobs.c.id == job_id).values(started_at=_ago(95)))
    queue.report(job_id, {"message": "encoding texts once for the methods that read embeddings (cached for later runs)",
                          "runs_total": 12, "runs_done": 0, "grid_fraction": 0.0, "current_run": None,
                          "elapsed_seconds": 1.0, "remaining_seconds": None, "runs_failed": 0})
    app = open_page("runs")
    assert_clean(app)
    metrics = _metrics(app)
    assert metrics["Now"] == "encoding texts"
    assert metrics["Elapsed"].startswith("1 min 3")  # counted from the job's start, not the last report (1 s)
    assert metrics["Remaining (estimate)"] == "after run 1"  # not "–"
    for i, key in enumerate(["probe|8|0", "tfidf|8|0", "rag|8|0"]):  # three runs of 40 s each, since the start
        _store_run(store, "encoding", key, began=80 - 25 * i, took=40)
    from dashboard import state

    state.clear_results()  # the page sees new runs within two seconds (its refresh); a test does not wait
    queue.report(job_id, {"message": "running lora", "runs_total": 12, "runs_done": 3, "grid_fraction": 0.25,
                          "current_run": "lora|8|0", "in_flight": ["lora|8|0"], "run_fraction": 0.1,
                          "elapsed_seconds": 90.0, "remaining_seconds": 500.0, "runs_failed": 0})
    metrics = _metrics(open_page("runs"))
    assert metrics["Now"] == "run 4 of 12"
    assert metrics["Remaining (estimate)"] == "6 min 0 s"  # 40 s a run on average, 9 runs left


def test_a_grid_started_from_the_command_line_appears_on_the_runs_page(queue):
    from core.running.claims import RunClaims

    store = queue.store
    fake_experiment(store, "from-cli", finished=False)  # 25 runs: prompt once, six methods x 2 sizes x 2 seeds
    _store_run(store, "from-cli", "prompt|0|0", began=100, took=30)
    _store_run(store, "from-cli", "probe|8|0", began=60, took=30)
    with RunClaims(store, "from-cli") as claims:  # what `adaptlab run` holds while it runs one
        assert claims.take("lora|8|0") == "mine"
        app = open_page("runs")
    assert_clean(app)
    assert "Nothing queued" not in " ".join(i.value for i in app.info)
    card = " ".join(m.value for m in app.markdown)
    assert "**from-cli**" in card and "running outside the dashboard" in card
    assert any("now: lora, 8 per class, seed 0" in c.value for c in app.caption)
    assert "2 of 25 run(s) stored" in app.get("progress")[0].proto.text
    metrics = _metrics(app)
    assert metrics["Now"] == "run 3 of 25" and metrics["Remaining (estimate)"] == "11 min 30 s"  # 30 s x 23 left
    after = open_page("runs")  # its claims released: it has stopped, and nothing runs the 23 runs it left
    assert after.info[0].value.startswith("Nothing is running or queued")
    assert after.warning[-1].value.startswith("**Incomplete experiment: 2 of 25 planned runs finished (23 never "
                                              "started)")
    # while it ran, the runs it held were running and the rest waited for it
    assert any(i.value.startswith("**Incomplete experiment: 2 of 25 planned runs finished (1 running now, 22 waiting "
                                  "to run)") for i in app.info)


def test_home_lists_experiments_by_their_last_change_in_words(adaptlab_home):
    from sqlalchemy import update

    from core.results.store import experiments

    store = SqlStore(adaptlab_home / "results.db")
    fake_experiment(store, "busy", finished=False)
    with store.engine.begin() as db:  # created two days ago; 37 runs since, the last 4 minutes ago
        db.execute(update(experiments).values(created_at=_ago(2 * 86400 + 60), updated_at=_ago(2 * 86400 + 60)))
    for i in range(36):
        _store_run(store, "busy", f"probe|8|{i}", began=4000 - 60 * i, took=30)
    _store_run(store, "busy", "probe|8|36", began=270, took=30)
    app = open_page("home")
    assert_clean(app)
    table = app.dataframe[0].value
    row = table[table.experiment == "busy"].iloc[0]
    assert (row["finished runs"], row["updated"], row["created"]) == (37, "4 min ago", "2 days ago")


# -- a demo whose name is stored with other settings ------------------------------------------------------------------
def test_a_demo_stored_with_other_settings_offers_the_stored_one_or_a_new_name(queue, adaptlab_home):
    """What `adaptlab demo --name` does, from the browser: no job that fails with advice only the CLI can follow."""
    from dashboard.ui import SHARED_EXPERIMENT

    name = older_quick_look(SqlStore(adaptlab_home / "results.db"))
    app = open_page("home")
    assert_clean(app)
    said = " ".join(c.value for c in app.caption)
    assert f"**{name}** is stored with other settings (model.max_length: 96 -> 128)" in said, said
    assert app.button(key="home.stored.fortunes").label == f"Open the stored {name}"
    run = app.button(key="home.demo.fortunes")
    assert run.label == f"Run it as {name}-2"
    run.click().run()
    assert_clean(app)
    jobs = queue.jobs()
    assert jobs.experiment.tolist() == [f"{name}-2"] and app.title[0].value == "Runs"
    queued = queue.job(int(jobs.id[0]))["config"]
    assert queued["model"]["max_length"] == 128 and queued["sizes"] and queued["methods"]  # today's quick look
    store = SqlStore(adaptlab_home / "results.db")
    assert store.settings_conflict(queued) is None  # the store takes it: the worker's run will not be refused

    home = open_page("home")
    assert home.button(key="home.watch.fortunes") is not None  # the new name is queued: watch it, not twice
    home.button(key="home.stored.fortunes").click().run()
    assert_clean(home)
    assert home.title[0].value == "Compare" and home.session_state[SHARED_EXPERIMENT] == name


def test_a_demo_stored_meanwhile_with_other_settings_is_not_queued(queue, adaptlab_home):
    app = open_page("home")
    name = older_quick_look(SqlStore(adaptlab_home / "results.db"))  # the CLI or another tab, after the page drew
    app.button(key="home.demo.fortunes").click().run()
    assert_clean(app)
    assert queue.jobs().empty  # a job under the stored name would fail in the worker
    assert app.button(key="home.demo.fortunes").label == f"Run it as {name}-2"


def test_the_next_free_name_skips_taken_ones_and_reuses_one_with_the_same_settings(adaptlab_home):
    store = SqlStore(adaptlab_home / "results.db")
    config = parse_config(tiny_config("grid")).model_dump(mode="json")
    other = {**config, "model": {**config["model"], "max_length": 32}}
    for name in ("grid", "grid-2"):
        store.register_experiment(name, {**other, "name": name}, "f", ["a"], [0], {})
    assert store.settings_conflict(config) == "model.max_length: 32 -> 48"
    assert store.free_name(config) == "grid-3"
    store.register_experiment("grid-3", {**config, "name": "grid-3", "seeds": [0, 1, 2]}, "f", ["a"], [0], {})
    assert store.free_name(config) == "grid-3"  # same settings, a bigger grid: its runs are this config's


def test_a_finished_job_links_to_compare_on_its_experiment(queue, adaptlab_home):
    """The card's Compare is a link naming the experiment, not a button that switches page from inside the card's
    timed redraw (which could clear the Compare page it had just drawn); Compare opened from it shows that one."""
    store = SqlStore(adaptlab_home / "results.db")
    fake_experiment(store, "first")
    fake_experiment(store, "second")
    job_id = queue.submit(parse_config(tiny_config("second")), resource="cpu")
    queue.claim("w1")
    queue.finish(job_id, "finished", progress={"message": "done"})
    app = open_page("runs")
    assert_clean(app)
    links = [link.proto for link in app.get("page_link")]
    compare = next(link for link in links if link.label == "Compare")
    assert "experiment=second" in compare.query_string
    assert not [b for b in app.button if b.key == f"runs.compare.{job_id}"]
    opened = open_page("compare", run=False)
    opened.session_state[SHARED_EXPERIMENT] = "first"  # what the pages showed last
    opened.query_params["experiment"] = "second"
    opened.run()
    assert_clean(opened)
    assert opened.selectbox(key="compare.experiment").value == "second"
    assert opened.session_state[SHARED_EXPERIMENT] == "second"
