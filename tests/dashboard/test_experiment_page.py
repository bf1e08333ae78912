"""The Experiment page: settings validated in words, data checked against the grid, estimate, launch."""

import re

import pandas as pd
import pytest

from core.methods import default_methods
from core.results.store import SqlStore
from core.running import estimate as estimate_module
from core.running.estimate import Estimate
from core.running.jobs import JobQueue
from dashboard.ui import SHARED_TASK
from tests.dashboard.conftest import assert_clean, fake_experiment, open_page

SMALL = {"builtin": "fortunes", "builtin_options": {"per_class": 40}}


def _page(task=SMALL):
    app = open_page("experiment", run=False)
    app.session_state[SHARED_TASK] = task
    return app.run()


def _errors(app):
    """The errors as a reader sees them: Markdown's backslash escapes (text from the user is escaped) rendered."""
    return re.sub(r"\\(.)", r"\1", " ".join(e.value for e in app.error))


def test_the_defaults_launch_a_queued_job_and_open_the_runs_page(adaptlab_home):
    app = _page()
    assert_clean(app)
    methods = [box for box in app.checkbox if box.key.startswith("experiment.method.")]
    usual = set(default_methods("encoder"))  # SetFit is offered, not ticked
    assert methods and all(box.value == (box.key.removeprefix("experiment.method.") in usual) for box in methods)
    name = app.text_input(key="experiment.name").value
    assert name.startswith("fortunes-")
    for method in ("full", "scratch", "lora", "rag"):
        app.checkbox(key=f"experiment.method.{method}").uncheck()
    app.text_input(key="experiment.sizes").input("4, 8").run()
    app.button(key="experiment.launch").click().run()
    assert_clean(app)
    job = JobQueue(SqlStore(adaptlab_home / "results.db")).jobs().iloc[0]
    assert (job.experiment, job.status) == (name, "queued")
    config = JobQueue(SqlStore(adaptlab_home / "results.db")).job(int(job.id))["config"]
    assert config["methods"] == ["prompt", "probe", "tfidf"] and config["sizes"] == [4, 8]
    assert config["task"]["builtin_options"] == {"per_class": 40} and config["seeds"] == [0, 1]
    assert app.title[0].value == "Runs"


@pytest.mark.parametrize("field, value, message", [
    ("experiment.sizes", "8, lots", "Training-set sizes: 'lots' is not a size; write whole numbers"),
    ("experiment.sizes", "0", "Training-set sizes: training-set size 0 is impossible"),
    ("experiment.name", "no spaces allowed", "Experiment name: use letters, digits"),
    ("experiment.template", "no placeholder",
     "Prompt template (prompt-only): the prompt template must contain {label}"),
    # a format spec that widens the text (3 GB per label) or a field a run cannot fill: refused in the text field
    ("experiment.template", "{label} {label:>3000000000}", "Prompt template (prompt-only): the prompt template has "
     "{label:>3000000000}; it may only use {label}"),
    ("experiment.template", "{label} {0}", "Prompt template (prompt-only): the prompt template has {0}"),
])
def test_bad_settings_are_refused_in_sentences_naming_the_field_and_launch_is_off(field, value, message):
    app = _page()
    app.text_input(key=field).input(value).run()
    assert_clean(app)
    errors = _errors(app)
    assert message in errors, errors
    for raw in ("sizes.1", "literal[", "Input should", "the config has", "these settings:"):  # never pydantic's words
        assert raw not in errors, errors
    assert app.button(key="experiment.launch").disabled
    assert any(c.value.startswith("Launch is off until this is fixed") for c in app.caption)


@pytest.mark.parametrize("key, value, message", [
    ("experiment.epochs", 5000, "Max epochs: must be at most 1000 (it is 5000)."),
    ("experiment.seeds", 0, "Seeds: choose at least one."),
    ("experiment.max_length", 4, "Max length (tokens): must be at least 8 (it is 4)."),
])
def test_an_out_of_range_number_keeps_launch_off_and_names_the_field(key, value, message):
    # a browser keeps an out-of-range number on screen; the page must check it, not run on with the last valid one
    app = _page()
    app.number_input(key=key).set_value(value).run()
    assert_clean(app)
    assert message in _errors(app) and app.button(key="experiment.launch").disabled


