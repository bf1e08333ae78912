"""End to end in a real browser: a user with only documents uploads them on the Data page (Markdown, a PDF, and a
scanned PDF that is skipped), reads what was read and the chunks, generates questions, rejects one and edits one,
leaves the page and finds the review again, launches prompt and RAG on the accepted set, and reads the edited
question's answers beside its source chunk and the passages retrieval found.

`streamlit run dashboard/web.py` and an `adaptlab worker` (tests/dashboard/test_browser.py: served), a tiny random
Llama (tests/decoder_model.py) inside the served ADAPTLAB_HOME, Debian's Chromium through Playwright.

    HF_HUB_OFFLINE=1 .venv/bin/python -m pytest tests/dashboard/test_browser_documents.py -m browser
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from dashboard.serve import CHROMIUM, CHROMIUM_ARGS
from tests.dashboard.test_browser import GRID_SECONDS, SHOTS, VIEWPORT, Visit, served  # noqa: F401 (a fixture)

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


OFFICES = [("Lima", 1994, 42, "Ana Torres"), ("Oslo", 2003, 18, "Ola Nordmann"), ("Pune", 2011, 64, "Priya Nair"),
           ("Quito", 2016, 12, "Carlos Mendes")]
TRAP = "See ![map](http://evil.test/map.png) and [the wiki](http://evil.test) for more."  # must show as text


def handbook(part: int) -> bytes:
    """Half a Markdown handbook: two offices, each with facts in its own section (material for cloze questions)."""
    sections = [f"# Handbook, part {part + 1}\n"]
    for city, year, desks, manager in OFFICES[part * 2:part * 2 + 2]:
        sections.append(f"## The {city} office\n\nThe office in {city} opened in {year} with {desks} desks. Its "
                        f"manager, {manager}, signs every badge request before 9 am. {TRAP}\n\n## Parking in {city}\n\n"
                        f"A parking permit in {city} costs {desks // 2} dollars a month since March {year + 10}.\n")
    return "\n".join(sections).encode()


def upload_files(folder: Path) -> list[Path]:
    """Two Markdown files, a PDF with a text layer, and a scanned PDF (nothing to read: skipped, and said why)."""
    from tests.core.document_files import pdf_with_text, pdf_without_text

    files = {"handbook-1.md": handbook(0), "handbook-2.md": handbook(1),
             "travel.pdf": pdf_with_text(["Receipts go to Henrik Olsen within 14 days of the trip.",
                                          "Broken laptops are swapped at the Lima office by Rosa Diaz."]),
             "scan.pdf": pdf_without_text()}
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return [folder / name for name in files]


def the_split(folder: Path, rejected: int, saved: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The review as the page will show it, and the test questions an experiment over its accepted rows (one
    rejected) will ask, worked out here through core: so the test knows which row to edit to see it answered."""
    from core.config import LlmSettings, TaskSpec
    from core.results.question_review import accepted_questions, review_table
    from core.task.coverage import load_tokenizer
    from core.task.document_settings import DocumentsSpec
    from core.task.documents import documents_corpus
    from core.task.load import load_task
    from core.task.question_table import write_question_table
    from core.task.questions import cloze_questions

    chunks = documents_corpus(DocumentsSpec(path=folder), load_tokenizer(LlmSettings().retriever))[0]
    review = review_table(cloze_questions(chunks).frame, chunks)
    review.loc[rejected, "accept"] = False
    write_question_table(accepted_questions(review), saved)
    return review, load_task(TaskSpec(kind="qa", path=saved, documents={"path": folder}), "preview").test


def stored_questions(experiment: dict) -> pd.DataFrame:
    """Every question (train, validation and test) of the task a stored experiment ran on, from its stored config."""
    from core.config import parse_config
    from core.task.load import load_task

    config = parse_config(experiment["config"])
    task = load_task(config.task, config.name, config.llm.retriever)
    asked = pd.concat([task.train, task.validation, task.test])
    return pd.DataFrame({"question": asked.text.to_numpy(), "answer": asked.label.to_numpy()})


