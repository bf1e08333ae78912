"""The Data page: built-in scenarios, uploads of every format, column mapping, and problems shown in words."""

import io

import pandas as pd
import pytest

from core.task.scenarios import demo_config, scenario_cards
from dashboard.ui import SHARED_TASK
from tests.conftest import links_and_images
from tests.dashboard.conftest import assert_clean, markdown_shown, open_page

GOOD = "text,label\n" + "".join(f"message about {topic} number {i},{topic}\n"
                                 for topic in ("billing", "login", "shipping") for i in range(12))


def _upload(name: str, content: bytes):
    app = open_page("data")
    app.get("button_group")[0].set_value("Upload a file").run()
    app.get("file_uploader")[0].set_value((name, content, "application/octet-stream")).run()
    assert_clean(app)
    return app


def test_a_builtin_scenario_is_checked_before_anything_runs():
    app = open_page("data")
    assert_clean(app)
    app.number_input(key="data.fortunes.per_class").set_value(40).run()
    assert_clean(app)
    assert [m.label for m in app.metric][:5] == ["train", "validation", "test", "classes", "corpus documents"]
    assert app.metric[3].value == "5"
    assert "Unknown tokens" in [m.label for m in app.metric] and "tokenizer covers this text well" in app.info[0].value
    assert len(app.get("plotly_chart")) == 1  # class balance
    app.button(key="data.use").click().run()
    assert app.session_state[SHARED_TASK] == {"builtin": "fortunes", "builtin_options": {"per_class": 40}}
    assert "selected for the next experiment" in app.success[-1].value


@pytest.mark.parametrize("scenario", [card["name"] for card in scenario_cards()])
def test_every_builtin_scenario_gets_its_report_and_a_tokenizer_verdict(scenario):
    app = open_page("data")
    app.selectbox(key="data.scenario").set_value(scenario).run()
    assert_clean(app)
    classes = demo_config(scenario)["task"].get("kind", "classification") == "classification"
    assert not app.error and len(app.get("plotly_chart")) == classes  # class balance, where there are classes
    assert "Pieces per word" in [m.label for m in app.metric] and app.info[0].value  # the verdict, in words


def test_an_uploaded_csv_is_mapped_checked_and_chosen(adaptlab_home):
    app = _upload("../../tickets.csv", GOOD.encode())
    assert "**tickets.csv**: 36 rows" in app.caption[1].value
    assert app.selectbox(key="data.text_column").value == "text"
    assert app.selectbox(key="data.label_column").value == "label"
    assert not app.error and app.metric[3].value == "3"
    app.button(key="data.use").click().run()
    chosen = app.session_state[SHARED_TASK]
    stored = adaptlab_home.resolve() / "uploads"
    assert chosen["path"].startswith(str(stored)) and "tickets" not in chosen["path"]  # a generated name
    assert (chosen["text_column"], chosen["label_column"]) == ("text", "label")


@pytest.mark.parametrize("name, content, message", [
    ("one-class.csv", b"text,label\n" + b"".join(b"t%d,a\n" % i for i in range(20)), "at least two"),
    ("binary.csv", b"text,label\n\x00\x01\x02", "NUL bytes"),
    ("broken.jsonl", b'{"text": "a", "label": "x"}\nnot json\n', "line 2 is not valid JSON"),
    ("empty-text.csv", b"text,label\n" + b"".join(b",%s\n" % c for c in (b"a", b"b", b"c") for _ in range(4)),
     "empty text"),
    ("latin1.csv", "text,label\ncaf\xe9,a\n".encode("latin-1"), "not valid UTF-8"),
    ("noheader.csv", b"\n\n", "no columns found"),
])
def test_bad_files_get_a_sentence_not_a_traceback(name, content, message):
    app = _upload(name, content)
    errors = " ".join(e.value for e in app.error)
    assert message in errors, errors
    if message not in ("at least two", "empty text"):  # messages about the file name the user's file
        assert name in errors
    assert "data.use" not in [b.key for b in app.button]  # nothing to choose until it is fixed


def test_parquet_and_a_split_column_are_understood():
    frame = pd.DataFrame({"body": [f"text {i} about {c}" for c in "abc" for i in range(10)],
                          "queue": [c for c in "abc" for _ in range(10)],
                          "part": (["train"] * 6 + ["validation"] * 1 + ["test"] * 3) * 3})
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    app = _upload("tickets.parquet", buffer.getvalue())
    assert app.selectbox(key="data.text_column").value == "body"
    assert app.selectbox(key="data.label_column").value == "queue"
    app.selectbox(key="data.split_column").set_value("part").run()
    assert_clean(app)
    assert [m.value for m in app.metric][:3] == ["18", "3", "9"]


def test_a_wrong_column_choice_is_explained():
    app = _upload("tickets.csv", GOOD.encode())
    app.selectbox(key="data.label_column").set_value("text").run()
    assert_clean(app)
    shown = [e.value for e in app.error] + [w.value for w in app.warning]
    assert any("needs at least 3 examples" in text for text in shown), shown  # 36 classes of one text each


def test_a_question_answering_scenario_is_described_by_questions_not_classes():
    app = open_page("data")
    app.selectbox(key="data.scenario").set_value("geo-qa").run()
    assert_clean(app)
    labels = [m.label for m in app.metric]
    assert labels[:4] == ["train questions", "validation questions", "test questions", "corpus passages"]
    assert "classes" not in labels and not app.get("plotly_chart")  # no class balance to draw
    assert "answer options" in " ".join(c.value for c in app.caption)
    assert list(app.dataframe[0].value.columns) == ["question", "answer"]