def test_no_method_chosen_is_an_error_not_a_crash():
    app = _page()
    for box in app.checkbox:
        if box.key.startswith("experiment.method."):
            box.uncheck()
    app.run()
    assert_clean(app)
    assert "Methods: choose at least one." in _errors(app) and app.button(key="experiment.launch").disabled


def test_a_grid_larger_than_the_data_is_stopped_before_launch():
    app = _page()
    app.text_input(key="experiment.sizes").input("8, 500").run()
    assert_clean(app)
    assert "500 training examples per class" in _errors(app)
    assert app.button(key="experiment.launch").disabled and app.button(key="experiment.estimate").disabled


def test_an_existing_name_is_warned_about(adaptlab_home):
    fake_experiment(SqlStore(adaptlab_home / "results.db"), "taken")
    app = _page()
    app.text_input(key="experiment.name").input("taken").run()
    assert "An experiment named 'taken' exists" in app.warning[0].value


def test_the_estimate_is_shown_per_method_with_its_notes(monkeypatch):
    measured = Estimate("CPU (2 cores)", "cpu", 0.10, pd.DataFrame(
        {"method": ["prompt", "tfidf", "tfidf"], "size": ["0", "8", "32"], "seed": [0, 0, 0],
         "train_examples": [0, 40, 160], "steps": [0, 0, 0], "seconds": [2.0, 1.0, 3.0]}), 30.0, {}, ["upper bound"])
    calls = []
    monkeypatch.setattr(estimate_module, "estimate_in_subprocess", lambda config, url: calls.append(config) or measured)
    app = _page()
    app.text_input(key="experiment.sizes").input("8, 16").run()
    app.button(key="experiment.estimate").click().run()
    assert_clean(app)
    assert len(calls) == 1 and calls[0].task.builtin == "fortunes"
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Estimated time"] == "36 s" and metrics["Runs to do"] == "3"
    table = app.dataframe[-1].value  # the rows add up to the total: the one-off setup is a row of its own
    assert table.method.tolist() == ["prompt", "tfidf", "one-off setup (load the model, encode the texts)", "total"]
    assert table.time.tolist() == ["2 s", "4 s", "30 s", "36 s"] and table.runs.tolist() == ["1", "2", "", "3"]
    app.text_input(key="experiment.sizes").input("8").run()
    assert "settings changed since the last estimate" in " ".join(c.value for c in app.caption)


def test_an_estimate_that_fails_says_why(monkeypatch):
    from core.errors import AdaptlabError

    def fail(config, url):
        raise AdaptlabError("could not get model 'nope'")

    monkeypatch.setattr(estimate_module, "estimate_in_subprocess", fail)
    app = _page()
    app.text_input(key="experiment.sizes").input("8, 16").run()
    app.button(key="experiment.estimate").click().run()
    assert_clean(app)
    assert "could not get model 'nope'" in _errors(app)


# -- the model, and the methods that run on it -------------------------------------------------------------------
GEO_QA = {"builtin": "geo-qa", "builtin_options": {"quick": True}}


def _methods(app) -> dict[str, bool]:
    return {box.key.removeprefix("experiment.method."): box.value for box in app.checkbox
            if box.key.startswith("experiment.method.")}


def _launched(adaptlab_home) -> dict:
    queue = JobQueue(SqlStore(adaptlab_home / "results.db"))
    return queue.job(int(queue.jobs().iloc[0].id))["config"]


def test_the_encoder_offers_only_its_methods_and_no_llm_settings():
    app = _page()
    assert_clean(app)
    assert app.radio(key="experiment.backbone").value == "default"
    assert set(_methods(app)) == {"prompt", "rag", "probe", "lora", "full", "setfit", "scratch", "tfidf"}
    assert "LLM settings" not in [e.label for e in app.expander]


