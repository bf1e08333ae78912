"""Compare, Negative transfer, Cost and Decision report, on a stored experiment and in their empty states."""

import plotly.io
import pytest

from core.results.store import SqlStore
from tests.dashboard.conftest import assert_clean, fake_experiment, fake_qa_experiment, open_page

RESULT_PAGES = ["compare", "negative_transfer", "cost", "report"]


@pytest.fixture
def store(adaptlab_home):
    return SqlStore(adaptlab_home / "results.db")


@pytest.fixture(scope="module")
def grid_store(tmp_path_factory):
    """One stored grid shared by the tests that only read it: its intervals are computed (and cached) once."""
    location = tmp_path_factory.mktemp("grid") / "results.db"
    fake_experiment(SqlStore(location))
    return str(location.resolve())


@pytest.fixture
def grid(grid_store, monkeypatch):
    monkeypatch.setenv("ADAPTLAB_STORE", grid_store)


def _charts(app):
    return app.get("plotly_chart")


@pytest.mark.parametrize("page", RESULT_PAGES)
def test_without_experiments_each_page_says_where_to_start(page):
    app = open_page(page)
    assert_clean(app)
    assert "No experiments yet" in app.info[0].value and not _charts(app)


@pytest.mark.parametrize("page", RESULT_PAGES)
def test_an_experiment_without_finished_runs_is_an_empty_state_not_an_error(page, store):
    from core.config import ExperimentConfig
    from core.running.jobs import JobQueue

    fake_experiment(store, "waiting", finished=False)
    JobQueue(store).submit(ExperimentConfig.model_validate(store.experiment("waiting")["config"]), resource="cpu")
    app = open_page(page)  # its job waits for a worker: results appear as its runs finish
    assert_clean(app)
    assert "no finished runs yet" in app.info[-1].value and not app.error


def test_compare_shows_the_table_and_every_chart_and_switches_the_cost_axis(grid):
    app = open_page("compare")
    assert_clean(app)
    table = app.dataframe[0].value
    # each method by its title, as the verdict card above the table names it
    assert {"LoRA adapter", "Full fine-tune", "TF-IDF + logistic regression", "Prompt-only"} <= set(table.method)
    assert "accuracy [95% interval]" in table.columns
    assert len(_charts(app)) == 3  # learning curves, accuracy against cost, per-class F1
    app.selectbox(key="compare.cost_axis").set_value("bytes_stored").run()
    assert_clean(app)
    assert len(_charts(app)) == 3
    assert any("CUDA out of memory" in e.value for e in app.error)  # the failed run, in words


def test_negative_transfer_names_the_cells_where_transfer_hurts(grid):
    app = open_page("negative_transfer")
    assert_clean(app)
    sentence = app.markdown[0].value
    assert "Transfer hurts in" in sentence and "**LoRA adapter** at 8 per class" in sentence  # by its title
    assert any("Benjamini-Hochberg" in caption.value for caption in app.caption)  # how the flags control the error
    assert len(_charts(app)) == 1
    pooled = len(app.dataframe[0].value)
    app.toggle[0].set_value(True).run()  # each seed as well
    assert_clean(app)
    assert len(app.dataframe[0].value) > pooled


def test_negative_transfer_without_the_reference_explains_what_to_add(store):
    fake_experiment(store, methods=("prompt", "lora"))  # no from-scratch reference ran at all
    app = open_page("negative_transfer")
    assert_clean(app)
    assert "no finished 'scratch' runs" in app.info[0].value and "'tfidf'" in app.info[0].value


