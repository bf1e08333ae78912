"""Home, Runs and the router: empty states, one-click demos, live jobs, cancel, errors in words."""

import pytest

from core.config import parse_config
from core.results.store import SqlStore
from core.running.jobs import JobQueue
from dashboard.ui import PAGES
from tests.conftest import tiny_config
from tests.dashboard.conftest import assert_clean, open_page


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
    assert [m.value for m in app.metric][:2] == ["1 min 5 s", "1 min 37 s"]
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