def test_the_builtin_llm_offers_the_llm_methods_and_its_settings_reach_the_job(adaptlab_home):
    app = _page()
    app.radio(key="experiment.backbone").set_value("smollm2").run()
    assert_clean(app)
    offered = _methods(app)
    assert {"fewshot", "corpus_ft", "rag_lora", "qlora"} <= set(offered) and "probe" not in offered
    assert offered["fewshot"] and not offered["qlora"]  # QLoRA needs CUDA: offered, not ticked
    assert "LLM settings" in [e.label for e in app.expander]
    for method in ("rag", "full", "scratch", "tfidf", "lora"):
        app.checkbox(key=f"experiment.method.{method}").uncheck()
    app.text_input(key="experiment.sizes").input("4, 8").run()
    assert not app.button(key="experiment.estimate").disabled  # the estimate measures LLM runs too
    app.number_input(key="experiment.llm_new_tokens").set_value(24).run()
    app.number_input(key="experiment.llm_shots").set_value(4).run()
    app.selectbox(key="experiment.llm_shot_selection").set_value("similar").run()
    app.checkbox(key="experiment.tuning").check().run()
    app.text_area(key="experiment.llm_instruction").input("Name the collection: {labels}.").run()
    app.button(key="experiment.launch").click().run()
    assert_clean(app)
    config = _launched(adaptlab_home)
    assert config["model"]["name"] == "smollm2" and config["methods"] == ["prompt", "fewshot"]
    assert (config["llm"]["max_new_tokens"], config["llm"]["max_shots"]) == (24, 4)
    assert config["llm"]["shot_selection"] == "similar" and config["tuning"] is True
    assert config["llm"]["instruction"] == "Name the collection: {labels}."
    assert config["llm"]["learning_rates"]["lora"] == 1e-3  # the LLM's own rates, not the encoder's


def test_geo_qa_is_said_to_need_an_llm_which_is_chosen_and_launched_as_qa(adaptlab_home):
    app = _page(GEO_QA)
    assert_clean(app)
    assert "question-answering" in app.info[0].value and app.radio(key="experiment.backbone").value == "smollm2"
    offered = _methods(app)
    assert "tfidf" not in offered and "probe" not in offered
    assert offered["corpus_ft"] and offered["rag_lora"] and not offered["qlora"]
    assert "experiment.unit" not in [r.key for r in app.radio]  # questions have no classes to count per
    assert app.radio(key="experiment.reference").options == ["scratch"]
    app.checkbox(key="experiment.llm_abstain").uncheck().run()
    app.button(key="experiment.launch").click().run()
    assert_clean(app)
    config = _launched(adaptlab_home)
    assert config["task"]["kind"] == "qa" and config["size_unit"] == "total" and not config["llm"]["allow_abstain"]
    assert {"corpus_ft", "rag_lora"} <= set(config["methods"]) and "qlora" not in config["methods"]


def test_geo_qa_on_the_encoder_is_refused_in_words_before_anything_is_launched():
    app = _page(GEO_QA)
    app.radio(key="experiment.backbone").set_value("default").run()
    assert_clean(app)
    assert "sentence encoder cannot write answers" in _errors(app)
    assert "experiment.launch" not in [b.key for b in app.button] and not _methods(app)


@pytest.mark.parametrize("model_type, family", [("llama", "decoder"), ("bert", "encoder")])
def test_another_model_offers_the_methods_of_its_architecture(tmp_path, monkeypatch, model_type, family):
    folder = tmp_path / "models" / f"tiny-{model_type}"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(f'{{"model_type": "{model_type}"}}', encoding="utf-8")
    monkeypatch.setenv("ADAPTLAB_MODEL_ROOTS", str(tmp_path / "models"))
    app = _page()
    app.radio(key="experiment.backbone").set_value("other").run()
    app.text_input(key="experiment.model_name").input(str(folder)).run()
    assert_clean(app)
    assert ("fewshot" in _methods(app)) == (family == "decoder") and ("probe" in _methods(app)) == (family == "encoder")
    assert ("an LLM" if family == "decoder" else "a sentence encoder") in " ".join(c.value for c in app.caption)


