"""The result pages at the sizes people present on, in a real browser: a 1440 px laptop and an 800 px window.

At 1440 px every table of Compare and the Decision report shows all its columns without scrolling sideways; at
800 px the sidebar starts collapsed (the page gets the width), the tables still fit, the report's options show
their longest name (a method's title and its size) whole, and the report's buttons show their whole labels.
Cost, Negative transfer, Knowledge and Answers are held to the same: every table's columns on screen, every
button's label whole. Screenshots of each page at both widths go to ci-artifacts/screenshots/
(layout-PAGE-WIDTH.png). The store holds a finished encoder grid and a finished QA grid written directly, so no model
runs. Every read waits on what the page shows (its runs answered, its charts and tables drawn, the sidebar's slide
over) and is read again until two reads agree.

    HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -m browser tests/dashboard/test_layout.py
"""

from __future__ import annotations

import pytest

from dashboard.serve import CHROMIUM, whole_page_screenshot
from tests.dashboard.test_browser import SHOTS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium "
                       "(apt-get install -y chromium); the browser test needs it"),
]
GRID, QA = "fortunes-grid", "geo-qa-fake"
# each page: its heading, the experiment it is opened on, and how many tables it shows at least
PAGES = {"compare": ("Compare", GRID, 2), "report": ("Decision report", GRID, 2), "experiment": ("Experiment", None, 0),
         "cost": ("Cost", GRID, 0), "negative_transfer": ("Negative transfer", GRID, 1),
         "knowledge": ("Knowledge", QA, 1), "answers": ("Answers", QA, 1)}

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
  // a widget's label cut short with an ellipsis (a toggle's or a checkbox's beside another column)
  const labels = [...document.querySelectorAll('[data-testid="stWidgetLabel"], [data-testid="stWidgetLabel"] *')]
    .filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1).map(e => e.innerText);
  cut.push(...labels);
  const names = [...document.querySelectorAll('[data-testid="stTable"] tbody th')].map(c => c.innerText.trim());
  return {sidebar: {collapsed: bar.getAttribute("data-collapsed"), right: box.right}, tables, cut, names,
          main: document.querySelector('[data-testid="stMainBlockContainer"]').clientWidth};
}"""


# the sidebar's state, and its slide finished: it collapses by an animated click (dashboard/ui.py), so its attribute
# reads "true" while it is still drawn part way across the page
SIDEBAR_SETTLED = """() => {
  const bar = document.querySelector('[data-testid="stSidebar"]');
  const right = bar.getBoundingClientRect().right;
  return window.innerWidth < 1100 ? bar.getAttribute('data-collapsed') === 'true' && right <= 1
                                   : bar.getAttribute('data-collapsed') === 'false' && right >= 250;
}"""
TABLES_DRAWN = """(least) => [...document.querySelectorAll('[data-testid="stDataFrame"] .dvn-scroller')].length
  + [...document.querySelectorAll('[data-testid="stTable"]')].length >= least"""


@pytest.fixture
def served_grid(tmp_path):
    """The dashboard alone (nothing to run, so no worker) on a store holding a finished encoder grid and a finished
    QA grid on the LLM (Knowledge and Answers read that one)."""
    from tests.dashboard.conftest import dashboard_alone, fake_experiment, fake_qa_experiment

    with dashboard_alone(tmp_path, lambda store: fake_qa_experiment(store, QA),
                         lambda store: fake_experiment(store, GRID)) as url:
        yield url


def _open(visit, url: str, path: str) -> dict:
    """Load a page on its experiment and read its layout once the page has answered every run it asked for, drawn its
    charts and tables, and the sidebar has finished sliding; read again until two reads agree (a table or a chart
    still drawing changes the widths between them)."""
    from tests.dashboard.browser import DRAWN, PLOTS_DRAWN, until

    heading, experiment, tables = PAGES[path]
    page = visit.page
    page.goto(f"{url}/{path.replace('_', '-')}" + (f"?experiment={experiment}" if experiment else ""))  # its url_path
    page.get_by_role("heading", name=heading, exact=True).first.wait_for(timeout=120_000)
    visit.ready()
    page.wait_for_function(TABLES_DRAWN, arg=tables, timeout=60_000, polling=100)
    page.wait_for_function(PLOTS_DRAWN, timeout=60_000, polling=100)
    page.wait_for_function(SIDEBAR_SETTLED, timeout=30_000, polling=100)
    page.mouse.move(0, 0)  # no tooltip over the page
    reads = [page.evaluate(LAYOUT)]

    def agrees() -> bool:
        page.evaluate(DRAWN)
        reads.append(page.evaluate(LAYOUT))
        return reads[-1] == reads[-2]

    until(page, agrees, 30)
    return reads[-1]


@pytest.mark.parametrize("width", [1440, 800])
def test_the_result_pages_fit_the_screen_without_scrolling_sideways(served_grid, width):
    from tests.dashboard.browser import Visit, chromium

    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        visit = Visit(browser.new_page(viewport={"width": width, "height": 1000}))
        for path, (_, experiment, least) in PAGES.items():
            layout = _open(visit, served_grid, path)
            whole_page_screenshot(visit.page, SHOTS / f"layout-{path}-{width}.png", width, 1000)
            if experiment:  # the page shows the experiment it was opened on
                box = visit.page.locator('[data-testid="stSelectbox"]').filter(has_text="Experiment").first
                assert experiment in box.get_by_role("combobox").input_value(), (path, "not on its experiment")
            if width < 1100:  # the sidebar starts collapsed: the page has the window's width
                assert layout["sidebar"]["collapsed"] == "true" and layout["sidebar"]["right"] <= 1, layout
                assert layout["main"] > width - 100, layout
            else:
                assert layout["sidebar"]["collapsed"] == "false" and layout["sidebar"]["right"] >= 250, layout
            assert not layout["cut"], (path, width, layout)  # every button's label whole
            if path == "experiment":
                continue
            assert len(layout["tables"]) >= least, (path, layout)  # Compare and the report: quality and cost apart
            for table in layout["tables"]:
                assert table["scroll"] <= table["shown"] + 1, (path, width, layout)  # every column shown
                assert not table.get("cutCells"), (path, width, table)  # every cell's text shown whole
            if path == "report":  # each option by its whole title, the longest too, in both tables
                assert "TF-IDF + logistic regression (32 per class)" in layout["names"], layout
                assert layout["names"].count("LoRA adapter (8 per class)") == 2, layout
