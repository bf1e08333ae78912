"""End to end in a real browser: a user with only documents uploads Markdown files on the Data page, generates
questions, reads one beside its source chunk, uses them, and finds the experiment ready to launch.

`streamlit run dashboard/web.py` on its own (tests/dashboard/conftest.py: dashboard_alone), Debian's Chromium
through Playwright; the flow stops at an enabled Launch button (running the LLM grid is too slow for CI).

    HF_HUB_OFFLINE=1 .venv/bin/python -m pytest tests/dashboard/test_browser_documents.py -m browser
"""

from __future__ import annotations

import pytest

from dashboard.serve import CHROMIUM, CHROMIUM_ARGS
from tests.dashboard.test_browser import SHOTS, VIEWPORT, Visit
from tests.dashboard.test_data_documents import guide

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium "
                       "(apt-get install -y chromium); the browser test needs it"),
]


def click_until(page, visit: Visit, button: str, shown, tries: int = 3) -> None:
    """Click a button until what it brings is on the page: a click the page did not take (it was redrawing) is
    clicked again, up to `tries` times."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(tries):
        page.get_by_role("button", name=button).first.click()
        visit.settle()
        try:
            shown.wait_for(timeout=30_000)
            return
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise


def test_documents_alone_to_reviewed_questions_and_an_experiment_ready_to_launch(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    from tests.dashboard.conftest import dashboard_alone

    files = []
    for number in range(8):
        path = tmp_path / f"guide{number}.md"
        path.write_bytes(guide(number))
        files.append(str(path))
    with dashboard_alone(tmp_path) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            asked = []
            page.on("request", lambda request: asked.append(request.url) if "evil.test" in request.url else None)
            visit = Visit(page)
            page.goto(f"{url}/data")
            page.get_by_role("heading", name="Data", exact=True).wait_for(timeout=90_000)
            visit.settle()
            page.get_by_text("Documents", exact=True).first.click()  # the data source (a segmented control)
            visit.settle()
            page.locator('input[type="file"]').first.set_input_files(files)
            page.get_by_role("button", name="Generate questions").wait_for(timeout=90_000)
            visit.settle()
            documents = page.locator('[data-testid="stMetric"]').filter(has_text="documents").first
            assert documents.inner_text().endswith("8")

            click_until(page, visit, "Generate questions", page.get_by_text("question(s) generated from").first)
            page.get_by_role("button", name="Use the accepted questions").wait_for(timeout=60_000)
            visit.settle()
            chunk = page.locator('[data-testid="stLayoutWrapper"]').filter(has_text="the answer in bold")
            chunk.locator("strong").first.wait_for(timeout=30_000)  # the answer, marked in its chunk
            said = page.inner_text("body")
            assert "![map](http" in said.replace("\u2060", "")  # the documents' markup shown as its characters
            visit.shot("14-documents-review")

            click_until(page, visit, "Use the accepted questions",
                        page.get_by_text("This data is selected for the next experiment"))
            visit.settle()
            visit.shot("15-documents-used")

            visit.open("Experiment")
            page.get_by_text("answered from your documents").wait_for(timeout=60_000)
            visit.fill("Training-set sizes", "4, 8")  # a handful of guides: a few training questions
            expect(page.get_by_role("button", name="Launch")).to_be_enabled(timeout=120_000)
            visit.shot("16-documents-experiment-ready")
            assert asked == []
        finally:
            browser.close()
    assert (SHOTS / "14-documents-review.png").exists()


def test_the_answers_page_shows_each_questions_source_chunk_beside_what_retrieval_found(tmp_path):
    from playwright.sync_api import sync_playwright

    from tests.dashboard.conftest import dashboard_alone
    from tests.dashboard.test_answers_sources import store_documents_experiment

    with dashboard_alone(tmp_path, lambda store: store_documents_experiment(store, tmp_path / "handbook")) as url, \
            sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            visit = Visit(page)
            page.goto(f"{url}/answers")
            page.get_by_role("heading", name="Answers", exact=True).wait_for(timeout=90_000)
            page.get_by_role("heading", name="Where the question came from").wait_for(timeout=60_000)
            visit.settle()
            chunk = page.locator('[data-testid="stLayoutWrapper"]').filter(has_text="the answer in bold")
            chunk.locator("strong").first.wait_for(timeout=30_000)
            page.get_by_text("The source was found").first.wait_for(timeout=30_000)  # question 1: found at rank 1
            shown = page.inner_text("main")
            assert "Where the question came from" in shown and "The source was found, at rank 1" in shown
            visit.shot("17-documents-answers")
        finally:
            browser.close()