# -- messages as sentences, in the page's own words ----------------------------------------------------------------
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(range(256))


def _shown(app) -> str:
    return " ".join([e.value for e in app.error] + [w.value for w in app.warning])


def test_an_image_renamed_csv_is_said_to_be_no_text_file():
    app = _upload("photo.csv", PNG)
    shown = _shown(app)
    assert "photo.csv is not a text file: it looks like a PNG image" in shown, shown
    assert "UTF-8" not in shown.split("Save as")[0] and "byte 0" not in shown


def test_one_class_is_said_in_words_not_as_a_python_list():
    app = _upload("one.csv", b"text,label\n" + b"".join(b"text number %d,billing\n" % i for i in range(20)))
    shown = _shown(app)
    assert "The training examples have only one class, 'billing': a classifier needs at least two" in shown, shown
    assert "['" not in shown and "class(es)" not in shown


def test_long_texts_name_the_field_as_the_experiment_page_labels_it():
    long = "".join(f"{'word ' * 150}number {i},{topic}\n" for topic in ("billing", "login", "shipping")
                   for i in range(12))
    app = _upload("long.csv", ("text,label\n" + long).encode())
    shown = _shown(app)
    assert "will be truncated; raise \"Max length (tokens)\"" in shown, shown
    assert "model.max_length" not in shown


def test_a_large_class_imbalance_is_warned_about():
    rows = [f"a note about billing number {i},billing" for i in range(80)]
    rows += [f"a note about login number {i},login" for i in range(27)]
    app = _upload("skewed.csv", ("text,label\n" + "\n".join(rows) + "\n").encode())
    assert_clean(app)
    warnings = [w.value for w in app.warning]
    imbalanced = [w for w in warnings if "imbalanced" in w]
    assert len(imbalanced) == 1 and "'billing' has" in imbalanced[0] and "macro-F1" in imbalanced[0], warnings
    assert not any("No problems found" in s.value for s in app.success)  # a warning is a problem found


# -- text from the file is shown as text ------------------------------------------------------------------------------
IMAGE, LINK = "![b](https://attacker.example/p.png)", "[Session expired](https://attacker.example/login)"


def test_names_and_labels_from_the_file_show_as_text_never_as_a_link_or_an_image():
    """A file named like a Markdown image, a column too, and labels written as a link, an image and a bare address:
    each is named on the page (caption, imbalance warning, errors) and none is drawn as what it says."""
    labels = [LINK] * 30 + [IMAGE] * 3 + ["mail admin@attacker.example or www.attacker.example"] * 3
    frame = pd.DataFrame({IMAGE: [f"message {i} about {label[:5]}" for i, label in enumerate(labels)],
                          "label": labels})
    app = _upload("![f](https://attacker.example/f.png).csv", frame.to_csv(index=False).encode())
    shown = markdown_shown(app)
    assert "attacker.example/p.png" in app.caption[1].value  # the column is named
    assert any("Session expired" in text for text in shown)  # the labels are named (the imbalance warning)
    assert links_and_images("\n\n".join(shown)) == []
    one_class = pd.DataFrame({"text": [f"message {i}" for i in range(20)], IMAGE: [LINK] * 20})
    app = _upload("one.csv", one_class.to_csv(index=False).encode())  # an error naming the one class
    assert "Session expired" in app.error[0].value and "at least two" in app.error[0].value
    assert links_and_images("\n\n".join(markdown_shown(app))) == []

def test_uploaded_documents_are_read_chunked_and_their_skips_shown(adaptlab_home):
    import json

    from tests.core.document_files import pdf_with_text, pdf_without_text, zip_bytes

    questions = "\n".join(json.dumps({"question": f"Which office is number {i}?", "answer": f"Office {i}"})
                          for i in range(12)).encode()
    app = _upload("questions.jsonl", questions)
    page = "<html><body><nav>MENU</nav><h1>Offices</h1><p>Office 3 opens at 8.</p></body></html>"
    app.get("file_uploader")[1].set_value([
        ("handbook.md", b"# Handbook\n\nOffice 1 is in Lima.\n", "text/markdown"),
        ("../../offices.html", page.encode(), "text/html"),
        ("manual.pdf", pdf_with_text(["Office 2 keeps the badges."]), "application/pdf"),
        ("scan.pdf", pdf_without_text(), "application/pdf"),
        ("more.zip", zip_bytes({"notes/office4.txt": b"Office 4 has no parking.", "../x.txt": b"escape"}),
         "application/zip")]).run()
    assert_clean(app)
    assert app.selectbox(key="data.text_column").label == "Question column"
    assert app.selectbox(key="data.label_column").value == "answer"
    metrics = {m.label: m.value for m in app.metric}
    assert (metrics["documents"], metrics["skipped"], metrics["chunks"]) == ("4", "2", "4")
    tables = {tuple(table.value.columns): table.value for table in app.dataframe}
    skipped = tables[("document", "reason")]
    assert skipped.document.tolist() == ["more.zip:../x.txt", "scan.pdf"]
    assert "leaves the archive" in skipped.reason[0] and "without a text layer" in skipped.reason[1]
    chunks = tables[("id", "document", "text", "start", "end", "heading")]
    assert set(chunks.document) == {"handbook.md", "offices.html", "manual.pdf", "more.zip/notes/office4.txt"}
    assert "MENU" not in " ".join(chunks.text)
    app.button(key="data.use").click().run()
    chosen = app.session_state[SHARED_TASK]
    assert chosen["kind"] == "qa" and chosen["documents"]["path"].startswith(str(adaptlab_home.resolve() / "uploads"))
