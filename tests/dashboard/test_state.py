"""The dashboard's caches (dashboard/state.py): where results live, what is cached, and when it is read again."""

import pytest

from core.errors import DataError
from core.methods import METHODS
from core.results.store import SqlStore
from dashboard import state
from tests.dashboard.conftest import PLACES, fake_experiment, fake_qa_experiment, qa_passages


@pytest.fixture(autouse=True)
def no_store_override(monkeypatch):
    monkeypatch.delenv("ADAPTLAB_STORE", raising=False)


@pytest.fixture
def store(adaptlab_home):
    return SqlStore(state.store_url())


def test_results_live_in_the_home_folder_unless_a_store_is_named(adaptlab_home, monkeypatch, tmp_path):
    assert state.store_url() == str(adaptlab_home / "results.db")
    monkeypatch.setenv("ADAPTLAB_STORE", str(tmp_path / "elsewhere.db"))
    assert state.store_url() == str(tmp_path / "elsewhere.db")


def test_the_worker_is_started_at_most_once_per_check_period(adaptlab_home, monkeypatch):
    started = []
    monkeypatch.setattr(state, "ensure_worker", lambda store: started.append(store.url) or "started")
    assert state.keep_worker_alive() == "off" and not started  # tests (and a worker run as a service) turn it off
    monkeypatch.setenv("ADAPTLAB_AUTOSTART_WORKER", "1")
    assert state.keep_worker_alive() == "started"
    assert state.keep_worker_alive() == "started"  # cached for 10 s: no second check on every rerun
    assert len(started) == 1 and started[0].endswith("results.db")


def test_the_task_kind_comes_from_the_spec_or_the_scenarios_demo_grid():
    assert state.task_kind({"builtin": "geo-qa"}) == "qa"
    assert state.task_kind({"builtin": "fortunes"}) == "classification"
    assert state.task_kind({"builtin": "geo-qa", "kind": "classification"}) == "classification"  # said: wins
    assert state.task_kind({"path": "questions.csv", "kind": "qa"}) == "qa"
    assert state.task_kind({"path": "texts.csv"}) == "classification"


def test_a_scenarios_options_are_its_build_defaults():
    options = state.scenario_options("fortunes")
    assert options["per_class"] == 200 and "seed" in options


def test_the_methods_offered_depend_on_the_backbone_and_the_task_kind():
    encoder = state.methods_offered("encoder", "classification")
    decoder_qa = state.methods_offered("decoder", "qa")
    assert {"probe", "tfidf", "lora", "scratch"} <= set(encoder) and "fewshot" not in encoder
    assert {"prompt", "fewshot", "rag", "lora"} <= set(decoder_qa) and not {"probe", "tfidf"} & set(decoder_qa)
    order = list(METHODS)
    assert encoder == sorted(encoder, key=order.index) and decoder_qa == sorted(decoder_qa, key=order.index)
    assert state.method_titles()["lora"] == METHODS["lora"].title


def test_a_task_is_loaded_once_whatever_the_order_of_its_spec(tmp_path):
    first = state.task({"builtin": "fortunes", "builtin_options": {"per_class": 40}})
    again = state.task({"builtin_options": {"per_class": 40}, "builtin": "fortunes"})
    assert again is first and len(first.train) > 0  # one shared, cached Task
    with pytest.raises(DataError, match="missing.csv"):  # in words, for the Data page to show
        state.task({"path": str(tmp_path / "missing.csv")})


def test_whether_the_data_brings_a_corpus(tmp_path):
    assert state.task_has_corpus({"builtin": "geo-qa", "builtin_options": {"quick": True}})
    assert not state.task_has_corpus({"builtin": "fortunes", "builtin_options": {"per_class": 40}})
    assert state.task_has_corpus({"path": "questions.csv", "corpus": {"path": "documents.csv"}})  # said: not loaded
    assert not state.task_has_corpus({"path": str(tmp_path / "missing.csv")})  # the Data page says what is wrong


