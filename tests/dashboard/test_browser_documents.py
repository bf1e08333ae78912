"""End to end in a real browser: a user with only documents uploads them on the Data page (Markdown, a PDF, and a
scanned PDF that is skipped), reads what was read and the chunks, has an LLM write questions in the worker (the page
follows the job and reads them back), generates cloze questions, rejects one and edits one,
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

from tests.dashboard.browser import BROWSER_MARKS, GRID_SECONDS, VIEWPORT, Visit, chromium, grid_cell, until
from tests.dashboard.test_browser import served  # noqa: F401 (a fixture)

pytestmark = BROWSER_MARKS


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


@pytest.mark.slow
def test_documents_to_reviewed_questions_to_a_run_whose_answers_show_their_source_and_retrieval(served, tmp_path):  # noqa: F811
    """Upload documents, read what was read and the chunks, generate questions, reject one and edit one, leave the page
    and find the review again, launch prompt and RAG on the tiny LLM over the accepted set, and read the edited
    question's answers beside its source chunk and the passages retrieval found."""
    from playwright.sync_api import expect

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
    with chromium() as browser:
        page = browser.new_page(viewport=VIEWPORT)
        asked = []
        page.on("request", lambda request: asked.append(request.url) if "evil.test" in request.url else None)
        visit = Visit(page)
        page.goto(f"{url}/data")
        page.get_by_role("heading", name="Data", exact=True).wait_for(timeout=90_000)
        visit.segment("Documents")  # the data source
        visit.upload(files, page.get_by_role("button", name="Generate questions"))
        # what was read: three documents, the scanned PDF skipped with its reason, nine chunks
        def metrics() -> tuple:  # read again until they show what was read: a metric may still be drawing
            shown = {m.inner_text().split("\n")[0]: m.inner_text().split("\n")[-1]
                     for m in page.locator('[data-testid="stMetric"]').all()}
            return tuple(shown.get(name) for name in ("documents", "skipped", "chunks"))

        until(page, lambda: metrics() == ("3", "1", "9"), 30)
        assert metrics() == ("3", "1", "9")
        skipped = page.locator('[data-testid="stDataFrame"]').first
        expect(grid_cell(skipped, 0, 0)).to_have_text("scan.pdf")
        expect(grid_cell(skipped, 1, 0)).to_contain_text("without a text layer")
        chunks = page.locator('[data-testid="stDataFrame"]').nth(1)
        visit.expand("Chunks (128 tokens, 32 overlapping)", chunks)
        expect(grid_cell(chunks, 0, 0)).to_have_text("handbook-1.md#0")
        visit.shot("14-documents-read")

        # questions an LLM writes: asked of the worker, followed on the page, read back once the worker saved them (the
        # random tiny model's keep none: said, with what to do); then the cloze questions the review below uses
        visit.choose("Questions", "Written by an LLM")
        visit.fill("Model that writes them", str(model))
        visit.press("Generate questions", page.get_by_text("Writing questions with").first)
        page.get_by_text("prompt(s) per chunk to tiny-llama").first.wait_for(timeout=GRID_SECONDS * 1000)
        page.get_by_text("Name a larger model, or use cloze questions").wait_for(timeout=30_000)
        visit.choose("Questions", "Cloze (no model)")

        visit.press("Generate questions", page.get_by_text("question(s) generated from").first)
        editor = page.locator('[data-testid="stDataFrame"]').last
        expect(grid_cell(editor, 2, edited)).to_have_text(review.answer[edited], timeout=30_000)
        accepted = page.get_by_text(f"{len(review) - 1} of {len(review)} question(s) accepted.")
        # the question column, 250 px in; the accept box left of it, the answer right of it
        visit.untick_cell(editor, REJECTED, 250, review.question[REJECTED], box=(0, REJECTED))
        accepted.wait_for(timeout=30_000)
        visit.edit_cell(editor, edited, 250, review.question[edited], review.answer[edited], answer, cell=(2, edited))
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
        visit.press("Use the accepted questions", page.get_by_text("This data is selected for the next experiment"))

        visit.open("Experiment")
        page.get_by_text("answered from your documents").wait_for(timeout=60_000)
        visit.choose("Base model", "Another model (a folder or Hub id)")
        visit.fill("Model folder or Hub id", str(model))
        for method in default_methods("decoder", "qa", has_corpus=True):
            visit.check(method, method in METHODS)
        visit.fill("Training-set sizes", "4")
        visit.fill("Seeds", "1")
        expect(page.get_by_role("button", name="Launch")).to_be_enabled(timeout=120_000)
        for method in default_methods("decoder", "qa", has_corpus=True):  # as set above, still
            expect(page.get_by_role("checkbox", name=method, exact=True)).to_be_checked(checked=method in METHODS)
        visit.press("Launch", page.get_by_role("heading", name="Runs", exact=True))
        # the finished job's card links to Compare (a page link; its icon is text too): the runs are over
        page.locator('[data-testid="stPageLink"] a').filter(has_text="Compare").wait_for(timeout=GRID_SECONDS * 1000)

        visit.open("Answers")
        number = list(test.text).index(review.question[edited])
        visit.pick("Test question", review.question[edited][-40:],
                   picked=lambda value: re.match(rf"^{number + 1}\. ", value) is not None)
        page.get_by_role("heading", name="Passages the retrieving methods found").wait_for(timeout=60_000)
        visit.ready()
        shown = page.inner_text("main")
        assert f"Reference answer: {answer}" in shown
        where = f"{review.document[edited]} › {review.heading[edited]} (chunk {review.source[edited]})"
        assert "Where the question came from" in shown and where in shown
        assert "best match first" in shown and ("The source was found" in shown or "not among them" in shown)
        visit.shot("16-documents-answers-after-a-run")
        assert asked == []
    # the experiment asked exactly the accepted questions, the edited answer in place of the generated one
    store = SqlStore(home / "results.db")
    name = store.experiments().name.iloc[0]
    stored = stored_questions(store.experiment(name))
    accepted = review.drop(index=REJECTED)
    assert sorted(stored.question) == sorted(accepted.question)
    assert stored.set_index("question").answer[review.question[edited]] == answer
    assert "Traceback" not in (logs / "worker.log").read_text(errors="replace")


def test_the_answers_page_shows_each_questions_source_chunk_beside_what_retrieval_found(tmp_path):
    from tests.dashboard.conftest import dashboard_alone
    from tests.dashboard.test_answers_sources import store_documents_experiment

    with dashboard_alone(tmp_path, lambda store: store_documents_experiment(store, tmp_path / "handbook")) as url, \
            chromium() as browser:
        page = browser.new_page(viewport=VIEWPORT)
        visit = Visit(page)
        page.goto(f"{url}/answers")
        page.get_by_role("heading", name="Answers", exact=True).wait_for(timeout=90_000)
        page.get_by_role("heading", name="Where the question came from").wait_for(timeout=60_000)
        visit.ready()
        chunk = page.locator('[data-testid="stLayoutWrapper"]').filter(has_text="the answer in bold")
        chunk.locator("strong").first.wait_for(timeout=30_000)
        page.get_by_text("The source was found").first.wait_for(timeout=30_000)  # question 1: found at rank 1
        shown = page.inner_text("main")
        assert "Where the question came from" in shown and "The source was found, at rank 1" in shown
        visit.shot("17-documents-answers")
