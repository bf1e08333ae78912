"""A qa task with a folder of documents: the chunks are its corpus, RAG retrieves them, the experiment stores them."""

from __future__ import annotations

import json

from core.config import parse_config
from core.task.documents import stored_chunks
from tests.core.document_files import pdf_with_text, pdf_without_text

FACTS = {"Oslo": "The Oslo office opens at 8 and closes at 17.",
         "Lima": "The Lima office keeps spare badges in locker 42.",
         "Pune": "The Pune office runs the night shift for support.",
         "Kyiv": "The Kyiv office hosts the quarterly planning week."}


def handbook(folder):
    """A folder of Markdown and PDF files, one scanned PDF among them, and twelve questions on them."""
    (folder / "offices").mkdir(parents=True)
    for city, fact in FACTS.items():
        (folder / "offices" / f"{city.lower()}.md").write_text(f"# {city}\n\n## Hours and rooms\n\n{fact}\n")
    (folder / "policy.pdf").write_bytes(pdf_with_text(["Travel policy.", "Economy class for flights under 6 hours."]))
    (folder / "scan.pdf").write_bytes(pdf_without_text())
    questions = folder.parent / "questions.jsonl"
    rows = [{"question": f"Question {i} about {city}?", "answer": city} for i in range(3) for city in FACTS]
    questions.write_text("\n".join(json.dumps(row) for row in rows))
    return questions


def test_rag_retrieves_chunks_of_the_documents_and_the_chunk_table_is_stored(tmp_path, tiny_llama):
    from core.results.store import SqlStore
    from core.running.runner import run_experiment

    questions = handbook(tmp_path / "handbook")
    config = parse_config({
        "name": "docs", "task": {"kind": "qa", "path": str(questions),
                                 "documents": {"path": str(tmp_path / "handbook"), "chunk_tokens": 32,
                                               "chunk_overlap": 4}},
        "model": {"name": str(tiny_llama), "precision": "fp32"}, "methods": ["prompt", "rag"], "sizes": [4],
        "seeds": [0], "budget": {"max_epochs": 1, "min_steps": 2}, "rag": {"k": 2},
        "llm": {"context_length": 256, "max_new_tokens": 4}})
    store = SqlStore()
    result = run_experiment(config, store)

    runs = store.runs_frame("docs", with_predictions=True).set_index("method")
    assert (runs.status == "finished").all(), runs.error.tolist()
    stored = store.experiment("docs")["task"]
    chunks = stored_chunks(stored)
    assert set(chunks.document) == {f"offices/{c.lower()}.md" for c in FACTS} | {"policy.pdf"}
    lima = chunks[chunks.document == "offices/lima.md"]  # a lone heading joins the section below it
    assert lima.heading.tolist() == ["Lima > Hours and rooms"] and lima.text.iloc[0].startswith("# Lima\n\n## Hours")
    assert list(chunks.columns) == ["id", "document", "text", "start", "end", "heading"]
    assert (chunks.text != "").all()
    retrieved = runs.loc["rag"].record["retrieved"]
    assert retrieved and all(len(found) == 2 and set(found) <= set(chunks.id) for found in retrieved)
    documents = stored["provenance"]["documents"]
    assert documents["documents"] == 5 and documents["skipped"] == 1
    skipped = documents["skipped_documents"][0]
    assert skipped["document"] == "scan.pdf" and "without a text layer" in skipped["reason"]
    assert any("1 document(s) skipped: scan.pdf" in warning for warning in stored["warnings"])
    assert result.failed == 0


def guides(folder):
    """Six short guides of real prose, each stating facts a cloze question can hide (names, numbers, terms)."""
    folder.mkdir(parents=True)
    for i, (city, fact) in enumerate(FACTS.items()):
        (folder / f"{city.lower()}.md").write_text(
            f"# The {city} office\n\n{fact} Visitors sign in at the front desk of building {i + 3}. "
            f"The {city} office was opened in {1990 + i} by the regional director Maria Ortega. "
            f"Parking permits for the {city} office are issued by the facilities team on floor {i + 2}.\n")
    (folder / "security.md").write_text(
        "# Security\n\nEvery laptop runs the endpoint agent called Sentinel Guard version 7. "
        "Passwords rotate every 90 days for all administrator accounts. "
        "Lost badges are reported to the security desk within 24 hours of the loss.\n")
    (folder / "expenses.md").write_text(
        "# Expenses\n\nMeals during travel are refunded up to 45 euros a day. "
        "Receipts are uploaded to the finance portal called Ledgerly within 30 days. "
        "Hotel bookings above 180 euros a night need approval from the travel manager.\n")


def test_documents_alone_become_questions_split_by_chunk_with_withheld_documents_test_only(tmp_path, tiny_llama):
    """No QA file: cloze questions are built from the chunks; training and test questions never share a chunk,
    the withheld documents are neither indexed nor asked except as test questions marked covered=False."""
    from core.results.store import SqlStore
    from core.running.runner import run_experiment
    from core.task.load import load_task

    guides(tmp_path / "guides")
    config = parse_config({
        "name": "guides", "task": {"kind": "qa", "split_seed": 1,
                                   "documents": {"path": str(tmp_path / "guides"), "chunk_tokens": 24,
                                                 "chunk_overlap": 0, "withheld_fraction": 0.25}},
        "model": {"name": str(tiny_llama), "precision": "fp32"}, "methods": ["prompt", "rag"], "sizes": [4],
        "seeds": [0], "rag": {"k": 2}, "llm": {"context_length": 256, "max_new_tokens": 4}})
    task = load_task(config.task, "guides")
    assert all((frame.origin == "cloze").all() for frame in (task.train, task.validation, task.test))
    train_sources = set(task.train.source) | set(task.validation.source)
    assert train_sources and not train_sources & set(task.test.source)  # no chunk feeds both
    withheld = set(task.provenance["withheld_documents"])
    assert len(withheld) == 2 and not withheld & set(task.corpus.document)  # never indexed
    uncovered = task.test[~task.test.covered]
    assert len(uncovered) and {source.split("#")[0] for source in uncovered.source} <= withheld
    assert task.train.covered.all()

    store = SqlStore()
    run_experiment(config, store)
    runs = store.runs_frame("guides", with_predictions=True).set_index("method")
    assert (runs.status == "finished").all(), runs.error.tolist()
    assert "by_coverage" in runs.loc["prompt"].record  # covered and uncovered questions reported apart
    stored = store.experiment("guides")["task"]
    assert stored["provenance"]["documents"]["withheld"] == sorted(withheld)
    # each test question's source is stored, so the Answers page can show it beside what retrieval found
    assert [question["source"] for question in stored["questions"]] == task.test.source.tolist()
