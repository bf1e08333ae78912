"""The Decision report page's two forms in a real browser (Chromium through Playwright): send the runs to MLflow (a
file: tracking store under the test's folder, read back with MLflow's client) and export an option (its folder then
loaded by its own load.py in a fresh process, without adaptlab, predicting what the run predicted).

    HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -m browser tests/dashboard/test_report_forms_browser.py
"""

from __future__ import annotations

import pytest

from dashboard.serve import CHROMIUM_ARGS
from tests.conftest import tiny_config
from tests.dashboard.test_browser import CHROMIUM, VIEWPORT, Visit, served  # noqa: F401  (served: a fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium "
                       "(apt-get install -y chromium); the browser test needs it"),
]
mlflow = pytest.importorskip("mlflow", reason="the mlflow extra: pip install -e '.[mlflow]'")

NAME = "report-forms"


@pytest.fixture
def kept_grid(tmp_path, monkeypatch):
    """A finished two-option grid (TF-IDF, zero-shot), weights kept, in the store the served dashboard reads."""
    from core.config import parse_config
    from core.results.store import SqlStore
    from core.running.runner import run_experiment
    from core.task.load import load_task

    monkeypatch.setenv("ADAPTLAB_HOME", str(tmp_path / "home"))  # the home `served` gives the dashboard
    # MLflow 3.x refuses a file: store unless told to keep it (its errors say so); the dashboard inherits this
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    config = parse_config(tiny_config(NAME, methods=["tfidf", "prompt"], sizes=[4], keep_artifacts=True,
                                      forgetting="off"))
    store = SqlStore(tmp_path / "home" / "results.db")
    run_experiment(config, store)
    return store, load_task(config.task, config.name).test.text.tolist()


def submit_until(page, visit: Visit, button: str, shown, taken, tries: int = 3) -> None:
    """Press a form's button until the page shows its outcome (`shown`, or an error, whose words then fail the test).
    A press the page did not take (it was redrawing) is pressed again only once `taken()` reads back that nothing
    happened, so a slow one is never sent twice."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    outcome = shown.or_(page.locator('[data-testid="stAlertContentError"]'))
    for attempt in range(tries):
        visit.ready()  # pressed once the page has answered everything before: a press during a redraw can be lost
        before = visit.asked()
        page.get_by_role("button", name=button).first.click()
        if not visit.asked_since(before) and not taken() and not outcome.count():
            continue  # lost: the page asked its server for nothing, so nothing will come; press again
        visit.ready()
        try:
            outcome.first.wait_for(timeout=120_000)
            break
        except PlaywrightTimeout:
            if taken() or attempt == tries - 1:
                outcome.first.wait_for(timeout=120_000)  # taken: its outcome is still coming
                break
    errors = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
    assert shown.count(), f"{button}: the page said {errors}"


def test_the_report_sends_runs_to_mlflow_and_exports_an_option_that_loads_alone(kept_grid, served, tmp_path):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    from core.results.artifact_export import exports_folder
    from tests.core.results.test_artifact_export import predict_in_fresh_process

    store, texts = kept_grid
    url, logs = served
    tracking = f"file://{tmp_path / 'mlruns'}"
    finished = sorted(store.runs_frame(NAME).run_key)
    exported = exports_folder(NAME, "tfidf@4")  # under the served home (the fixture set ADAPTLAB_HOME to it)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            visit = Visit(page)
            page.goto(url)
            page.get_by_role("heading", name="adaptlab").wait_for(timeout=90_000)
            visit.open("Decision report")
            page.get_by_role("button", name="Send the runs to MLflow").wait_for(timeout=60_000)

            uri = page.get_by_label("MLflow tracking URI", exact=True)
            uri.fill(tracking)
            expect(uri).to_have_value(tracking)
            sent = page.get_by_text("2 run(s) added", exact=False)
            submit_until(page, visit, "Send the runs to MLflow", sent,
                         taken=lambda: (tmp_path / "mlruns").exists())
            client = mlflow.MlflowClient(tracking_uri=tracking)
            experiment = client.get_experiment_by_name(f"adaptlab/{NAME}")
            logged = client.search_runs([experiment.experiment_id])
            keys = sorted(run.data.tags["adaptlab.run_key"] for run in logged
                          if run.data.tags.get("adaptlab.role") == "run")
            assert keys == finished
            assert any(run.data.tags.get("adaptlab.role") == "grid" for run in logged)

            choice = page.locator('[data-testid="stSelectbox"]').filter(has_text="Option to export").get_by_role(
                "combobox")
            # the picker searches as you type; typed again only while it reads back another option, once the page is
            # ready (Visit.pick)
            visit.pick("Option to export", "tfidf@4", picked=lambda value: value == "tfidf@4")
            expect(choice).to_have_value("tfidf@4")
            # (the page writes "tfidf@4" with a word joiner before "@", so no Markdown reads it as an e-mail address)
            done = page.get_by_text(f"(run tfidf|4|0) to {exported}", exact=False)
            submit_until(page, visit, "Export this option", done, taken=exported.exists)
            page.get_by_role("button", name="Download the folder (zip)").wait_for()
            visit.shot("report-forms")

            # again, not replacing: one sentence, and the folder as it was
            before = sorted(path.name for path in exported.iterdir())
            refused = page.get_by_text("already exists; add --force", exact=False)
            # taken: the page ran the form again, so the first export's message is gone
            submit_until(page, visit, "Export this option", refused, taken=lambda: done.count() == 0)
            assert sorted(path.name for path in exported.iterdir()) == before
        finally:
            browser.close()
    runs = store.runs_frame(NAME, with_predictions=True).set_index("run_key")
    labels = store.experiment(NAME)["labels"]
    assert predict_in_fresh_process(exported, texts, tmp_path) == [labels[i] for i in runs.loc["tfidf|4|0"].predictions]
    assert "Traceback" not in (logs / "streamlit.log").read_text(errors="replace")
