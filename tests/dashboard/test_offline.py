"""The dashboard works without a network: a visit of every page asks nothing of any machine but its own.

Serves the dashboard on loopback (a store holding a finished classification grid and a finished QA grid, so every
page draws its charts), then visits each page in Debian's Chromium, recording every request whose host is not this
machine, and refusing it (as a machine without a network would). A page icon given as ":material/...:" made the
browser fetch the favicon from fonts.gstatic.com; the icon is now a file the dashboard serves itself.

    HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -m browser tests/dashboard/test_offline.py
"""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from dashboard.ui import PAGES
from tests.dashboard.browser import BROWSER_MARKS, LOADED, PLOTS_DRAWN, VIEWPORT, Visit, chromium

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}

pytestmark = BROWSER_MARKS


def outside(url: str) -> bool:
    """Whether a request leaves this machine (data: and blob: URLs never do)."""
    parsed = urlparse(url)
    return parsed.scheme in ("http", "https", "ws", "wss") and parsed.hostname not in LOCAL_HOSTS


def test_only_loopback_and_data_urls_count_as_local():
    assert not outside("http://127.0.0.1:8501/_stcore/health") and not outside("data:image/svg+xml,<svg/>")
    assert outside("https://fonts.gstatic.com/s/i/short-term/release/materialsymbolsrounded/science/default/24px.svg")


@pytest.fixture
def served(tmp_path):
    from tests.dashboard.conftest import dashboard_alone, fake_experiment, fake_qa_experiment

    with dashboard_alone(tmp_path, fake_qa_experiment, fake_experiment) as url:  # the newest opens the result pages
        yield url


def test_a_visit_of_every_page_requests_nothing_outside_this_machine(served):
    requested: list[tuple[str, str]] = []  # (page, url) of each request that would leave the machine
    where = {"page": "Home"}
    with chromium() as browser:
        context = browser.new_context(viewport=VIEWPORT)

        def refuse_outside(route):
            if outside(route.request.url):
                requested.append((where["page"], route.request.url))
                route.abort()  # as on a machine without a network: nothing leaves
            else:
                route.continue_()

        context.route("**/*", refuse_outside)
        page = context.new_page()
        page.on("request", lambda request: outside(request.url) and requested.append(
            (where["page"], request.url)))  # also what routing does not see (e.g. a service worker's)
        visit = Visit(page)
        page.goto(served)
        page.get_by_role("heading", name="adaptlab").wait_for(timeout=90_000)
        visit.ready()
        icons = page.eval_on_selector_all("link[rel~='icon']", "links => links.map(l => l.href)")
        assert icons and not any(outside(icon) for icon in icons), icons
        for title, _ in PAGES.values():
            where["page"] = title
            visit.open(title, heading=title.replace("Home", "adaptlab"))
            if title in ("Answers", "Knowledge"):  # these read the QA grid: pick it, so their charts draw too
                visit.pick("Experiment", "geo-qa-fake", option="geo-qa-fake")
            visit.ready()
            # charts draw, fonts and images load after the script has run: what they ask for is asked by then
            page.wait_for_function(PLOTS_DRAWN, timeout=60_000)
            page.wait_for_function(LOADED, timeout=60_000)
            assert page.locator('[data-testid="stException"]').count() == 0, f"{title}: an exception on screen"
        charts = page.locator(".js-plotly-plot").count()
    assert charts, "the last page (Decision report) drew no chart: the visit did not reach the results"
    assert not requested, "requests outside this machine:\n" + "\n".join(f"{p}: {u}" for p, u in requested)
