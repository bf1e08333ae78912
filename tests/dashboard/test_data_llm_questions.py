"""The Data page's Documents source with questions written by an LLM: the selector, the report, a bad model in words."""

from tests.dashboard.conftest import assert_clean, markdown_shown
from tests.dashboard.test_data_documents import documents_page, guide


def _written_by(model: str):
    app = documents_page([(f"guide{i}.md", guide(i)) for i in range(2)])
    app.radio(key="data.docs.source").set_value("Written by an LLM").run()
    assert app.text_input(key="data.docs.model").value == "smollm2"  # the built-in LLM is suggested
    app.text_input(key="data.docs.model").set_value(model).run()
    app.button(key="data.docs.generate").click().run()
    assert_clean(app)
    return app


def test_questions_written_by_an_llm_show_what_was_kept_and_dropped(adaptlab_home, tiny_llama):
    app = _written_by(str(tiny_llama))
    shown = "\n".join(markdown_shown(app))
    assert "prompt(s) per chunk to tiny-llama" in shown and "dropped:" in shown, shown
    assert not app.error
    # a random model writes nothing its chunks support: said, with what to do, and nothing to review
    assert any("Name a larger model, or use cloze questions" in w.value for w in app.warning)
    assert not app.data_editor


def test_a_model_that_cannot_write_questions_is_said_in_one_sentence(adaptlab_home):
    app = _written_by("default")
    assert [e.value for e in app.error] and "cannot write questions" in app.error[0].value
    assert not app.data_editor
