import sqlite3

import pytest

from core.errors import StoreError
from core.results.store import SqlStore

CONFIG = {"name": "e", "task": {"builtin": "fortunes"}, "methods": ["tfidf"], "sizes": [8], "seeds": [0],
          "budget": {"max_epochs": 3}}


def _record(key, status="finished", accuracy=0.5):
    method, size, seed = key.split("|")
    return {"run_key": key, "method": method, "size": size, "seed": int(seed), "status": status,
            "accuracy": accuracy, "train_seconds": 1.0, "details": {"steps": 3}}


def test_runs_round_trip_in_a_wal_sqlite_file(tmp_path):
    store = SqlStore(tmp_path / "r.db")
    store.register_experiment("e", CONFIG, "fp", ["a", "b"], [0, 1], {})
    store.write_run("e", _record("tfidf|8|0"), [0, 1])
    store.write_run("e", _record("tfidf|8|1", status="failed"), None)
    assert store.finished_keys("e") == {"tfidf|8|0"}
    frame = store.runs_frame("e", with_predictions=True)
    assert frame.set_index("run_key").loc["tfidf|8|0", "predictions"] == [0, 1]
    assert frame.set_index("run_key").loc["tfidf|8|0", "record"]["details"] == {"steps": 3}
    with sqlite3.connect(tmp_path / "r.db") as db:  # any SQLite client can read it
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 2
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_retried_run_replaces_its_failed_attempt(tmp_path):
    store = SqlStore(tmp_path / "r.db")
    store.register_experiment("e", CONFIG, "fp", ["a", "b"], [0, 1], {})
    store.write_run("e", _record("tfidf|8|0", status="failed"), None)
    store.write_run("e", _record("tfidf|8|0"), [1, 1])
    frame = store.runs_frame("e")
    assert frame.status.tolist() == ["finished"]


def test_a_finished_run_is_never_replaced_by_a_later_attempt(tmp_path):
    store = SqlStore(tmp_path / "r.db")
    store.register_experiment("e", CONFIG, "fp", ["a", "b"], [0, 1], {})
    written = [store.write_run("e", _record("tfidf|8|0", accuracy=0.9), [1, 1]),
               store.write_run("e", _record("tfidf|8|0", status="failed"), None),  # another process's failure
               store.write_run("e", _record("tfidf|8|0", accuracy=0.1), [0, 0])]  # a second finish of the same run
    frame = store.runs_frame("e", with_predictions=True)
    assert frame.status.tolist() == ["finished"] and frame.accuracy.tolist() == [0.9]
    assert frame.predictions.tolist() == [[1, 1]]
    assert written == [True, False, False]  # the caller learns that nothing was replaced


def test_the_grid_may_grow_but_settings_may_not_change(tmp_path):
    store = SqlStore(tmp_path / "r.db")
    store.register_experiment("e", CONFIG, "fp", ["a", "b"], [0, 1], {})
    store.register_experiment("e", {**CONFIG, "seeds": [0, 1], "methods": ["tfidf", "probe"]}, "fp", ["a", "b"],
                              [0, 1], {})
    with pytest.raises(StoreError, match=r"other settings \(budget.max_epochs: 3 -> 9\).*new name"):
        store.register_experiment("e", {**CONFIG, "budget": {"max_epochs": 9}}, "fp", ["a", "b"], [0, 1], {})
    with pytest.raises(StoreError, match="other data.*new name"):
        store.register_experiment("e", CONFIG, "other-data", ["a", "b"], [0, 1], {})
    store.register_experiment("e", {**CONFIG, "parallel_runs": 4}, "fp", ["a", "b"], [0, 1], {})  # how, not what


def test_a_setting_an_earlier_version_did_not_store_is_named_as_such():
    from core.results.store import settings_changed

    before = {"model": {"name": "default"}, "seeds": [0]}
    after = {"model": {"name": "default", "precision": "auto"}, "seeds": [0, 1]}
    assert settings_changed(before, after) == "model.precision: not set (stored by an earlier adaptlab) -> auto"


def test_listing_and_unknown_experiments(tmp_path):
    store = SqlStore(tmp_path / "r.db")
    assert store.experiments().empty
    store.register_experiment("e", CONFIG, "fp", ["a"], [0], {})
    store.write_run("e", _record("tfidf|8|0"), [0])
    listing = store.experiments()
    assert listing.name.tolist() == ["e"] and listing.runs.tolist() == [1]
    with pytest.raises(StoreError, match="no experiment named 'x'.*known: e"):
        store.experiment("x")


