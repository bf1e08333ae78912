"""The result pages at the sizes people present on, in a real browser: a 1440 px laptop and an 800 px window.

At 1440 px every table of Compare and the Decision report shows all its columns without scrolling sideways; at
800 px the sidebar starts collapsed (the page gets the width), the tables still fit, the report's options show
their longest name (a method's title and its size) whole, and the report's buttons show their whole labels.
Screenshots of Compare, the Decision report and the Experiment page at both widths go to ci-artifacts/screenshots/
(layout-PAGE-WIDTH.png). The store holds a finished grid written directly, so no model runs.

    HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -m browser tests/dashboard/test_layout.py
"""

from __future__ import annotations

import pytest

from dashboard.serve import CHROMIUM, CHROMIUM_ARGS, SETTLED, whole_page_screenshot
from tests.dashboard.test_browser import SHOTS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium "
                       "(apt-get install -y chromium); the browser test needs it"),
]
PAGES = {"compare": "Compare", "report": "Decision report", "experiment": "Experiment"}

# the page's layout, read from the DOM: the sidebar's state, each table's scroll area (a table that scrolls sideways
# hides columns), and any button whose label is cut short (an ellipsis: its text is wider than the button shows)
LAYOUT = """() => {
  const bar = document.querySelector('[data-testid="stSidebar"]');
  const box = bar.getBoundingClientRect();
  const grids = [...document.querySelectorAll('[data-testid="stDataFrame"] .dvn-scroller')]
    .map(s => ({scroll: s.scrollWidth, shown: s.clientWidth}));
  // a static table (st.table): it fits where its box does not scroll sideways and no cell's text runs past the cell
  const statics = [...document.querySelectorAll('[data-testid="stTable"]')].filter(t => t.offsetParent !== null)
    .map(t => ({scroll: t.scrollWidth, shown: t.clientWidth,
                cutCells: [...t.querySelectorAll('th, td')].filter(c => c.scrollWidth > c.clientWidth + 1)
                  .map(c => c.innerText)}));
  const tables = [...grids, ...statics];
  const cut = [...document.querySelectorAll('button')].filter(b => b.offsetParent !== null)
    .filter(b => [...b.querySelectorAll('p, div, span')].some(e => e.scrollWidth > e.clientWidth + 1))
    .map(b => b.innerText);
  const names = [...document.querySelectorAll('[data-testid="stTable"] tbody th')].map(c => c.innerText.trim());
  return {sidebar: {collapsed: bar.getAttribute("data-collapsed"), right: box.right}, tables, cut, names,
          main: document.querySelector('[data-testid="stMainBlockContainer"]').clientWidth};
}"""


@pytest.fixture
def served_grid(tmp_path):
    """The dashboard alone (nothing to run, so no worker) on a store holding a finished encoder grid."""
    from tests.dashboard.conftest import dashboard_alone, fake_experiment

    with dashboard_alone(tmp_path, lambda store: fake_experiment(store, "fortunes-grid")) as url:
        yield url


def _open(page, url: str, path: str) -> dict:
    """Load a page, wait until its script has finished and its tables are drawn, and read its layout."""
    page.goto(f"{url}/{path}")
    page.get_by_role("heading", name=PAGES[path], exact=True).first.wait_for(timeout=120_000)
    page.wait_for_selector(SETTLED, timeout=120_000)
    if path == "compare":
        page.locator('[data-testid="stDataFrame"] .dvn-scroller').first.wait_for(timeout=60_000)
    if path == "report":  # the options, in tables whose cells wrap
        page.locator('[data-testid="stTable"]').nth(1).wait_for(timeout=60_000)
    # the sidebar's state, and its slide finished: it collapses by an animated click (dashboard/ui.py), so its
    # attribute reads "true" while it is still drawn part way across the page
    page.wait_for_function("""() => {
      const bar = document.querySelector('[data-testid="stSidebar"]');
      const right = bar.getBoundingClientRect().right;
      return window.innerWidth < 1100 ? bar.getAttribute('data-collapsed') === 'true' && right <= 1
                                       : bar.getAttribute('data-collapsed') === 'false' && right >= 250;
    }""", timeout=30_000)
    return page.evaluate(LAYOUT)


@pytest.mark.parametrize("width", [1440, 800])
def test_the_result_pages_fit_the_screen_without_scrolling_sideways(served_grid, width):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 1000})
            for path in PAGES:
                layout = _open(page, served_grid, path)
                page.mouse.move(0, 0)  # no tooltip over the page
                page.wait_for_timeout(800)  # let plotly finish drawing
                whole_page_screenshot(page, SHOTS / f"layout-{path}-{width}.png", width, 1000)
                if width < 1100:  # the sidebar starts collapsed: the page has the window's width
                    assert layout["sidebar"]["collapsed"] == "true" and layout["sidebar"]["right"] <= 1, layout
                    assert layout["main"] > width - 100, layout
                else:
                    assert layout["sidebar"]["collapsed"] == "false" and layout["sidebar"]["right"] >= 250, layout
                if path == "experiment":
                    continue
                assert len(layout["tables"]) >= 2, layout  # quality and cost, each a table of its own
                for table in layout["tables"]:
                    assert table["scroll"] <= table["shown"] + 1, (path, width, layout)  # every column shown
                    assert not table.get("cutCells"), (path, width, table)  # every cell's text shown whole
                assert not layout["cut"], (path, width, layout)
                if path == "report":  # each option by its whole title, the longest too, in both tables
                    assert "TF-IDF + logistic regression (32 per class)" in layout["names"], layout
                    assert layout["names"].count("LoRA adapter (8 per class)") == 2, layout
        finally:
            browser.close()
