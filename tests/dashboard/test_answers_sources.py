"""The Answers page for questions written from the user's documents: each question's source chunk (document,
heading, text with the answer marked) beside what retrieval found, and whether the source was among it."""

import pytest

from core.config import TaskSpec, parse_config
from core.evaluation.metrics import qa_metrics
from core.results.store import SqlStore
from core.running.runner import qa_reference
from core.task.load import load_task
from tests.conftest import links_and_images, tiny_config
from tests.dashboard.conftest import assert_clean, markdown_shown, open_page
from tests.dashboard.test_data_documents import guide

NAME = "handbook-qa"


def store_documents_experiment(store: SqlStore, folder) -> object:
    """A documents QA experiment stored as the runner stores it (the task really loaded from Markdown files, cloze
    questions and chunks included); one rag run whose retrieval finds the source of every other question."""
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(8):
        (folder / f"guide{number}.md").write_bytes(guide(number))
    spec = TaskSpec(kind="qa", documents={"path": folder})
    task = load_task(spec, NAME)
    config = parse_config(tiny_config(NAME, task=spec.model_dump(mode="json"), model={"name": "smollm2"},
                                      methods=["rag"], sizes=[8], seeds=[0]))
    store.register_experiment(NAME, config.model_dump(mode="json"), task.fingerprint(), [], [1] * len(task.test),
                              {"provenance": task.provenance, "kind": "qa", "family": "decoder", "stats": {},
                               "warnings": [], **qa_reference(task)})
    others = [chunk for chunk in task.corpus.id if chunk not in set(task.test.source)]
    retrieved = [([source] if number % 2 == 0 else []) + others[:2] for number, source in enumerate(task.test.source)]
    answers = ["I don't know"] * len(task.test)
    metrics, exact = qa_metrics(answers, [[a] for a in task.test.label])
    store.write_run(NAME, {"run_key": "rag|8|0", "method": "rag", "size": "8", "seed": 0, "status": "finished",
                           "train_examples": 8, **metrics, "answers": answers, "retrieved": retrieved,
                           "details": {}}, exact.tolist())
    return task


@pytest.fixture
def documents_experiment(adaptlab_home, tmp_path):
    return store_documents_experiment(SqlStore(adaptlab_home / "results.db"), tmp_path / "handbook")


def _ask(number: int):
    app = open_page("answers")
    app.selectbox(key="answers.question").set_value(number).run()
    assert_clean(app)
    return app


def test_each_question_shows_its_source_chunk_and_whether_retrieval_found_it(documents_experiment):
    test = documents_experiment.test
    corpus = documents_experiment.corpus.set_index("id")
    for number in (0, 1):
        app = _ask(number)
        shown = "\n".join(markdown_shown(app))
        source = test.source[number]
        assert "Where the question came from" in shown
        assert f"{corpus.document[source]} › {corpus.heading[source]} (chunk {source})" in shown
        assert f"**{test.label[number]}**" in shown  # the answer marked in its chunk
        other = documents_experiment.corpus.iloc[0]  # not a test question's source: retrieved for every question
        assert f"*{other.document} › {other.heading}*: " in shown  # each retrieved passage names where it is from
        if number % 2 == 0:
            assert "The source was found**, at rank 1." in shown and "1. :green-background[**✓ the source**]" in shown
        else:
            assert "The source was not among them." in shown and "✓ the source" not in shown
        assert "!\\[map\\]" in shown and links_and_images(shown) == []  # the documents' markup shown as text
