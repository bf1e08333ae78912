"""End to end in a real browser: a newcomer goes from a built-in scenario to a downloaded decision report; a
stakeholder reads an LLM's answers question by question.

Starts `streamlit run dashboard/web.py` on a free loopback port and an `adaptlab worker`, both with
their own ADAPTLAB_HOME, then drives Debian's Chromium (headless) through Playwright. Screenshots of
every page go to ci-artifacts/screenshots/ (CI keeps that folder). The answers test serves a store
holding a finished QA grid written directly (tests/dashboard/conftest.py), so no model runs.

    HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -m browser
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from core.running.jobs import start_worker
from dashboard.serve import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SETTLED,
    free_port,
    start_streamlit,
    stop,
    wait_healthy,
    whole_page_screenshot,
)

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "ci-artifacts" / "screenshots"
VIEWPORT = {"width": 1440, "height": 1000}
GRID_SECONDS = 300  # worker start (imports), model load and a 5-run grid on a busy 2-core CPU

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium "
                       "(apt-get install -y chromium); the browser test needs it"),
]


def _wait_for_worker(database: Path, process: subprocess.Popen, seconds: float = 120) -> None:
    """The worker imports torch before its first heartbeat: wait, so Home shows it ready."""
    from core.results.store import SqlStore
    from core.running.jobs import JobQueue

    queue = JobQueue(SqlStore(database))
    deadline = time.time() + seconds
    while queue.alive_workers().empty:
        if process.poll() is not None or time.time() > deadline:
            raise RuntimeError("the worker did not start; see its log")
        time.sleep(0.5)


@pytest.fixture
def served(tmp_path):
    """The dashboard and a worker, as a newcomer's machine would run them; stopped afterwards."""
    port = free_port()
    env = {**os.environ, "ADAPTLAB_HOME": str(tmp_path / "home"), "ADAPTLAB_AUTOSTART_WORKER": "0",
           "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("ADAPTLAB_STORE", None)
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = [start_streamlit(port, env, logs / "streamlit.log"), start_worker(env, logs / "worker.log")]
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, processes[0], 90)
        _wait_for_worker(tmp_path / "home" / "results.db", processes[1])
        yield url, logs
    finally:
        stop(processes, grace=20)


def rows_once(grid, shows, seconds: float = 30) -> list[list[str]]:
    """The rows of a table's accessible copy, read again until one row `shows` what the page was asked for (a
    table redraws after the rest of the page, so a first read can hold the previous pick's rows) or `seconds`
    pass; the last read is returned either way, for the caller's assertion to print."""
    deadline = time.monotonic() + seconds
    while True:
        rows = [row.locator("td").all_inner_texts() for row in grid.locator("tr").all()]
        if any(shows(row) for row in rows if len(row) >= 5) or time.monotonic() > deadline:
            return rows
        grid.page.wait_for_timeout(250)


class Visit:
    """The browser, with the few moves a user makes and a check after each page: no error on screen."""

    def __init__(self, page):
        self.page = page
        SHOTS.mkdir(parents=True, exist_ok=True)

    def settle(self, timeout: float = 60_000) -> None:
        self.page.wait_for_selector(SETTLED, timeout=timeout)

    def open(self, title: str) -> None:
        self.page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first.click()
        self.page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=60_000)
        self.settle()

    def shot(self, name: str) -> None:
        self.settle()
        self.page.mouse.move(0, 0)  # no tooltip over the page
        self.page.wait_for_timeout(800)  # let plotly finish drawing
        assert self.page.locator('[data-testid="stException"]').count() == 0, f"{name}: an exception on screen"
        assert "Traceback" not in self.page.inner_text("body"), f"{name}: a traceback on screen"
        self.screenshot(name)

    def screenshot(self, name: str) -> None:
        whole_page_screenshot(self.page, SHOTS / f"{name}.png", VIEWPORT["width"], VIEWPORT["height"])

    def fill(self, label: str, value: str) -> None:
        box = self.page.get_by_label(label, exact=True)
        box.fill(value)
        box.press("Enter")
        self.settle()

    def click(self, name: str) -> None:
        self.page.get_by_role("button", name=name).first.click()
        self.settle()


