"""The Data page's Documents source: documents alone in, questions written, reviewed, and the accepted ones used."""

from pathlib import Path

import pandas as pd

from dashboard.ui import SHARED_TASK
from tests.conftest import links_and_images
from tests.dashboard.conftest import assert_clean, markdown_shown, open_page, switch_to


def guide(number: int) -> bytes:
    """A short Markdown guide whose sentences hold names, numbers and dates: material for cloze questions."""
    trap = "See ![map](http://evil.test/map.png) and [the wiki](http://evil.test) for more."  # must show as text
    return (f"# Guide {number}\n\n## Offices\n\nThe office in Lima opened in 199{number} with 4{number} desks. "
            f"Its manager, Ana Torres, signs every badge request before 9 am. {trap}\n\n## Parking\n\nThe parking "
            f"permit costs {number}5 dollars a month since March 202{number}. Version 2.{number}.7 of the handbook "
            f"replaced the older rules. {trap}\n").encode()


def documents_page(files: list[tuple[str, bytes]]):
    app = open_page("data")
    app.get("button_group")[0].set_value("Documents").run()
    app.get("file_uploader")[0].set_value([(name, content, "text/markdown") for name, content in files]).run()
    assert_clean(app)
    return app


def test_documents_alone_are_read_and_chunked_without_a_question_file(adaptlab_home):
    app = documents_page([(f"guide{i}.md", guide(i)) for i in range(6)] + [("empty.md", b"  \n")])
    metrics = {m.label: m.value for m in app.metric}
    assert (metrics["documents"], metrics["skipped"], metrics["chunks"]) == ("6", "1", "12")
    tables = {tuple(table.value.columns): table.value for table in app.dataframe}
    assert tables[("document", "reason")].document.tolist() == ["empty.md"]
    chunks = tables[("id", "document", "text", "start", "end", "heading")]
    assert set(chunks.heading) == {f"Guide {i} > {part}" for i in range(6) for part in ("Offices", "Parking")}
    assert SHARED_TASK not in app.session_state


def test_generated_questions_are_reviewed_and_only_the_accepted_ones_edited_are_used(adaptlab_home):
    app = documents_page([(f"guide{i}.md", guide(i)) for i in range(8)])
    app.button(key="data.docs.generate").click().run()
    assert_clean(app)
    shown = "\n".join(markdown_shown(app))
    assert "question(s) generated from" in shown and "kept" in shown
    review = app.data_editor[0].value
    assert list(review.columns) == ["accept", "question", "answer", "document", "heading"]
    assert review.accept.all() and review.question.str.startswith("Fill in the blank").all()
    assert set(review.document) <= {f"guide{i}.md" for i in range(8)}
    rejected, edited = review.question[0], review.question[1]
    app.session_state[app.data_editor[0].key] = {"edited_rows": {0: {"accept": False},
                                                 1: {"question": "Who signs badge requests?", "answer": "Ana T."}},
                                 "added_rows": [], "deleted_rows": []}
    app.run()
    assert_clean(app)
    assert f"{len(review) - 1} of {len(review)} question(s) accepted." in markdown_shown(app)
    app.button(key="data.docs.use").click().run()
    assert_clean(app)
    spec = app.session_state[SHARED_TASK]
    assert spec["kind"] == "qa" and set(spec) == {"kind", "path", "documents"}
    uploads = adaptlab_home.resolve() / "uploads"
    assert Path(spec["path"]).parent == uploads and Path(spec["documents"]["path"]).parent == uploads
    saved = pd.read_json(spec["path"], lines=True)
    assert len(saved) == len(review) - 1 and rejected not in set(saved.question) and edited not in set(saved.question)
    mine = saved[saved.question == "Who signs badge requests?"].iloc[0]
    assert (mine.answer, mine.aliases) == ("Ana T.", ["Ana T."])  # the generated forms were of the old answer
    assert saved.source.str.contains("#").all()  # every question keeps its source chunk
    # the spec then passes the same checks as any data: validated, split by source chunk, ready for an experiment
    assert any("selected for the next experiment" in line for line in markdown_shown(app))
    assert not app.error
    split = next(w.value for w in app.warning if "split by the" in w.value)
    assert split.startswith("The accepted questions") and Path(spec["path"]).name not in split  # not a stored name


def test_the_source_chunk_is_shown_as_text_with_the_answer_in_bold(adaptlab_home):
    trap = (b"# Tricks\n\nThe vault in Oslo was opened by Ola Nordmann in 1997 after ![x](http://evil.test/a.png) "
            b"and [a link](http://evil.test) were removed from the wiki page.\n")
    app = documents_page([("trap.md", trap)] + [(f"guide{i}.md", guide(i)) for i in range(6)])
    app.button(key="data.docs.generate").click().run()
    review = app.data_editor[0].value
    number = review.index[review.document == "trap.md"][0]
    app.selectbox(key="data.docs.shown").set_value(number).run()
    assert_clean(app)
    answer = review.answer[number]
    chunk = next(text for text in markdown_shown(app) if "vault in Oslo" in text)
    assert f"**{answer}**" in chunk
    assert links_and_images("\n\n".join(markdown_shown(app))) == []


