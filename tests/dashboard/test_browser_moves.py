"""The browser tests' moves (tests/dashboard/browser.py) on a page made to be slow and to lose a click: a move is
read back after the run it asked for, a lost click is made again, and a taken one never twice.

A three-widget Streamlit page, served by `streamlit run` on loopback, in Debian's Chromium.

    HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -m browser tests/dashboard/test_browser_moves.py
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from dashboard.serve import free_port, stop, wait_healthy
from tests.dashboard.browser import BROWSER_MARKS, VIEWPORT, Visit, chromium

pytestmark = BROWSER_MARKS

# The server answers the word a second after it is typed, as a busy machine's dashboard does: a test that reads the
# page before that run has finished reads the previous answer.
PAGE = '''
import time
import streamlit as st

word = st.text_input("Word")
if word:
    time.sleep(1.0)
st.markdown(f"echo: {word or 'nothing'}")
agreed = st.checkbox("Agree")
st.markdown(f"agreed: {agreed}")
'''

# A pane over the whole page that takes the next click and then goes: a click the page does not take, as one made
# while the page redraws under the pointer.
SWALLOW_NEXT_CLICK = """() => {
  const pane = document.createElement('div');
  pane.id = 'swallow';
  pane.style = 'position: fixed; inset: 0; z-index: 2147483647';
  pane.addEventListener('click', (event) => { event.stopPropagation(); pane.remove(); }, true);
  document.body.appendChild(pane);
}"""


@pytest.fixture
def slow_page(tmp_path):
    """The page above, served on a free loopback port; stopped afterwards, also where its start fails."""
    (tmp_path / "page.py").write_text(PAGE)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "streamlit.log").open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "page.py", "--server.port", str(port),
                                    "--server.address", "127.0.0.1", "--server.headless", "true",
                                    "--browser.gatherUsageStats", "false"], cwd=tmp_path, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(url, process, 90)
        yield url
    finally:
        stop([process], grace=20)


def open_page(browser, url):
    page = browser.new_page(viewport=VIEWPORT)
    visit = Visit(page)
    page.goto(url)
    page.get_by_text("echo: nothing").wait_for(timeout=90_000)
    return page, visit


def test_a_move_returns_once_the_page_shows_the_run_it_asked_for(slow_page):
    with chromium() as browser:
        page, visit = open_page(browser, slow_page)
        visit.fill("Word", "hello")
        # read at once, no waiting: the run the word asked for has finished and is drawn
        assert page.get_by_text("echo: hello").count() == 1, page.inner_text("body")
        visit.fill("Word", "again")
        assert page.get_by_text("echo: again").count() == 1, page.inner_text("body")


def test_a_lost_click_is_made_again_and_a_taken_one_never(slow_page):
    with chromium() as browser:
        page, visit = open_page(browser, slow_page)
        box = page.get_by_role("checkbox", name="Agree", exact=True)
        page.evaluate(SWALLOW_NEXT_CLICK)
        visit.check("Agree")
        assert page.locator("#swallow").count() == 0  # the first click was lost to the pane
        assert box.is_checked() and page.get_by_text("agreed: True").count() == 1, page.inner_text("body")
        visit.check("Agree")  # already ticked: not clicked again (a second click would untick it)
        assert box.is_checked() and page.get_by_text("agreed: True").count() == 1, page.inner_text("body")
        visit.check("Agree", False)
        assert not box.is_checked() and page.get_by_text("agreed: False").count() == 1, page.inner_text("body")