def test_an_unknown_model_keeps_launch_off_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAPTLAB_MODEL_ROOTS", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    app = _page()
    app.radio(key="experiment.backbone").set_value("other").run()
    app.text_input(key="experiment.model_name").input(str(tmp_path / "no-such-model")).run()
    assert_clean(app)
    assert "Model folder or Hub id: there is no folder" in _errors(app)
    assert app.button(key="experiment.launch").disabled and "experiment.estimate" not in [b.key for b in app.button]
    app.text_input(key="experiment.model_name").input("nobody/no-such-model").run()
    assert_clean(app)
    assert "'nobody/no-such-model' is not in this machine's Hugging Face cache" in _errors(app)
    assert app.button(key="experiment.launch").disabled
    assert any("Launch is off" in c.value and "Hugging Face cache" in c.value for c in app.caption)


def test_with_a_ray_cluster_configured_the_grid_can_be_sent_there(adaptlab_home, monkeypatch):
    app = _page()
    assert not [r for r in app.radio if r.key == "experiment.executor"]  # no cluster configured: no choice
    monkeypatch.setenv("ADAPTLAB_RAY_ADDRESS", "10.0.0.5:6379")
    app = _page()
    where = app.radio(key="experiment.executor")
    assert where.value == "local" and where.options == ["this server", "the Ray cluster at 10.0.0.5:6379"]
    for method in ("full", "scratch", "lora", "rag"):
        app.checkbox(key=f"experiment.method.{method}").uncheck()
    app.text_input(key="experiment.sizes").input("4, 8").run()
    where.set_value("ray").run()
    app.button(key="experiment.launch").click().run()
    assert_clean(app)
    config = _launched(adaptlab_home)
    assert config["executor"] == "ray" and config["ray"]["address"] is None  # the server's ADAPTLAB_RAY_ADDRESS


# -- a first look at an LLM on a CPU: the quick look's settings, an estimate, and a long launch confirmed ---------
def _settings_shown(app) -> dict:
    numbers = {"seeds": "seeds", "epochs": "epochs", "min_steps": "min_steps", "batch": "batch", "k": "rag_k"}
    shown = {name: app.number_input(key=f"experiment.{key}").value for name, key in numbers.items()}
    return {**shown, "sizes": app.text_input(key="experiment.sizes").value}


def test_an_llm_on_a_cpu_starts_from_the_quick_look_and_the_encoder_from_the_usual_grid():
    from core.task.scenarios import LLM_QUICK_BUDGET, demo_config

    app = _page()
    assert _settings_shown(app)["seeds"] == 2
    app.radio(key="experiment.backbone").set_value("smollm2").run()
    assert_clean(app)
    quick = demo_config("fortunes", quick=True, model="smollm2")  # `adaptlab demo fortunes --model smollm2 --quick`
    shown = _settings_shown(app)
    assert shown["seeds"] == 1 and shown["sizes"] == ", ".join(map(str, quick["sizes"]))
    assert (shown["epochs"], shown["min_steps"]) == (LLM_QUICK_BUDGET["max_epochs"], LLM_QUICK_BUDGET["min_steps"])
    assert app.number_input(key="experiment.llm_shots").value == quick["llm"]["max_shots"]
    # each run answers the quick look's 8 questions alone for its latency, not 16
    assert app.number_input(key="experiment.latency_queries").value == quick["latency_queries"] == 8
    assert any("quick look" in c.value for c in app.caption)
    app.radio(key="experiment.backbone").set_value("default").run()  # back to the encoder: its usual grid
    assert _settings_shown(app)["seeds"] == 2 and not any("quick look" in c.value for c in app.caption)
    assert app.number_input(key="experiment.latency_queries").value == 16