def test_a_question_left_without_an_answer_is_named_and_nothing_is_saved(adaptlab_home):
    app = documents_page([(f"guide{i}.md", guide(i)) for i in range(6)])
    app.button(key="data.docs.generate").click().run()
    app.session_state[app.data_editor[0].key] = {"edited_rows": {2: {"answer": " "}}, "added_rows": [],
                                                 "deleted_rows": []}
    app.run()
    assert "Row(s) 3 are accepted but have no question or no answer" in app.error[0].value
    assert SHARED_TASK not in app.session_state and not app.get("download_button")


def test_the_question_table_downloads_as_csv_and_jsonl(adaptlab_home):
    app = documents_page([(f"guide{i}.md", guide(i)) for i in range(6)])
    app.button(key="data.docs.generate").click().run()
    labels = [button.label for button in app.get("download_button")]
    assert labels == ["Download CSV", "Download JSONL"]



def test_the_review_is_there_again_after_another_page(adaptlab_home):
    app = documents_page([(f"guide{i}.md", guide(i)) for i in range(6)])
    app.button(key="data.docs.generate").click().run()
    review = app.data_editor[0].value
    app.session_state[app.data_editor[0].key] = {"edited_rows": {0: {"accept": False}, 1: {"answer": "Ana T."}},
                                                 "added_rows": [], "deleted_rows": []}
    app.run()
    switch_to(app, "runs")
    assert [title.value for title in app.title] == ["Runs"]
    switch_to(app, "data")
    assert_clean(app)
    assert app.get("button_group")[0].value == "Documents"  # the data source as the user left it
    assert "Using the files uploaded before: guide0.md" in "\n".join(markdown_shown(app))
    back = app.data_editor[0].value
    assert (bool(back.accept[0]), back.answer[1]) == (False, "Ana T.")
    assert back.question.tolist() == review.question.tolist() and back.accept[2:].all()
    assert f"{len(review) - 1} of {len(review)} question(s) accepted." in markdown_shown(app)
    # an edit made after coming back is kept with the earlier ones
    app.session_state[app.data_editor[0].key] = {"edited_rows": {2: {"accept": False}}, "added_rows": [],
                                                 "deleted_rows": []}
    app.run()
    assert f"{len(review) - 2} of {len(review)} question(s) accepted." in markdown_shown(app)
    assert app.data_editor[0].value.answer[1] == "Ana T."


def test_removing_the_uploaded_files_drops_the_documents(adaptlab_home):
    app = documents_page([(f"guide{i}.md", guide(i)) for i in range(6)])
    app.get("file_uploader")[0].set_value([]).run()
    assert_clean(app)
    assert not app.metric and "Upload the documents" in app.info[0].value


def test_questions_per_chunk_and_seed_choose_the_questions(adaptlab_home):
    app = documents_page([(f"guide{i}.md", guide(i)) for i in range(6)])
    app.number_input(key="data.docs.max_per_chunk").set_value(1).run()
    app.button(key="data.docs.generate").click().run()
    assert_clean(app)
    one = app.data_editor[0].value
    assert len(one) == 12 and one.groupby(["document", "heading"]).size().max() == 1  # 12 chunks, one question each
    assert any("over per-chunk limit" in line for line in markdown_shown(app))
    app.number_input(key="data.docs.seed").set_value(1).run()
    assert "generate again" in "\n".join(markdown_shown(app))  # settings changed: the review shown is still seed 0
    assert app.data_editor[0].value.question.tolist() == one.question.tolist()
    app.button(key="data.docs.generate").click().run()
    other = app.data_editor[0].value
    assert len(other) == 12 and other.question.tolist() != one.question.tolist()  # another sentence per chunk


def test_a_review_changed_after_its_questions_were_used_says_the_experiment_would_use_the_earlier_set(adaptlab_home):
    app = documents_page([(f"guide{i}.md", guide(i)) for i in range(6)])
    app.button(key="data.docs.generate").click().run()
    app.button(key="data.docs.use").click().run()
    used = app.session_state[SHARED_TASK]
    assert not [w for w in app.warning if "review changed" in w.value]
    app.session_state[app.data_editor[0].key] = {"edited_rows": {0: {"accept": False}}, "added_rows": [],
                                                 "deleted_rows": []}
    app.run()
    assert_clean(app)
    assert any("The review changed after the accepted questions were used" in w.value for w in app.warning)
    assert app.session_state[SHARED_TASK] == used  # nothing changes until the user uses them again
    app.button(key="data.docs.use").click().run()
    assert app.session_state[SHARED_TASK] != used and not [w for w in app.warning if "review changed" in w.value]


def test_documents_removed_from_the_uploads_folder_meanwhile_are_asked_for_again(adaptlab_home):
    import shutil

    app = documents_page([(f"guide{i}.md", guide(i)) for i in range(6)])
    folder = Path(app.session_state["data.docs.files.folder"])
    switch_to(app, "runs")
    shutil.rmtree(folder)  # a clean-up of the uploads folder, while the user was on another page
    switch_to(app, "data")
    assert_clean(app)
    assert not app.metric and "Upload the documents" in app.info[0].value
