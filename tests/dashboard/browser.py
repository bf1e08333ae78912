"""The browser tests' moves, each made once the page is ready for it and read back after it.

A Streamlit page answers a user's input with a run of its script on the server: the click or key goes to the
browser, the browser asks the server for a run, the server runs the page and sends it back. The page's own
"finished" mark (SETTLED) still shows the previous run's end between the input and the server's first answer, so a
test that waits on it alone acts again while the page is redrawing, and a move made then can be lost (a radio
clicked and never checked, a table read before it shows the pick). Here every page a Visit opens counts, from its
own WebSocket, the runs it asked for and the runs the server finished; the page is ready when it has answered all
it was asked and shows so. Each move then reads back whether the page took it, and is made again only when it reads
that it did not (a box is clicked only while it reads the other way; a button only while its click asked for
nothing), so no move is ever made twice over.

Shared by tests/dashboard/test_browser*.py and test_offline.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

import pytest

from dashboard.serve import CHROMIUM, CHROMIUM_ARGS, SETTLED, whole_page_screenshot

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "ci-artifacts" / "screenshots"
VIEWPORT = {"width": 1440, "height": 1000}
GRID_SECONDS = 600  # worker start, model load and a 5-run grid: 4 min seen on a 2-core CPU at load 18
RUN_SECONDS = 180  # the longest one page run may take on a 2-core CPU at load 18 (the estimate, the validation)
ASK_SECONDS = 10  # a page asks for a run within milliseconds of an input; longer only when the browser is starved
TAKE_SECONDS = 10  # after its run, the page draws what it sent within a frame or two; longer under load
TRIES = 3
EDITOR_GONE_MS = 2_000  # a table cell's open editor is read or written within this, else it closed: select again
FIRST_ROW_MIDDLE = 35 + 17  # pixels from a table's top: below its header, inside its first row

BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium "
                       "(apt-get install -y chromium); the browser test needs it"),
]

# Installed before the page's own scripts: wraps the WebSocket the page talks to its server over and reads, from
# each protobuf message, only its top-level field numbers. Sent BackMsg field 11 (rerun_script) is a run the page
# asked for, unless its ClientState field 6 (is_auto_rerun) says a timer asked (a fragment's run_every). Received
# ForwardMsg field 4 (new_session) starts a run; field 6 (script_finished) ends it, unless its status is 2
# (FINISHED_EARLY_FOR_RERUN: the next run follows). A run that ends answers every request asked before it started.
WATCH_RUNS = """(() => {
  if (window.__runs) return;
  const runs = window.__runs = {asked: 0, done: 0, finished: 0, running: false, current: 0};
  const varint = (bytes, at) => {
    let value = 0, shift = 0, byte;
    do { byte = bytes[at++]; value += (byte & 0x7f) * 2 ** shift; shift += 7; } while (byte & 0x80);
    return [value, at];
  };
  const fields = (bytes, from = 0, to = bytes.length) => {
    const found = [];
    let at = from;
    while (at < to) {
      let key, value;
      [key, at] = varint(bytes, at);
      const number = Math.floor(key / 8), wire = key & 7;
      if (wire === 0) { [value, at] = varint(bytes, at); found.push([number, value]); }
      else if (wire === 2) { [value, at] = varint(bytes, at); found.push([number, [at, at + value]]); at += value; }
      else if (wire === 1) at += 8;
      else if (wire === 5) at += 4;
      else break;
    }
    return found;
  };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (event) => {
        if (!(event.data instanceof ArrayBuffer)) return;
        for (const [number, value] of fields(new Uint8Array(event.data))) {
          if (number === 4) { runs.running = true; runs.current = runs.asked; }
          if (number === 6 && value !== 2) { runs.running = false; runs.done = runs.current; runs.finished += 1; }
        }
      });
    }
    send(data) {
      try {
        const bytes = data instanceof ArrayBuffer ? new Uint8Array(data)
          : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        for (const [number, value] of fields(bytes)) {
          if (number === 11 && !fields(bytes, ...value).some(([n, v]) => n === 6 && v === 1)) runs.asked += 1;
        }
      } catch (error) { /* not a BackMsg: nothing to count */ }
      return super.send(data);
    }
  };
})();"""
ANSWERED = ("() => { const r = window.__runs; return !!r && r.finished > 0 && !r.running && r.done >= r.asked; }")
# every chart on the page has drawn its figure (plotly sets _fullLayout and adds its svg once it has)
PLOTS_DRAWN = ("() => [...document.querySelectorAll('.js-plotly-plot')].every(plot => plot._fullLayout && "
               "plot.querySelector('.main-svg'))")
# what a page asks for after its script has run is in: its fonts and its images
LOADED = "() => document.fonts.status === 'loaded' && [...document.images].every(image => image.complete)"
# two frames and a task: what the last messages brought is drawn (React commits in a task after each message); two
# seconds at most, where a page draws no frames (one the browser does not show)
DRAWN = ("() => new Promise(done => { requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(done, 0))); "
         "setTimeout(done, 2000); })")


@contextlib.contextmanager
def chromium():
    """Debian's Chromium, headless, closed afterwards; where the test fails inside, each page it has open is first
    photographed to ci-artifacts/screenshots/failed-<test>-<n>.png (with the run counts in the failure's log)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        except BaseException:
            _photograph_failure(browser)
            raise
        finally:
            browser.close()


def _photograph_failure(browser) -> None:
    test = os.environ.get("PYTEST_CURRENT_TEST", "test").split("::")[-1].split(" ")[0]
    pages = [page for context in browser.contexts for page in context.pages]
    for number, page in enumerate(pages):
        path = SHOTS / f"failed-{re.sub(r'[^A-Za-z0-9_-]', '_', test)[:80]}-{number}.png"
        try:
            SHOTS.mkdir(parents=True, exist_ok=True)
            runs = page.evaluate("() => window.__runs || null")
            page.screenshot(path=str(path), full_page=True, timeout=30_000)
            print(f"failure screenshot: {path} ({page.url}, runs {runs})")
        except Exception as problem:  # the page may be what failed: say so, and keep the test's own error
            print(f"no failure screenshot of {page.url}: {problem}")


def until(page, holds, seconds: float) -> bool:
    """Whether `holds()` reads true within `seconds`, read again every tenth of a second."""
    deadline = time.monotonic() + seconds
    while not holds():
        if time.monotonic() > deadline:
            return False
        page.wait_for_timeout(100)
    return True


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


def grid_cell(table, column: int, row: int):
    """A cell of a table as the browser's accessibility tree holds it (the grid itself is drawn on a canvas)."""
    return table.locator(f"#glide-cell-{column}-{row}")


class Visit:
    """The browser, with the moves a user makes: each once the page is ready, each read back, and a check after each
    page that no error is on screen. Make it before the page's first goto (it watches the page's runs from there)."""

    def __init__(self, page):
        self.page = page
        page.add_init_script(WATCH_RUNS)
        SHOTS.mkdir(parents=True, exist_ok=True)

    # -- readiness ---------------------------------------------------------------------------------------------
    def ready(self, seconds: float = RUN_SECONDS) -> None:
        """Wait until the page has answered every input (each run asked for has finished, none runs) and shows it."""
        self.page.wait_for_function(ANSWERED, timeout=seconds * 1000, polling=100)
        self.page.wait_for_selector(SETTLED, timeout=seconds * 1000)
        self.page.evaluate(DRAWN)

    settle = ready  # the name browser tests written before these moves call (other branches may add some)

    def asked(self) -> int:
        return self.page.evaluate("() => window.__runs ? window.__runs.asked : 0")

    def asked_since(self, before: int, seconds: float = ASK_SECONDS) -> bool:
        """Whether the page asked its server for a run after `before` (the input was taken) within `seconds`."""
        return until(self.page, lambda: self.asked() > before, seconds)

    def make(self, what: str, move, made, reruns: bool = True, tries: int = TRIES, seconds: float = RUN_SECONDS):
        """Make `move` until `made()` reads true: once the page is ready, and again only while, after the page has
        answered the move, `made()` still reads false (so a move is only repeated where it was not taken).
        reruns: the move asks the server for a run (a widget); False for what the browser alone does (an expander)."""
        for _ in range(tries):
            self.ready(seconds)
            if made():
                return
            before = self.asked()
            move()
            if reruns and not self.asked_since(before):  # lost: the page asked for no run, so none will change it
                if made():
                    return
                continue
            self.ready(seconds)
            if until(self.page, made, TAKE_SECONDS):
                return
        raise AssertionError(f"{what}: the page did not take it in {tries} tries")

    # -- moves -------------------------------------------------------------------------------------------------
    def open(self, title: str, heading: str | None = None) -> None:
        """A page from the sidebar (its link's title), once its heading (the title, unless given) shows."""
        heading = self.page.get_by_role("heading", name=heading or title, exact=True).first
        link = self.page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title).first
        self.make(f"open {title}", link.click, heading.is_visible)

    def press(self, name: str, shown=None, seconds: float = RUN_SECONDS) -> None:
        """Click a button once, then wait for `shown` (what it brings). A click is made again only where the page
        asked for nothing after it (the click was lost) and `shown` is not on the page: a click the page took is
        never repeated (a second Launch would queue a second job)."""
        button = self.page.get_by_role("button", name=name).first
        for _ in range(TRIES):
            self.ready()
            before = self.asked()
            button.click()
            if self.asked_since(before) or (shown is not None and shown.is_visible()):
                self.ready(seconds)
                if shown is not None:
                    shown.wait_for(timeout=seconds * 1000)
                return
        raise AssertionError(f"the button {name!r}: the page did not take its click in {TRIES} tries")

    click = press  # the same: a click on a button, by its old name

    def fill(self, label: str, value: str) -> None:
        """Type into a text or number box and apply it (Enter); taken when the box holds it and no longer says
        "Press Enter to apply" (the page has it, not only the box)."""
        box = self.page.get_by_label(label, exact=True)
        widget = self.page.locator('[data-testid="stTextInput"], [data-testid="stNumberInput"], '
                                   '[data-testid="stTextArea"]').filter(has=box)
        pending = widget.locator('[data-testid="InputInstructions"]')

        def move():
            box.fill(value)
            box.press("Enter")

        self.make(f"{label} = {value!r}", move,
                  lambda: box.input_value() == value and not (pending.count() and pending.first.is_visible()))

    def check(self, name: str, checked: bool = True) -> None:
        """A checkbox ticked (or unticked): clicked only while it reads the other way."""
        box = self.page.get_by_role("checkbox", name=name, exact=True)
        self.make(f"{name} {'ticked' if checked else 'unticked'}", lambda: box.click(force=True),
                  lambda: box.is_checked() == checked)

    def choose(self, group: str, option: str) -> None:
        """An option of a radio group (named by the text it shows above its options), clicked until it is checked."""
        radios = self.page.locator('[data-testid="stRadio"]').filter(has_text=group).first
        self.make(f"{group}: {option}", lambda: radios.get_by_text(option, exact=True).click(),
                  radios.get_by_role("radio", name=option, exact=True).is_checked)

    def segment(self, option: str) -> None:
        """An option of a segmented control (the Data page's source), clicked until it shows as the one picked."""
        button = self.page.locator('[data-testid="stButtonGroup"] button').filter(has_text=option).first
        self.make(f"segment {option}", button.click, lambda: button.get_attribute("aria-checked") == "true")

    def pick(self, label: str, typed: str, option: str | None = None, picked=None) -> None:
        """An option of a select box: open it, type to search, click the option (`option`'s text, else press
        Enter); taken when the box's value passes `picked` (else contains the option)."""
        box = self.page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
        combobox = box.get_by_role("combobox")
        picked = picked or (lambda value: (option or typed) in value)

        def move():
            combobox.click()
            self.page.keyboard.type(typed)
            if option is None:
                self.page.keyboard.press("Enter")
            else:
                self.page.get_by_role("option").filter(has_text=option).first.click()

        self.make(f"{label}: {option or typed}", move, lambda: picked(combobox.input_value()))

    def expand(self, title: str, inside) -> None:
        """Open an expander (in the browser alone: no run) until `inside`, something in it, is visible."""
        summary = self.page.locator('[data-testid="stExpander"] summary').filter(has_text=title).first
        self.make(f"open {title}", summary.click, inside.is_visible, reruns=False)

    def upload(self, files: list[Path], shown, seconds: float = RUN_SECONDS) -> None:
        """Files into the page's file box, once, then wait for `shown`. Sent again only where the page asked for
        no run after them (the box kept nothing: choosing the same files again would list them twice)."""
        for _ in range(TRIES):
            self.ready()
            before = self.asked()
            self.page.locator('input[type="file"]').first.set_input_files([str(file) for file in files])
            if self.asked_since(before, seconds) or shown.is_visible():
                self.ready(seconds)
                shown.wait_for(timeout=seconds * 1000)
                return
        raise AssertionError(f"upload: the page took none of {[file.name for file in files]} in {TRIES} tries")

    def download(self, name: str, saved: Path, seconds: float = 60) -> Path:
        """Click a download button until the browser receives a file (read back: a download arrived), saved there."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        for _ in range(TRIES):
            self.ready()
            try:
                with self.page.expect_download(timeout=seconds * 1000) as download:
                    self.page.get_by_role("button", name=name).click()
            except PlaywrightTimeout:
                continue
            download.value.save_as(saved)
            return saved
        raise AssertionError(f"{name}: no download in {TRIES} tries")

    # -- an editable table (st.data_editor: a canvas; keys move its selection, which no element shows) ---------
    def select_cell(self, table, row: int, x: float, holds: str) -> bool:
        """Select a row's cell: click the first row `x` pixels from the table's left, step down `row` rows, and read
        the cell back by opening its editor (Enter), which must hold `holds` (a text only that cell holds), then
        close it (Escape, changing nothing). False where a key was lost while the table redrew."""
        self.ready()
        table.scroll_into_view_if_needed()
        # the first row on top: a step down past the rows in view (or an earlier try) scrolled the table
        table.locator(".dvn-scroller").first.evaluate("scroller => scroller.scrollTo(0, 0)")
        self.page.evaluate(DRAWN)
        box = table.bounding_box()  # read each time: the page above the table may have grown
        self.page.mouse.click(box["x"] + x, box["y"] + FIRST_ROW_MIDDLE)
        for _ in range(row):
            self.page.keyboard.press("ArrowDown")
        return self._open_cell(holds) and self._close_cell()

    def untick_cell(self, table, row: int, x: float, holds: str, box: tuple[int, int]) -> None:
        """Untick a row's box, one step left of its cell at `x` (read back at `box`: column, row, as the table's
        accessible copy numbers them): the cell is selected and read back first, then left, space. Pressed only while
        the box reads ticked; a space that opened the text cell's editor instead (its left step was lost) is undone."""
        for _ in range(TRIES):
            self.ready()
            if grid_cell(table, *box).inner_text() == "false":
                return
            if not self.select_cell(table, row, x, holds):
                continue
            before = self.asked()
            self.page.keyboard.press("ArrowLeft")
            self.page.keyboard.press(" ")
            until(self.page, lambda: self.asked() > before or self._editor().is_visible(), ASK_SECONDS)
            self._close_cell()
            self.ready()
            if until(self.page, lambda: grid_cell(table, *box).inner_text() == "false", TAKE_SECONDS):
                return
        raise AssertionError(f"the box of row {row}: the page did not take the untick in {TRIES} tries")

    def edit_cell(self, table, row: int, x: float, holds: str, was: str, text: str, cell: tuple[int, int]) -> None:
        """Write `text` into the cell one step right of a row's cell at `x` (which holds `holds`; the cell to write
        holds `was`; read back at `cell`), through its editor: each step read back, so a lost key writes nothing."""
        for _ in range(TRIES):
            self.ready()
            if grid_cell(table, *cell).inner_text() == text:
                return
            if not self.select_cell(table, row, x, holds):
                continue
            self.page.keyboard.press("ArrowRight")
            if not self._open_cell(was):
                continue
            before = self.asked()
            if not self._write_editor(text):
                continue
            self.page.keyboard.press("Enter")
            self.asked_since(before)
            self.ready()
            if until(self.page, lambda: grid_cell(table, *cell).inner_text() == text, TAKE_SECONDS):
                return
        raise AssertionError(f"the cell {cell}: the page did not take {text!r} in {TRIES} tries")

    def _editor(self):
        return self.page.locator("textarea.gdg-input, input.gdg-input")

    def _open_cell(self, holds: str) -> bool:
        """Open the selected cell's editor (Enter; keys typed sooner are lost); True where it holds `holds`, else
        closed again (Escape). An editor that closes between showing and being read (the table redrew under it)
        holds nothing: False, and the caller selects again."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        editor = self._editor()
        self.page.keyboard.press("Enter")
        if until(self.page, editor.is_visible, TAKE_SECONDS):
            try:
                if editor.input_value(timeout=EDITOR_GONE_MS) == holds:
                    return True
            except PlaywrightTimeout:
                pass
        self._close_cell()
        return False

    def _write_editor(self, text: str) -> bool:
        """Write `text` into the open editor; False where it closed first (the table redrew under it)."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            self._editor().fill(text, timeout=EDITOR_GONE_MS)
        except PlaywrightTimeout:
            return False
        return True

    def _close_cell(self) -> bool:
        editor = self._editor()
        if editor.is_visible():
            self.page.keyboard.press("Escape")
            editor.wait_for(state="hidden", timeout=TAKE_SECONDS * 1000)
        return True

    # -- what the page shows -----------------------------------------------------------------------------------
    def shot(self, name: str) -> None:
        self.ready()
        self.page.mouse.move(0, 0)  # no tooltip over the page
        self.page.wait_for_function(PLOTS_DRAWN, timeout=60_000)
        self.page.evaluate(DRAWN)
        assert self.page.locator('[data-testid="stException"]').count() == 0, f"{name}: an exception on screen"
        assert "Traceback" not in self.page.inner_text("body"), f"{name}: a traceback on screen"
        self.screenshot(name)

    def screenshot(self, name: str) -> None:
        whole_page_screenshot(self.page, SHOTS / f"{name}.png", VIEWPORT["width"], VIEWPORT["height"])