def test_from_a_builtin_scenario_to_a_downloaded_decision_report(served, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, logs = served
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT, accept_downloads=True)
            visit = Visit(page)
            page.goto(url)
            page.get_by_role("heading", name="adaptlab").wait_for(timeout=90_000)
            page.get_by_text("Start with a built-in scenario").wait_for()
            visit.shot("1-home")

            visit.open("Data")  # the built-in scenario, smaller so the grid runs in seconds
            visit.fill("Examples per class (at most)", "40")
            page.get_by_text("Validation report").wait_for(timeout=90_000)
            page.get_by_text("How well the base model's tokenizer covers this text").wait_for(timeout=90_000)
            visit.click("Use this data")
            page.get_by_text("This data is selected").wait_for()
            visit.shot("2-data")

            visit.open("Experiment")
            visit.fill("Experiment name", "browser-e2e")
            for method in ("rag", "lora", "full", "scratch"):
                page.get_by_role("checkbox", name=method, exact=True).uncheck(force=True)
                visit.settle()
            visit.fill("Training-set sizes", "4, 8")
            visit.fill("Seeds", "1")
            page.get_by_text("Device and budget").click()
            reference = page.locator('[data-testid="stRadio"]').filter(has_text="Negative transfer against")
            reference.get_by_text("tfidf", exact=True).click()
            visit.settle()
            # scratch is unchecked above: without tfidf as the reference there is no negative-transfer chart
            expect(reference.get_by_role("radio", name="tfidf")).to_be_checked(timeout=30_000)
            visit.click("Estimate time and cost")
            page.get_by_text("Estimated time").wait_for(timeout=180_000)
            visit.shot("3-experiment")

            visit.click("Launch")
            page.get_by_role("heading", name="Runs", exact=True).wait_for(timeout=60_000)
            page.get_by_text("browser-e2e").first.wait_for()
            page.wait_for_timeout(1500)
            visit.screenshot("4-runs-live")
            page.get_by_role("button", name="Compare").wait_for(timeout=GRID_SECONDS * 1000)
            assert "failed" not in page.locator('[data-testid="stMarkdownContainer"]').filter(
                has_text="browser-e2e").first.inner_text()
            visit.shot("4-runs")

            page.get_by_role("button", name="Compare").click()
            page.get_by_role("heading", name="Compare", exact=True).wait_for(timeout=60_000)
            visit.settle()
            page.locator(".js-plotly-plot").nth(2).wait_for(timeout=60_000)
            assert page.locator(".js-plotly-plot").count() == 3  # learning curves, accuracy-cost, per-class F1
            assert page.get_by_text("Pareto front").count() >= 1
            visit.shot("5-compare")

            visit.open("Negative transfer")
            assert page.get_by_text("has no finished").count() == 0, "the run did not use tfidf as the reference"
            page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
            visit.shot("6-negative-transfer")

            visit.open("Cost")
            page.locator(".js-plotly-plot").nth(1).wait_for(timeout=60_000)
            visit.shot("7-cost")

            visit.open("Decision report")
            page.get_by_text("Use ", exact=False).first.wait_for(timeout=60_000)
            visit.shot("8-report")
            with page.expect_download(timeout=60_000) as download:
                page.get_by_role("button", name="Download HTML").click()
            saved = tmp_path / "report.html"
            download.value.save_as(saved)
            html = saved.read_text(encoding="utf-8")
            assert "Decision report: browser-e2e" in html and "Plotly.newPlot" in html and "fortunes" in html
            exported = browser.new_page(viewport=VIEWPORT)  # the file as its reader sees it, offline
            exported.goto(saved.as_uri())
            exported.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
            exported.wait_for_timeout(1000)
            exported.screenshot(path=str(SHOTS / "9-exported-report.png"), full_page=True)
            with page.expect_download(timeout=60_000) as download:
                page.get_by_role("button", name="Download Markdown").click()
            download.value.save_as(tmp_path / "report.md")
            assert "## Recommendation" in (tmp_path / "report.md").read_text(encoding="utf-8")
        finally:
            browser.close()
    assert "Traceback" not in (logs / "worker.log").read_text(errors="replace")


@pytest.fixture
def served_answers(tmp_path):
    """The dashboard alone (nothing to run, so no worker) on a store holding a finished QA grid on the LLM."""
    from tests.dashboard.conftest import dashboard_alone, fake_qa_experiment

    with dashboard_alone(tmp_path, fake_qa_experiment) as url:
        yield url