def test_an_unwritable_results_folder_fails_before_anything_runs(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        import os

        if os.access(locked, os.W_OK):  # root ignores permissions: use a path under a file instead
            blocker = tmp_path / "file"
            blocker.write_text("")
            target = blocker / "sub" / "r.db"
        else:
            target = locked / "r.db"
        with pytest.raises(StoreError, match="results folder"):
            SqlStore(target)
    finally:
        locked.chmod(0o700)


def test_two_processes_opening_a_new_store_at_once_both_get_it(tmp_path, monkeypatch):
    """The race of two `adaptlab run`s on a new file: the other process creates the tables between this one's
    check and its CREATE TABLE ("table experiments already exists"). Opening retries and finds them; it used to
    call the file "not an adaptlab results database"."""
    from sqlalchemy.exc import OperationalError

    from core.results import store as store_module

    path = tmp_path / "r.db"
    real_create_all, raced = store_module.metadata.create_all, []

    def racing_create_all(engine, **kwargs):
        if not raced:  # the other process wins the race once: its tables appear, ours fails to create them
            raced.append(True)
            real_create_all(engine)
            raise OperationalError("CREATE TABLE experiments", {}, Exception("table experiments already exists"))
        return real_create_all(engine, **kwargs)

    monkeypatch.setattr(store_module.metadata, "create_all", racing_create_all)
    store = SqlStore(path)
    assert raced and store.experiments().empty
    store.register_experiment("e", {"name": "e"}, "fingerprint", ["a", "b"], [0, 1], {})
    empty = store.runs_stamp("e")
    store.write_run("e", {"run_key": "tfidf|8|0", "method": "tfidf", "size": "8", "seed": 0, "status": "failed",
                          "error": "x"}, None)
    failed = store.runs_stamp("e")
    store.write_run("e", {"run_key": "tfidf|8|0", "method": "tfidf", "size": "8", "seed": 0, "status": "finished",
                          "accuracy": 0.5, "finished_at": "2026-11-30T00:00:00+00:00"}, [0, 1])
    assert len({empty, failed, store.runs_stamp("e")}) == 3  # a new run, and a failed one replaced, each show


def test_an_experiment_stored_before_a_setting_existed_keeps_its_runs_when_that_setting_is_at_its_default(tmp_path):
    """An upgrade adds settings (rag.retriever, task.documents): a stored experiment that lacks them means what it
    meant while the new config leaves them at their defaults; set to anything else, it is another experiment."""
    from core.config import parse_config

    config = parse_config({"name": "e", "task": {"builtin": "fortunes"}}).model_dump(mode="json")
    earlier = {**config, "rag": {k: v for k, v in config["rag"].items() if k not in ("retriever", "reranker")},
               "task": {k: v for k, v in config["task"].items() if k != "documents"}}
    store = SqlStore(tmp_path / "r.db")
    store.register_experiment("e", earlier, "fp", ["a", "b"], [0, 1], {})  # as an earlier adaptlab stored it
    assert store.settings_conflict(config) is None
    store.register_experiment("e", config, "fp", ["a", "b"], [0, 1], {})
    assert store.experiment("e")["config"]["rag"]["retriever"] == "dense"  # stored as this version writes it
    bm25 = {**config, "rag": {**config["rag"], "retriever": "bm25"}}
    with pytest.raises(StoreError, match=r"rag.retriever: dense -> bm25"):
        store.register_experiment("e", bm25, "fp", ["a", "b"], [0, 1], {})
    store2 = SqlStore(tmp_path / "r2.db")
    store2.register_experiment("e", earlier, "fp", ["a", "b"], [0, 1], {})
    assert "rag.retriever" in store2.settings_conflict(bm25)
    with pytest.raises(StoreError, match=r"rag.retriever: not set \(stored by an earlier adaptlab\) -> bm25"):
        store2.register_experiment("e", bm25, "fp", ["a", "b"], [0, 1], {})
    with pytest.raises(StoreError, match="other data"):  # on other data it stays another experiment
        store2.register_experiment("e", config, "other-data", ["a", "b"], [0, 1], {})