def test_geo_qa_on_a_cpu_starts_with_its_quick_look_methods_and_budget(adaptlab_home):
    from core.task.scenarios import demo_config

    app = _page(GEO_QA)
    assert_clean(app)
    quick = demo_config("geo-qa", quick=True, model="smollm2")
    assert _settings_shown(app) == {"seeds": 1, "sizes": "32", "epochs": quick["budget"]["max_epochs"],
                                    "min_steps": quick["budget"]["min_steps"],
                                    "batch": quick["training"]["batch_size"], "k": quick["rag"]["k"]}
    assert {m for m, ticked in _methods(app).items() if ticked} == set(quick["methods"])
    app.button(key="experiment.launch").click().run()
    config = _launched(adaptlab_home)
    assert config["seeds"] == [0] and config["sizes"] == [32] and config["budget"]["max_epochs"] == 2
    assert config["latency_queries"] == quick["latency_queries"] == 8  # the quick look's, carried into the launch


def _estimated(monkeypatch, seconds: float) -> Estimate:
    measured = Estimate("CPU (2 cores)", "cpu", 0.10, pd.DataFrame(
        {"method": ["prompt", "lora"], "size": ["0", "8"], "seed": [0, 0], "train_examples": [0, 40],
         "steps": [0, 30], "seconds": [60.0, seconds]}), 30.0, {"family": "decoder"}, [])
    monkeypatch.setattr(estimate_module, "estimate_in_subprocess", lambda config, url: measured)
    return measured


def test_a_launch_the_estimate_puts_over_an_hour_asks_first(adaptlab_home, monkeypatch):
    _estimated(monkeypatch, 2 * 3600.0)
    app = _page()
    app.radio(key="experiment.backbone").set_value("smollm2").run()
    app.text_input(key="experiment.sizes").input("4, 8").run()
    app.button(key="experiment.estimate").click().run()
    assert_clean(app)
    assert {m.label: m.value for m in app.metric}["Estimated time"] == "2 h 1 min"
    assert "load the LLM" in app.dataframe[-1].value.method.tolist()[-2]
    app.button(key="experiment.launch").click().run()
    assert_clean(app)
    queue = JobQueue(SqlStore(adaptlab_home / "results.db"))
    assert queue.jobs().empty and "about 2 h 1 min" in app.warning[-1].value  # asked, nothing queued yet
    app.button(key="experiment.launch_not_now").click().run()
    assert "experiment.launch_long" not in [b.key for b in app.button] and queue.jobs().empty
    app.button(key="experiment.launch").click().run()
    app.button(key="experiment.launch_long").click().run()
    assert_clean(app)
    assert len(queue.jobs()) == 1 and app.title[0].value == "Runs"


def test_a_launch_the_estimate_puts_under_an_hour_goes_at_once(adaptlab_home, monkeypatch):
    _estimated(monkeypatch, 600.0)
    app = _page()
    app.radio(key="experiment.backbone").set_value("smollm2").run()
    app.text_input(key="experiment.sizes").input("4, 8").run()
    app.button(key="experiment.estimate").click().run()
    app.button(key="experiment.launch").click().run()
    assert_clean(app)
    assert len(JobQueue(SqlStore(adaptlab_home / "results.db")).jobs()) == 1 and app.title[0].value == "Runs"


def test_the_default_name_follows_the_data_until_one_is_typed(tmp_path):
    app = _page()
    assert app.text_input(key="experiment.name").value.startswith("fortunes-")
    app.session_state[SHARED_TASK] = {"builtin": "kaomoji", "builtin_options": {}}
    app.run()
    assert app.text_input(key="experiment.name").value.startswith("kaomoji-")
    folder = tmp_path / "documents-0a1b2c"  # questions written from an uploaded handbook: named after it
    folder.mkdir()
    (folder / "Team handbook.md").write_text("# Leave\nTwenty days a year.", encoding="utf-8")
    app.session_state[SHARED_TASK] = {"kind": "qa", "path": str(tmp_path / "questions.jsonl"),
                                      "documents": {"path": str(folder)}}
    app.run()
    assert app.text_input(key="experiment.name").value.startswith("Team-handbook-")
    app.text_input(key="experiment.name").input("leave-policy").run()
    app.session_state[SHARED_TASK] = SMALL
    app.run()
    assert app.text_input(key="experiment.name").value == "leave-policy"  # a typed name is the user's: kept
