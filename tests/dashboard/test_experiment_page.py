"""The Experiment page: settings validated in words, data checked against the grid, estimate, launch."""

import pandas as pd
import pytest

from core import estimate as estimate_module
from core.estimate import Estimate
from core.jobs import JobQueue
from core.store import SqlStore
from dashboard.ui import SHARED_TASK
from tests.dashboard.conftest import assert_clean, fake_experiment, open_page

SMALL = {"builtin": "fortunes", "builtin_options": {"per_class": 40}}


def _page(task=SMALL):
    app = open_page("experiment", run=False)
    app.session_state[SHARED_TASK] = task
    return app.run()


def _errors(app):
    return " ".join(e.value for e in app.error)


def test_the_defaults_launch_a_queued_job_and_open_the_runs_page(adaptlab_home):
    app = _page()
    assert_clean(app)
    assert all(box.value for box in app.checkbox if box.key.startswith("experiment.method."))
    name = app.text_input(key="experiment.name").value
    assert name.startswith("fortunes-")
    for method in ("full", "scratch", "lora", "rag"):
        app.checkbox(key=f"experiment.method.{method}").uncheck()
    app.text_input(key="experiment.sizes").input("4, 8").run()
    app.button(key="experiment.launch").click().run()
    assert_clean(app)
    job = JobQueue(SqlStore(adaptlab_home / "results.db")).jobs().iloc[0]
    assert (job.experiment, job.status) == (name, "queued")
    config = JobQueue(SqlStore(adaptlab_home / "results.db")).job(int(job.id))["config"]
    assert config["methods"] == ["prompt", "probe", "tfidf"] and config["sizes"] == [4, 8]
    assert config["task"]["builtin_options"] == {"per_class": 40} and config["seeds"] == [0, 1]
    assert app.title[0].value == "Runs"


@pytest.mark.parametrize("field, value, message", [
    ("experiment.sizes", "8, lots", "sizes"),
    ("experiment.sizes", "0", "impossible"),
    ("experiment.name", "no spaces allowed", "name"),
    ("experiment.template", "no placeholder", "must contain {label}"),
])
def test_bad_settings_are_refused_with_the_field_named(field, value, message):
    app = _page()
    app.text_input(key=field).input(value).run()
    assert_clean(app)
    assert message in _errors(app) and "experiment.launch" not in [b.key for b in app.button]


def test_no_method_chosen_is_an_error_not_a_crash():
    app = _page()
    for box in app.checkbox:
        if box.key.startswith("experiment.method."):
            box.uncheck()
    app.run()
    assert_clean(app)
    assert "methods" in _errors(app)


def test_a_grid_larger_than_the_data_is_stopped_before_launch():
    app = _page()
    app.text_input(key="experiment.sizes").input("8, 500").run()
    assert_clean(app)
    assert "500 training examples per class" in _errors(app)
    assert app.button(key="experiment.launch").disabled and app.button(key="experiment.estimate").disabled


def test_an_existing_name_is_warned_about(adaptlab_home):
    fake_experiment(SqlStore(adaptlab_home / "results.db"), "taken")
    app = _page()
    app.text_input(key="experiment.name").input("taken").run()
    assert "An experiment named 'taken' exists" in app.warning[0].value


def test_the_estimate_is_shown_per_method_with_its_notes(monkeypatch):
    measured = Estimate("CPU (2 cores)", "cpu", 0.10, pd.DataFrame(
        {"method": ["prompt", "tfidf", "tfidf"], "size": ["0", "8", "32"], "seed": [0, 0, 0],
         "train_examples": [0, 40, 160], "steps": [0, 0, 0], "seconds": [2.0, 1.0, 3.0]}), 30.0, {}, ["upper bound"])
    calls = []
    monkeypatch.setattr(estimate_module, "estimate_in_subprocess", lambda config, url: calls.append(config) or measured)
    app = _page()
    app.text_input(key="experiment.sizes").input("8, 16").run()
    app.button(key="experiment.estimate").click().run()
    assert_clean(app)
    assert len(calls) == 1 and calls[0].task.builtin == "fortunes"
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Estimated time"] == "36 s" and metrics["Runs to do"] == "3"
    assert app.dataframe[-1].value.method.tolist() == ["prompt", "tfidf"]
    app.text_input(key="experiment.sizes").input("8").run()
    assert "settings changed since the last estimate" in " ".join(c.value for c in app.caption)


def test_an_estimate_that_fails_says_why(monkeypatch):
    from core.errors import AdaptlabError

    def fail(config, url):
        raise AdaptlabError("could not get model 'nope'")

    monkeypatch.setattr(estimate_module, "estimate_in_subprocess", fail)
    app = _page()
    app.text_input(key="experiment.sizes").input("8, 16").run()
    app.button(key="experiment.estimate").click().run()
    assert_clean(app)
    assert "could not get model 'nope'" in _errors(app)