def test_where_scratch_did_not_run_compare_and_negative_transfer_use_the_reference_that_did(store):
    """Issue 30: an experiment whose reference (scratch, the default) did not run showed an empty "vs From scratch"
    column on Compare; the differences are now to TF-IDF, the reference that ran, and both pages say so."""
    fake_experiment(store, methods=("prompt", "lora", "tfidf"))
    app = open_page("compare")
    assert_clean(app)
    table = app.dataframe[0].value
    assert "vs From scratch [95% interval]" not in table.columns
    versus = table["vs TF-IDF + logistic regression [95% interval]"]
    assert versus[table.method == "LoRA adapter"].str.match(r"[+-]\d\.\d{3} \[").all()  # every cell filled
    said = " ".join(c.value for c in app.caption)
    assert "**From scratch**, the reference this experiment names, did not run" in said
    assert "is to **TF-IDF + logistic regression**" in said
    app = open_page("negative_transfer")
    assert_clean(app)
    assert "did not run: every difference here is to **TF-IDF + logistic regression**" in app.info[0].value
    assert "TF-IDF + logistic regression" in _axis_titles(app)[0]
    assert "vs TF-IDF + logistic regression" in app.dataframe[0].value.columns
    assert_clean(open_page("report"))
    markdown = _report_markdown(store, "fake")  # the report's download: the same table, the same reference
    assert "vs TF-IDF + logistic regression [95% interval]" in markdown and "vs From scratch" not in markdown
    assert "scratch, which did not run: differences are to tfidf" in markdown


def _report_markdown(store: SqlStore, name: str) -> str:
    from core.results.analysis import analyse, compared_reference
    from core.results.costs import Constraints
    from core.results.recommendation import recommend
    from core.results.report import build_report
    from core.results.report_render import to_markdown

    experiment, runs = store.experiment(name), store.runs_frame(name, with_predictions=True)
    reference = compared_reference(runs[runs.status == "finished"].method, experiment["config"]["reference"])
    summary = analyse(runs, experiment["test_labels"], reference).summary
    return to_markdown(build_report(experiment, summary, recommend(summary, Constraints()), Constraints(), runs=runs))


def test_where_no_reference_ran_compare_shows_no_empty_difference_column(store):
    fake_experiment(store, methods=("prompt", "lora"))
    app = open_page("compare")
    assert_clean(app)
    assert not [c for c in app.dataframe[0].value.columns if c.startswith("vs ")]
    assert "did not run, nor did any other from-scratch reference" in " ".join(c.value for c in app.caption)


def test_cost_shows_break_even_points_and_storage(grid):
    app = open_page("cost")
    assert_clean(app)
    assert len(_charts(app)) == 2
    text = " ".join(m.value for m in app.markdown)
    assert "Beyond" in text and "costs less in total" in text
    assert "For **100** variants" in text
    app.slider[0].set_value(7).run()
    assert_clean(app)
    assert "For **7** variants" in " ".join(m.value for m in app.markdown)


def test_the_report_recommends_follows_constraints_and_offers_both_downloads(grid):
    app = open_page("report")
    assert_clean(app)
    assert app.success[0].value.startswith("**Use ") and "per class" in app.success[0].value
    assert len(app.get("download_button")) == 2 and len(_charts(app)) == 3
    app.number_input(key="report.floor").set_value(0.99).run()
    assert_clean(app)
    assert "Nothing meets every constraint" in app.warning[0].value
    app.number_input(key="report.floor").set_value(0.7).run()
    app.toggle(key="report.changes").set_value(True).run()
    assert_clean(app)
    assert "Use RAG" in app.success[0].value  # data that changes often, and RAG meets the floor


@pytest.mark.parametrize("page", RESULT_PAGES)
def test_a_grid_of_untrained_methods_only_still_renders_every_page(page, store):
    # one run, size "no training data", no reference, one cost point
    fake_experiment(store, "untrained", methods=("prompt",))
    app = open_page(page)
    assert_clean(app)
    errors = [e.value for e in app.error]
    if page == "compare":  # compare lists the stored failed run, in words; the others show no error at all
        assert errors and all("CUDA out of memory" in error for error in errors), errors
    else:
        assert not errors, errors


@pytest.mark.parametrize("page", RESULT_PAGES)
def test_an_experiment_whose_runs_all_failed_points_to_the_runs_page(page, store):
    fake_experiment(store, "doomed", finished=False)
    store.write_run("doomed", {"run_key": "lora|8|0", "method": "lora", "size": "8", "seed": 0, "status": "failed",
                               "error": "ModelLoadError: no safetensors"}, None)
    app = open_page(page)
    assert_clean(app)
    # nothing runs it: not "results appear as each run finishes", but what is missing, why, and a button
    assert not app.info and app.warning[0].value.startswith("**Incomplete experiment: 0 of 25 planned runs finished "
                                                            "(1 failed, 24 never started). Nothing is running them")
    assert "Failed: lora (8 per class) seed 0 (ModelLoadError: no safetensors)" in app.warning[0].value
    assert [b.label for b in app.button if b.key == "results.run_missing.doomed"] == ["Run the 25 missing runs"]


