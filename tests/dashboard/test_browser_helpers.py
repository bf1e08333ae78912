"""The browser helpers' own logic where a real page cannot make a race happen on cue: a table cell's editor that
shows and then closes before it is read (the table redrew under it, as under load in the documents review test,
where reading it waited 30 s and failed the test). The helper must say the cell did not open, so its caller selects
it again, not raise. A stand-in page, no browser."""

from __future__ import annotations

from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.dashboard.browser import Visit


class Editor:
    """The cell editor's locator: shown; holding `value`, or gone by the time it is read (value None)."""

    def __init__(self, value: str | None):
        self.value, self.written = value, None

    def is_visible(self) -> bool:
        return True

    def input_value(self, timeout: float = 30_000) -> str:
        if self.value is None:
            raise PlaywrightTimeout(f"Locator.input_value: Timeout {timeout}ms exceeded.")
        return self.value

    def fill(self, text: str, timeout: float = 30_000) -> None:
        if self.value is None:
            raise PlaywrightTimeout(f"Locator.fill: Timeout {timeout}ms exceeded.")
        self.written = text

    def wait_for(self, state: str, timeout: float) -> None:
        pass


class Keyboard:
    def __init__(self):
        self.pressed: list[str] = []

    def press(self, key: str) -> None:
        self.pressed.append(key)


class Page:
    def __init__(self, editor: Editor):
        self.editor, self.keyboard = editor, Keyboard()

    def locator(self, selector: str) -> Editor:
        return self.editor

    def add_init_script(self, script: str) -> None:
        pass

    def wait_for_timeout(self, milliseconds: float) -> None:
        pass


def test_a_cell_editor_gone_before_it_is_read_is_a_cell_not_opened_and_closed_again():
    page = Page(Editor(None))
    visit = Visit(page)
    assert visit._open_cell("Which river runs through Lyon?") is False
    assert page.keyboard.pressed == ["Enter", "Escape"]  # opened, then closed again: the caller selects again
    assert visit._write_editor("Rhone") is False


def test_a_cell_editor_that_holds_the_cell_is_open_and_written():
    page = Page(Editor("Which river runs through Lyon?"))
    visit = Visit(page)
    assert visit._open_cell("Which river runs through Lyon?") is True and page.keyboard.pressed == ["Enter"]
    assert visit._write_editor("Rhone") is True and page.editor.written == "Rhone"
    assert Visit(Page(Editor("another cell")))._open_cell("Which river runs through Lyon?") is False
