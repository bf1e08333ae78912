"""The Decision report page on a stored grid: an incomplete experiment said so at the top, the options with the
cost that decides, tied options named, and reasons that match the choice as the constraints change."""

import pytest

from core.results.store import SqlStore
from tests.dashboard.conftest import assert_clean, open_page
from tests.decision_grid import stored_grid


def test_the_page_says_what_is_missing_names_the_tied_and_explains_the_choice(adaptlab_home):
    stored_grid(str(adaptlab_home / "results.db"), seeds=(0, 1, 2), missing={"lora|32|1", "lora|32|2"})
    assert len(SqlStore(adaptlab_home / "results.db").runs_frame("grid")) == 17
    app = open_page("report")
    assert_clean(app)
    assert app.warning[0].value.startswith("**Incomplete experiment: 17 of 19 planned runs finished (2 never started)")
    assert any("LoRA adapter (32 per class) 1 of 3" in c.value for c in app.caption)
    headline = app.warning[1].value  # not green: provisional until the missing runs finish
    assert headline.startswith("**Provisional, until the missing runs finish: Use TF-IDF + logistic regression (32 "
                               "per class).") and not app.success  # the method's title
    card = app.markdown[0].value  # the verdict card: the option tied with it named by its title
    assert "Tied with it (the data cannot tell them apart" in card and "LoRA adapter (32 per class): 0.900" in card
    reasons = app.markdown[1].value  # every reason, as the tables name each option
    assert "Tied with the best, LoRA adapter (32 per class) at 0.900" in reasons
    assert "TF-IDF + logistic regression (32 per class) 0.850" in reasons
    options = app.table[0].value  # indexed by the option
    assert options.loc["LoRA adapter (32 per class)", "seeds"] == "1 of 3"
    costs = app.table[1].value.columns  # the options' costs: a table of its own, so both fit the page
    assert "total at 100,000 queries" in costs and "per 1,000 queries" in costs
    assert options.loc["TF-IDF + logistic regression (32 per class)", "status"].startswith("chosen; tied with the best")
    # with a floor rag misses and data that changes often: the reasons say why rag is not taken
    app.number_input(key="report.floor").set_value(0.8).run()
    app.toggle(key="report.changes").set_value(True).run()
    assert_clean(app)
    assert app.warning[1].value.startswith("**Provisional, until the missing runs finish: Use TF-IDF + logistic "
                                           "regression (32 per class).")
    reasons = app.markdown[1].value
    assert "each is ruled out (RAG (32 per class): below the accuracy floor" in reasons
    assert "RAG (32 per class) takes new data" not in reasons
    assert "TF-IDF + logistic regression (32 per class)" not in reasons[reasons.index("Ruled out by the constraints"):]


def test_the_page_sends_the_runs_to_mlflow_and_a_refusal_is_a_sentence(adaptlab_home, tmp_path):
    mlflow = pytest.importorskip("mlflow", reason="the mlflow extra: pip install -e '.[mlflow]'")
    stored_grid(str(adaptlab_home / "results.db"), seeds=(0, 1))
    app = open_page("report")
    assert app.text_input(key="report.mlflow.uri").value == f"sqlite:///{adaptlab_home / 'mlflow.db'}"
    app.text_input(key="report.mlflow.uri").set_value("nonsense://nowhere")
    send = lambda: next(b for b in app.button if b.label == "Send the runs to MLflow")  # noqa: E731
    send().click().run()  # the form's submit button (its fields are sent with it)
    assert_clean(app)
    assert "refused the runs" in app.error[0].value and "nowhere" in app.error[0].value
    uri = f"sqlite:///{tmp_path / 'team.db'}"
    app.text_input(key="report.mlflow.uri").set_value(uri)
    send().click().run()
    assert_clean(app)
    finished = SqlStore(adaptlab_home / "results.db").runs_frame("grid")
    assert f": {len(finished)} run(s) added, 0 replaced, 0 already there" in app.success[-1].value
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("adaptlab/grid")
    logged = client.search_runs([experiment.experiment_id], max_results=1000)
    assert len(logged) == len(finished) + 1  # each run, and the grid's parent with the report on it


def test_the_recommended_option_exports_beside_the_recommendation(adaptlab_home):
    """A real kept run: the button writes its folder under ADAPTLAB_HOME/exports with its card; again, it refuses in
    one sentence unless told to replace it."""
    from core.config import parse_config
    from core.running.runner import run_experiment
    from tests.conftest import tiny_config

    run_experiment(parse_config(tiny_config(methods=["tfidf"], sizes=[4], keep_artifacts=True)),
                   SqlStore(adaptlab_home / "results.db"))
    app = open_page("report")
    assert_clean(app)
    assert app.selectbox(key="report.export.option").value == "tfidf@4"  # the recommendation, chosen already
    export = next(button for button in app.button if button.label == "Export this option")
    export.click().run()
    assert_clean(app)
    folder = adaptlab_home / "exports" / "tiny-tfidf-4"
    # the message is Markdown-safe text ("@" and "|" escaped), naming the run and the folder written
    assert any(message.value.startswith("exported tfidf") and f"{folder}: README.md, adaptlab.json, load.py" in
               message.value for message in app.success)
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "library_name: sklearn" in card
    assert "Decision report's verdict**: Use TF-IDF + logistic regression (4 per class)." in card
    assert app.get("download_button")  # the folder as a zip
    next(button for button in app.button if button.label == "Export this option").click().run()
    assert any("already exists; add --force" in message.value for message in app.error)


def test_each_option_fits_the_page_and_why_one_is_ruled_out_is_said_in_full(adaptlab_home):
    """The options' status in a few words in the table, as wide as its longest status; where it says more (why an
    option is ruled out), the whole sentence below the table, where nothing is cut off."""
    stored_grid(str(adaptlab_home / "results.db"), seeds=(0, 1))
    app = open_page("report")
    app.number_input(key="report.floor").set_value(0.8).run()
    assert_clean(app)
    options = app.table[0].value  # indexed by the option
    assert list(options.columns[:1]) == ["status"]  # beside the option it is about
    assert options.loc["RAG (32 per class)", "status"].startswith("ruled out") and ":" not in options.status.str.cat()
    said = " ".join(m.value for m in app.markdown)
    assert "**RAG (32 per class)**: ruled out: below the accuracy floor" in said
    assert not set(options.columns) & set(app.table[1].value.columns)  # each figure in one table