@pytest.fixture(scope="module")
def qa_store(tmp_path_factory):
    location = tmp_path_factory.mktemp("qa") / "results.db"
    fake_qa_experiment(SqlStore(location))
    return str(location.resolve())


@pytest.fixture
def qa(qa_store, monkeypatch):
    monkeypatch.setenv("ADAPTLAB_STORE", qa_store)


def _axis_titles(app) -> list[str]:
    figures = [plotly.io.from_json(chart.proto.spec) for chart in _charts(app)]
    return [f"{f.layout.title.text} | {f.layout.yaxis.title.text}" for f in figures]


def test_on_a_qa_experiment_compare_labels_the_quality_answer_match(qa):
    app = open_page("compare")
    assert_clean(app)
    columns = app.dataframe[0].value.columns
    assert "answer match [95% interval]" in columns and "token F1" in columns
    assert not any("accuracy" in column for column in columns)
    verdict = app.success[0].value  # the verdict card speaks of answer match, in words beside the figure
    assert "answer match (95% interval" in verdict and "gives an accepted answer to" in verdict
    assert "ccuracy" not in verdict + app.markdown[0].value
    titles = _axis_titles(app)
    assert len(titles) == 2 and all("answer match" in t and "ccuracy" not in t for t in titles)  # no per-class F1


def test_on_a_qa_experiment_negative_transfer_and_the_report_speak_of_answer_match(qa, qa_store):
    app = open_page("negative_transfer")
    assert_clean(app)
    assert _axis_titles(app)[0].replace("<br>", " ").startswith("Answer match minus From scratch")
    app = open_page("report")
    assert_clean(app)
    assert app.number_input(key="report.floor").label == "Answer match floor"
    reasons = " ".join(m.value for m in app.markdown)
    assert "answer match (95% interval" in reasons and "accuracy" not in reasons
    titles = _axis_titles(app)
    assert titles and all("ccuracy" not in t for t in titles)
    best = SqlStore(qa_store).runs_frame("geo-qa-fake").accuracy.max()
    app.number_input(key="report.floor").set_value(round(best - 0.005, 3)).run()  # only the best options reach it
    assert_clean(app)
    reasons = " ".join(m.value for m in app.markdown)
    assert "meets the answer match floor" in reasons and "below the answer match floor" in reasons


def test_on_a_qa_experiment_cost_still_renders(qa):
    app = open_page("cost")
    assert_clean(app)
    assert len(_charts(app)) == 2 and "For **100** variants" in " ".join(m.value for m in app.markdown)


# -- plain words, every row, one band at a time, state per experiment ------------------------------------------
def _figure(app, key: str):
    chart = next(c for c in _charts(app) if key in c.proto.id)
    return plotly.io.from_json(chart.proto.spec)


def _values(array) -> list:
    """A trace's values, whether plain or packed as base64 (plotly packs numpy arrays)."""
    import base64

    import numpy as np

    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def test_compare_names_each_method_plainly_and_explains_per_class_and_the_pareto_front(grid, monkeypatch):
    import streamlit

    from core.methods import METHODS

    heights, draw = {}, streamlit.dataframe

    def recording(data, *args, **kwargs):  # AppTest does not expose a table's height: note what the page asks for
        heights[kwargs.get("key")] = kwargs.get("height")
        return draw(data, *args, **kwargs)

    monkeypatch.setattr(streamlit, "dataframe", recording)
    app = open_page("compare")
    assert_clean(app)
    table = app.dataframe[0].value
    assert list(table.columns[:3]) == ["method", "training data", "seeds"]
    assert heights["compare.table"] >= 35 * (len(table) + 1)  # every row on screen: no scrolling inside the table
    captions = " ".join(c.value for c in app.caption)
    assert f"**tfidf**: {METHODS['tfidf'].title}" in captions  # each method's title, in a line below the tables
    assert "\"8 per class\" means 8 labelled examples of each label" in captions
    assert captions.count("**Pareto front**") == 1 and "no other option beats on both accuracy and" in captions
    front = next(t for t in _figure(app, "compare.cost").data if t.name == "on the front")
    labels = [label for label in front.text if label]
    assert labels and all("per class" in label or "no training data" in label for label in labels)