REJECTED = 0  # the review row the user rejects
METHODS = ("prompt", "rag")


def grid_cell(editor, column: int, row: int):
    """A cell of a table as the browser's accessibility tree holds it (the grid itself is drawn on a canvas)."""
    return editor.locator(f"#glide-cell-{column}-{row}")


def untick(page, visit: Visit, editor, row: int, shown, tries: int = 3) -> None:
    """Untick the accept box of a row of the review table: select the row's question cell, step left onto the box,
    press space. A key pressed while the table redraws is lost, so the box is read back and the move made again
    while it still reads ticked (never twice over an unticked box, which would tick it again)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(tries):
        visit.settle()
        if grid_cell(editor, 0, row).inner_text() == "true":
            editor.scroll_into_view_if_needed()
            box = editor.bounding_box()  # read each time: the page above the table may have grown
            page.mouse.click(box["x"] + 250, box["y"] + 35 + 35 * row + 17)
            page.keyboard.press("ArrowLeft")
            page.keyboard.press(" ")
        try:
            shown.wait_for(timeout=15_000)
            visit.settle()
            return
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise


@pytest.mark.slow
def test_documents_to_reviewed_questions_to_a_run_whose_answers_show_their_source_and_retrieval(served, tmp_path):  # noqa: F811
    """Upload documents, read what was read and the chunks, generate questions, reject one and edit one, leave the page
    and find the review again, launch prompt and RAG on the tiny LLM over the accepted set, and read the edited
    question's answers beside its source chunk and the passages retrieval found."""
    from playwright.sync_api import expect, sync_playwright

    from core.methods import default_methods
    from core.results.store import SqlStore
    from tests.decoder_model import build_tiny_llama

    url, logs = served
    files = upload_files(tmp_path / "documents")
    review, test = the_split(tmp_path / "documents", REJECTED, tmp_path / "accepted.jsonl")
    edited = next(row for row in review.index if row != REJECTED and review.question[row] in set(test.text))
    answer = f"{review.answer[edited]} (checked)"
    home = tmp_path / "home"  # the served dashboard's; a model inside it may be loaded (core/backbone/models.py)
    model = build_tiny_llama(home / "models" / "tiny-llama", [handbook(0).decode(), handbook(1).decode(),
                                                              "Question Answer Passages I don't know"])
    with sync_playwright() as playwright:
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
            page.locator('input[type="file"]').first.set_input_files([str(file) for file in files])
            page.get_by_role("button", name="Generate questions").wait_for(timeout=90_000)
            visit.settle()
            # what was read: three documents, the scanned PDF skipped with its reason, nine chunks
            metrics = {m.inner_text().split("\n")[0]: m.inner_text().split("\n")[-1]
                       for m in page.locator('[data-testid="stMetric"]').all()}
            assert (metrics["documents"], metrics["skipped"], metrics["chunks"]) == ("3", "1", "9")
            skipped = page.locator('[data-testid="stDataFrame"]').first
            assert grid_cell(skipped, 0, 0).inner_text() == "scan.pdf"
            assert "without a text layer" in grid_cell(skipped, 1, 0).inner_text()
            page.get_by_text("Chunks (128 tokens, 32 overlapping)").click()
            chunks = page.locator('[data-testid="stDataFrame"]').nth(1)
            expect(grid_cell(chunks, 0, 0)).to_have_text("handbook-1.md#0")
            visit.shot("14-documents-read")

            click_until(page, visit, "Generate questions", page.get_by_text("question(s) generated from").first)
            editor = page.locator('[data-testid="stDataFrame"]').last
            expect(grid_cell(editor, 2, edited)).to_have_text(review.answer[edited], timeout=30_000)
            accepted = page.get_by_text(f"{len(review) - 1} of {len(review)} question(s) accepted.")
            untick(page, visit, editor, REJECTED, accepted)
            box = editor.bounding_box()
            page.mouse.click(box["x"] + 250, box["y"] + 35 + 17)
            for _ in range(edited):
                page.keyboard.press("ArrowDown")
            page.keyboard.press("ArrowRight")  # the answer
            page.keyboard.press("Enter")  # open the cell's editor, then write in it (keys typed sooner are lost)
            cell_editor = page.locator("textarea.gdg-input")
            cell_editor.wait_for(timeout=10_000)
            cell_editor.fill(answer)
            page.keyboard.press("Enter")
            visit.settle()
            expect(grid_cell(editor, 2, edited)).to_have_text(answer)
            chunk = page.locator('[data-testid="stLayoutWrapper"]').filter(has_text="the answer in bold")
            chunk.locator("strong").first.wait_for(timeout=30_000)  # the answer, marked in its chunk
            assert "![map](http" in page.inner_text("body").replace("\u2060", "")  # markup shown as its characters
            visit.shot("15-documents-review")

            visit.open("Runs")  # away, and back: the review is as the user left it
            visit.open("Data")
            page.get_by_text(f"{len(review) - 1} of {len(review)} question(s) accepted.").wait_for(timeout=60_000)
            editor = page.locator('[data-testid="stDataFrame"]').last
            expect(grid_cell(editor, 2, edited)).to_have_text(answer)
            expect(grid_cell(editor, 0, REJECTED)).to_have_text("false")
            click_until(page, visit, "Use the accepted questions",
                        page.get_by_text("This data is selected for the next experiment"))

            visit.open("Experiment")
            page.get_by_text("answered from your documents").wait_for(timeout=60_000)
            page.get_by_text("Another model (a folder or Hub id)").click()
            visit.settle()
            visit.fill("Model folder or Hub id", str(model))
            for method in default_methods("decoder", "qa", has_corpus=True):
                if method not in METHODS:
                    page.get_by_role("checkbox", name=method, exact=True).uncheck(force=True)
                    visit.settle()
            for method in METHODS:
                expect(page.get_by_role("checkbox", name=method, exact=True)).to_be_checked()
            visit.fill("Training-set sizes", "4")
            visit.fill("Seeds", "1")
            expect(page.get_by_role("button", name="Launch")).to_be_enabled(timeout=120_000)
            visit.click("Launch")
            page.get_by_role("heading", name="Runs", exact=True).wait_for(timeout=60_000)
            page.get_by_role("button", name="Compare").wait_for(timeout=GRID_SECONDS * 1000)

            visit.open("Answers")
            number = list(test.text).index(review.question[edited])
            picker = page.locator('[data-testid="stSelectbox"]').filter(has_text="Test question")
            picker.click()
            page.keyboard.type(review.question[edited][-40:])
            page.keyboard.press("Enter")
            visit.settle()
            expect(picker.get_by_role("combobox")).to_have_value(re.compile(rf"^{number + 1}\. "))
            page.get_by_role("heading", name="Passages the retrieving methods found").wait_for(timeout=60_000)
            shown = page.inner_text("main")
            assert f"Reference answer: {answer}" in shown
            where = f"{review.document[edited]} › {review.heading[edited]} (chunk {review.source[edited]})"
            assert "Where the question came from" in shown and where in shown
            assert "best match first" in shown and ("The source was found" in shown or "not among them" in shown)
            visit.shot("16-documents-answers-after-a-run")
            assert asked == []
        finally:
            browser.close()
    # the experiment asked exactly the accepted questions, the edited answer in place of the generated one
    store = SqlStore(home / "results.db")
    name = store.experiments().name.iloc[0]
    stored = stored_questions(store.experiment(name))
    accepted = review.drop(index=REJECTED)
    assert sorted(stored.question) == sorted(accepted.question)
    assert stored.set_index("question").answer[review.question[edited]] == answer
    assert "Traceback" not in (logs / "worker.log").read_text(errors="replace")


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
