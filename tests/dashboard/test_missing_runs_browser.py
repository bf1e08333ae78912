"""The missing-runs banner in a real browser (issue 30 §2): the Decision report of an experiment with two runs
nobody runs says which and why, marks its verdict provisional, and its button queues them; screenshots at 1440 and
800 px go to ci-artifacts/screenshots/.

    HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -m browser tests/dashboard/test_missing_runs_browser.py
"""

from __future__ import annotations

import pytest

from dashboard.serve import CHROMIUM, CHROMIUM_ARGS, SETTLED, whole_page_screenshot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium "
                       "(apt-get install -y chromium); the browser test needs it"),
]


def _incomplete(store) -> None:
    from tests.decision_grid import stored_grid

    stored_grid(str(store.url).removeprefix("sqlite:///"), seeds=(0, 1, 2), missing={"lora|32|1", "lora|32|2"})


def test_the_report_of_an_incomplete_experiment_says_what_is_missing_and_runs_it(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    from core.results.store import SqlStore
    from core.running.jobs import JobQueue
    from tests.dashboard.conftest import dashboard_alone
    from tests.dashboard.test_browser import SHOTS

    SHOTS.mkdir(parents=True, exist_ok=True)
    with dashboard_alone(tmp_path, _incomplete) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(f"{url}/report")
            banner = page.locator('[data-testid="stAlert"]').filter(has_text="Incomplete experiment")
            expect(banner).to_contain_text("17 of 19 planned runs finished (2 never started)", timeout=90_000)
            expect(banner).to_contain_text("Never started: lora (32 per class) seed 1; lora (32 per class) seed 2.")
            expect(page.locator('[data-testid="stAlert"]').filter(has_text="Provisional, until the missing runs "
                                                                             "finish: Use")).to_be_visible()
            page.wait_for_selector(SETTLED, timeout=60_000)
            whole_page_screenshot(page, SHOTS / "report-incomplete-1440.png", 1440, 1000)
            page.set_viewport_size({"width": 800, "height": 1000})
            page.wait_for_selector(SETTLED, timeout=60_000)
            whole_page_screenshot(page, SHOTS / "report-incomplete-800.png", 800, 1000)
            queue = JobQueue(SqlStore(tmp_path / "home" / "results.db"))
            button = page.get_by_role("button", name="Run the 2 missing runs")
            for _ in range(3):  # a click the page did not take (it redrew under it) is tried again
                page.wait_for_selector(SETTLED, timeout=60_000)
                button.click()
                try:
                    expect(banner).to_contain_text("2 waiting to run", timeout=20_000)
                    break
                except AssertionError:
                    if not queue.jobs().empty:  # taken (a job is queued), the page slow to say so: wait for it
                        expect(banner).to_contain_text("2 waiting to run", timeout=180_000)
                        break
                    # not taken: nothing queued, so trying again queues one job
            expect(banner).to_contain_text("The rest are under way")
            assert queue.jobs().status.tolist() == ["queued"]
        finally:
            browser.close()