def test_compare_shows_one_interval_band_at_a_time_when_asked(grid):
    app = open_page("compare")
    bands = [t.name for t in _figure(app, "compare.curves").data if t.fill == "toself"]
    assert len(bands) == 6  # one per method that trains (they overlap); prompt-only's is a level band
    assert len([s for s in _figure(app, "compare.curves").layout.shapes if s.type == "rect"]) == 1
    app.selectbox(key="compare.band.fake").set_value("lora").run()
    assert_clean(app)
    figure = _figure(app, "compare.curves")
    assert [t.name for t in figure.data if t.fill == "toself"] == ["LoRA adapter 95% interval"]
    assert not [s for s in figure.layout.shapes if s.type == "rect"]
    assert len([t for t in figure.data if t.mode == "lines+markers"]) == 6  # every line stays
    assert len([s for s in figure.layout.shapes if s.type == "line"]) == 1  # prompt-only's level line too


def test_the_per_class_size_picked_for_one_experiment_does_not_follow_to_another(store):
    fake_experiment(store, "first")
    fake_experiment(store, "second")
    app = open_page("compare")
    app.selectbox(key="compare.experiment").set_value("first").run()
    app.get("button_group")[-1].set_value("8").run()
    assert_clean(app)
    assert app.get("button_group")[-1].value == "8"
    app.selectbox(key="compare.experiment").set_value("second").run()
    assert_clean(app)
    assert app.get("button_group")[-1].value == "32"  # its own default (the largest size), not first's pick


def test_negative_transfer_counts_only_methods_that_start_from_the_pretrained_model(grid):
    app = open_page("negative_transfer")
    assert_clean(app)
    # 12 cells: six methods at two sizes; tfidf's two are not counted (it starts from no pretrained model)
    assert "Transfer hurts in 2 of 10 cells" in app.markdown[0].value
    tfidf = "TF-IDF + logistic regression"
    assert any(f"**{tfidf}**" in c.value and "no pretrained model" in c.value for c in app.caption)
    names = {t.name for t in _figure(app, "negative_transfer.chart").data}
    assert tfidf not in names and "LoRA adapter" in names and "lora" not in names  # legend by titles
    assert tfidf not in set(app.dataframe[0].value.method) and "LoRA adapter" in set(app.dataframe[0].value.method)


def test_negative_transfer_warns_when_the_reference_gets_worse_with_more_data(store, monkeypatch):
    from tests.dashboard import conftest

    monkeypatch.setitem(conftest.ACCURACY, "scratch", (0.70, 0.50))  # scratch falls from 8 to 32 per class
    fake_experiment(store, "unstable")
    app = open_page("negative_transfer")
    assert_clean(app)
    warning = app.warning[0].value
    assert "gets worse with more data" in warning and "0.700 at 8 per class but 0.500 at 32 per class" in warning
    assert "say more about the reference than about transfer" in warning


def test_cost_says_its_main_fact_and_draws_full_and_scratch_apart(grid):
    app = open_page("cost")
    assert_clean(app)
    fact = app.info[0].value
    assert fact.startswith("**TF-IDF + logistic regression** is the cheapest at every volume") and "x" in fact
    storage = {t.name: t for t in _figure(app, "cost.storage_chart").data}
    # the same bytes: one would hide the other
    full, scratch = storage["Full fine-tune"], storage["From scratch (same as Full fine-tune)"]
    assert _values(full.y) == _values(scratch.y) and _values(full.x) != _values(scratch.x)
    assert (full.line.dash, full.marker.symbol) != (scratch.line.dash, scratch.marker.symbol)
    assert any("**tfidf**: TF-IDF" in c.value for c in app.caption)  # each method's plain name


def test_compare_says_how_each_option_was_tuned(grid):
    app = open_page("compare")
    assert_clean(app)
    tuning = next(frame.value for frame in app.dataframe if "trials" in frame.value.columns)
    assert {"lora", "full", "tfidf", "prompt"} <= set(tuning.method) and set(tuning.tuning) == {"defaults"}
    assert "8 per class" in set(tuning["size"])
    assert any(c.value.startswith("Tuning was off: each option ran at its defaults") for c in app.caption)