def test_a_stakeholder_reads_each_method_answer_and_the_passage_that_holds_it(served_answers):
    from playwright.sync_api import sync_playwright

    from tests.dashboard.conftest import PLACES

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            visit = Visit(page)
            page.goto(f"{served_answers}/answers")
            page.get_by_role("heading", name="Answers", exact=True).wait_for(timeout=90_000)
            visit.settle()
            place, country, *_ = PLACES[1]  # its passage is found second; rag answers it right
            questions = page.locator('[data-testid="stSelectbox"]').filter(has_text="Test question")
            questions.click()
            page.keyboard.type(place)  # the picker searches as you type
            page.get_by_role("option").filter(has_text=place).first.click()
            visit.settle()
            page.get_by_role("heading", name=f"Which country is {place} in?").wait_for(timeout=30_000)
            marked = page.locator('[data-testid="stMarkdownContainer"] li').filter(has_text="holds the answer")
            # the page redraws piece by piece after the pick: wait for this question's passage, then count the marks
            marked.filter(has_text=f"{place} is a region of {country}").wait_for(timeout=30_000)
            assert marked.count() == 1
            grid = page.locator('[data-testid="stDataFrame"]')
            grid.wait_for()
            # the table draws on a canvas; its accessible copy holds the cells a screen reader (and this test) reads:
            # method, training data, seed, answer, verdict. It is filled after the canvas draws: wait for a cell
            grid.locator("tr td").first.wait_for(state="attached", timeout=30_000)
            # the grid redraws after the heading and the passages: read it once it shows the picked question's answers
            rows = rows_once(grid, lambda row: row[0] == "rag" and row[3] == country and row[4] == "✓ right")
            assert any(row[0] == "rag" and row[3] == country and row[4] == "✓ right" for row in rows if row), rows
            visit.shot("10-answers")

            visit.open("Knowledge")
            page.locator(".js-plotly-plot").nth(3).wait_for(timeout=60_000)
            assert page.get_by_text("by indexing them").count() >= 1
            visit.shot("11-knowledge")
        finally:
            browser.close()


def test_text_from_a_file_is_text_and_a_demo_stored_differently_runs_under_a_new_name(tmp_path):
    """In Chromium, on a real server: a file whose name, column and labels are Markdown images, links and bare
    addresses is named on the Data page as those characters, and the browser draws no image or link from them and
    asks attacker.example for nothing. On Home, a demo stored with other settings runs under a new name."""
    from playwright.sync_api import sync_playwright

    from tests.dashboard.conftest import dashboard_alone, older_quick_look

    image, link = "![b](https://attacker.example/p.png)", "[Session expired](https://attacker.example/login)"
    anchor = "<a href='https://attacker.example/a'>click</a>"  # plotly draws <a> in axis labels
    labels = [link] * 30 + [image] * 3 + ["ask admin@attacker.example or www.attacker.example"] * 3 + [anchor] * 3
    rows = "".join(f'message {i} about {label[:5]},"{label}"\n' for i, label in enumerate(labels))
    upload = tmp_path / "![f](https:attacker.example:f.png).csv"
    upload.write_text(f'"{image}",label\n{rows}')
    with dashboard_alone(tmp_path, older_quick_look) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            asked = []
            page.on("request", lambda request: asked.append(request.url) if "attacker" in request.url else None)
            visit = Visit(page)
            page.goto(f"{url}/data")
            page.get_by_role("heading", name="Data", exact=True).wait_for(timeout=90_000)
            visit.settle()
            page.get_by_text("Upload a file", exact=True).first.click()  # the data source (a segmented control)
            visit.settle()
            page.locator('input[type="file"]').first.set_input_files(str(upload))
            page.get_by_text("Validation report").wait_for(timeout=90_000)
            visit.settle()
            page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)  # the class balance, labels on its axis
            visit.settle()
            said = page.inner_text("body").replace("\u2060", "")  # markdown_text's invisible WORD JOINER in addresses
            for written in (image, link, "![f](https:attacker"):
                assert written in said, said[:900]  # named in the page's sentences, as typed
            drawn = page.evaluate("""() => [...document.querySelectorAll('*')].filter(e => ['href', 'src', 'srcset',
                'xlink:href'].some(a => /attacker|mailto/.test(e.getAttribute(a) || ''))).map(e => e.outerHTML)""")
            assert drawn == []  # no image, no link: in the sentences, the tables or the chart
            visit.shot("12-text-from-a-file")
            assert asked == []

            page.goto(url)
            page.get_by_text("is stored with other settings").first.wait_for(timeout=90_000)
            page.get_by_role("button", name="Open the stored demo-fortunes-quick").wait_for(timeout=60_000)
            visit.settle()
            visit.shot("13-home-a-demo-stored-with-other-settings")
            visit.click("Run it as demo-fortunes-quick-2")
            page.get_by_role("heading", name="Runs", exact=True).wait_for(timeout=60_000)
            page.get_by_text("demo-fortunes-quick-2").first.wait_for(timeout=60_000)
            visit.shot("14-demo-under-a-new-name")
        finally:
            browser.close()