def test_an_experiments_results_are_analysed_and_name_the_failed_runs(store):
    fake_experiment(store)
    results = state.results("fake")
    assert results.kind == "classification" and results.quality == "accuracy" and results.reference == "scratch"
    assert len(results.runs) == 7 * 4 - 3 + 1  # every method at two sizes and two seeds, prompt once, one failure
    assert results.failed.run_key.tolist() == ["full|32|9"] and "CUDA out of memory" in results.failed.error.iloc[0]
    assert set(results.summary.method) == {"prompt", "rag", "probe", "lora", "full", "scratch", "tfidf"}
    assert not results.curves.empty and not results.transfer.empty


def test_without_finished_runs_or_the_reference_the_tables_are_empty_not_errors(store):
    fake_experiment(store, "waiting", finished=False)
    waiting = state.results("waiting")
    assert waiting.runs.empty and waiting.summary.empty and waiting.curves.empty and waiting.transfer.empty
    # scratch, the reference the experiment names, did not run: the differences are to TF-IDF, which did
    fake_experiment(store, "no-scratch", methods=("prompt", "lora", "tfidf"))
    to_tfidf = state.results("no-scratch")
    assert not to_tfidf.summary.empty and not to_tfidf.transfer.empty and "vs_tfidf" in to_tfidf.summary
    assert "tfidf" not in set(to_tfidf.transfer.method)  # every method but the reference itself
    # no reference ran at all: no differences, and no error
    fake_experiment(store, "no-reference", methods=("prompt", "lora"))
    no_reference = state.results("no-reference")
    assert not no_reference.summary.empty and no_reference.transfer.empty


def test_results_are_read_and_analysed_again_only_when_a_run_was_added(store, monkeypatch):
    fake_experiment(store)
    real, reads = SqlStore.runs_frame, []

    def counted(self, name, with_predictions=False):
        reads.extend([name] if with_predictions else [])  # the full read the analysis needs
        return real(self, name, with_predictions=with_predictions)

    monkeypatch.setattr(SqlStore, "runs_frame", counted)
    first = state.results("fake")
    assert state.results("fake").summary.equals(first.summary)
    assert reads == ["fake"]  # the same runs: the cached analysis
    store.write_run("fake", {"run_key": "lora|32|9", "method": "lora", "size": "32", "seed": 9, "status": "failed",
                             "error": "RuntimeError: CUDA out of memory"}, None)
    state.clear_results()  # what a page does after it changed the store (else within two seconds)
    assert len(state.results("fake").failed) == 2 and reads == ["fake", "fake"]


def test_experiment_kinds_name_each_experiments_task_kind_and_backbone(store):
    fake_experiment(store, "encoder")
    fake_experiment(store, "llm", family="decoder")
    fake_qa_experiment(store)
    assert state.experiment_kinds(store.url) == {"encoder": ("classification", "encoder"),
                                                 "llm": ("classification", "decoder"),
                                                 "geo-qa-fake": ("qa", "decoder")}


def test_a_qa_experiments_answers_and_knowledge_views(store):
    fake_qa_experiment(store)
    answers = state.answers("geo-qa-fake")
    assert len(answers.questions) == len(PLACES) and answers.passages == qa_passages()
    finished = store.runs_frame("geo-qa-fake")
    assert len(answers.answers) == len(finished) * len(PLACES)  # every finished run answered every question
    knowledge = state.knowledge("geo-qa-fake")
    assert set(knowledge.coverage.group) == {"covered", "uncovered"} and not knowledge.update.empty
    assert answers.unit == knowledge.unit


def test_the_node_of_each_ray_run_is_named_and_local_runs_have_none():
    import pandas as pd

    from dashboard.live import run_nodes

    runs = pd.DataFrame({"record": [{"environment": {"node": {"host": "gpu-3", "node_id": "abcdef0123456789"}}},
                                    {"environment": {"device": "cpu"}}, None]})
    nodes = run_nodes(runs)
    assert nodes[0] == "gpu-3 (abcdef01)" and nodes[1:].isna().all()
    assert run_nodes(pd.DataFrame({"method": ["probe"]})).isna().all()  # a frame without records
