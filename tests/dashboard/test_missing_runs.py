"""Issue 30 §2: an incomplete experiment says so on every page that shows it (which runs are missing and why), offers
to run exactly the missing ones when nothing else will, and its recommendation is provisional until they finish."""

from __future__ import annotations

import pytest

from core.config import ExperimentConfig
from core.results.store import SqlStore
from core.running.jobs import JobQueue
from tests.dashboard.conftest import assert_clean, open_page, switch_to
from tests.decision_grid import stored_grid

MISSING = {"lora|32|1", "lora|32|2"}
BANNER = ("**Incomplete experiment: 17 of 19 planned runs finished (2 never started). Nothing is running them now: "
          "the results and the recommendation are provisional until the missing runs finish.**")


@pytest.fixture
def store(adaptlab_home):
    stored_grid(str(adaptlab_home / "results.db"), seeds=(0, 1, 2), missing=MISSING)  # nothing runs the two
    return SqlStore(adaptlab_home / "results.db")


def _banner(app) -> str:
    shown = [w.value for w in app.warning if w.value.startswith("**Incomplete experiment")]
    assert len(shown) == 1, [w.value for w in app.warning]
    return shown[0]


@pytest.mark.parametrize("page", ["compare", "cost", "report", "negative_transfer"])
def test_every_result_page_names_the_missing_runs_and_why(page, store):
    app = open_page(page)
    assert_clean(app)
    banner = _banner(app)
    assert banner.startswith(BANNER)
    assert "Never started: lora (32 per class) seed 1; lora (32 per class) seed 2." in banner
    assert "not finished yet" not in banner
    assert app.button(key=f"{page}.run_missing.grid").label == "Run the 2 missing runs"


def test_the_recommendation_is_provisional_until_the_missing_runs_finish(store):
    app = open_page("report")
    assert_clean(app)
    assert not app.success  # not green
    verdicts = [w.value for w in app.warning if "Use " in w.value]
    assert verdicts and verdicts[0].startswith("**Provisional, until the missing runs finish: Use ")


def test_the_button_queues_exactly_the_missing_runs_and_the_pages_then_say_they_wait(store):
    queue = JobQueue(store)
    app = open_page("compare")
    app.button(key="compare.run_missing.grid").click().run()
    assert_clean(app)
    jobs = queue.jobs()
    assert jobs.experiment.tolist() == ["grid"] and jobs.status.tolist() == ["queued"]
    # the stored grid, so the runner skips the 17 finished runs and runs the two missing ones
    assert queue.job(int(jobs.id[0]))["config"]["seeds"] == [0, 1, 2]
    banner = next(i.value for i in app.info if i.value.startswith("**Incomplete experiment"))
    assert banner.startswith("**Incomplete experiment: 17 of 19 planned runs finished (2 waiting to run). The rest "
                             "are under way")
    assert not any(b.key == "compare.run_missing.grid" for b in app.button)  # no second job while one waits
    runs = switch_to(app, "runs")
    assert_clean(runs)
    assert any("2 waiting to run" in i.value for i in runs.info)


def test_home_lists_each_experiment_with_its_missing_runs(store):
    app = open_page("home")
    assert_clean(app)
    table = app.dataframe[0].value.set_index("experiment")
    assert table.loc["grid", "finished runs"] == 17
    assert table.loc["grid", "missing runs"] == "2 never started"
    banner = next(w.value for w in app.warning if "Incomplete experiment" in w.value)
    assert banner == "grid · " + BANNER + "\n- Never started: lora (32 per class) seed 1; lora (32 per class) seed 2."
    assert app.button(key="home.run_missing.grid").label == "Run the 2 missing runs"


def test_runs_says_nothing_is_running_and_offers_the_missing_runs(store):
    app = open_page("runs")
    assert_clean(app)
    said = " ".join(i.value for i in app.info)
    assert "Nothing queued yet" not in said and "Nothing is running or queued" in said
    assert _banner(app).startswith(BANNER)
    app.button(key="runs.run_missing.grid").click().run()
    assert_clean(app)
    assert JobQueue(store).jobs().status.tolist() == ["queued"]


def test_a_cancelled_job_leaves_its_runs_cancelled_and_offers_them_again(store):
    queue = JobQueue(store)
    job = queue.submit(ExperimentConfig.model_validate(store.experiment("grid")["config"]), resource="cpu")
    queue.cancel(job)
    app = open_page("cost")
    assert_clean(app)
    assert f"Cancelled (job {job} was cancelled): lora (32 per class) seed 1; lora (32 per class) seed 2." in \
        _banner(app)
    assert app.button(key="cost.run_missing.grid")
