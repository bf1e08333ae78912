"""Runs in MLflow (core/running/tracking.py, core/results/mlflow_export.py), against a real local tracking store:
SQLite in a temporary folder, read back with MlflowClient.search_runs, offline."""

from __future__ import annotations

import json
import sys

import pytest

from core.cli import main as cli
from core.config import parse_config
from core.errors import AdaptlabError
from core.results.mlflow_export import export_experiment
from core.results.store import SqlStore
from core.running.runner import run_experiment
from tests.conftest import tiny_config
from tests.dashboard.conftest import fake_experiment

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra: pip install -e '.[mlflow]'")


def _runs(uri: str, name: str):
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(f"adaptlab/{name}")
    found = client.search_runs([experiment.experiment_id], max_results=5000)
    parents = [run for run in found if run.data.tags.get("adaptlab.role") == "grid"]
    children = [run for run in found if run.data.tags.get("adaptlab.role") == "run"]
    return client, parents, children


def test_every_finished_run_is_one_mlflow_run_under_the_grid_and_a_second_export_adds_nothing(tmp_path):
    store = SqlStore(tmp_path / "r.db")
    fake_experiment(store, "fake")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = export_experiment(store, "fake", uri, report_html="<html><p>the report</p></html>")
    finished = store.runs_frame("fake")
    finished = finished[finished.status == "finished"]
    assert sorted(first.added) == sorted(finished.run_key) and not first.unchanged and not first.replaced
    client, parents, children = _runs(uri, "fake")
    assert len(parents) == 1 and len(children) == len(finished)  # the failed run is not logged
    assert {child.data.tags["mlflow.parentRunId"] for child in children} == {parents[0].info.run_id}
    lora = next(child for child in children if child.data.tags["adaptlab.run_key"] == "lora|32|1")
    stored = finished.set_index("run_key").loc["lora|32|1"]
    assert lora.data.params["method"] == "lora" and lora.data.params["size"] == "32"
    assert lora.data.params["seed"] == "1" and lora.data.params["task_kind"] == "classification"
    assert lora.data.metrics["accuracy"] == pytest.approx(stored.accuracy)
    assert lora.data.metrics["accuracy_low"] == pytest.approx(stored.accuracy_low)
    assert lora.data.metrics["train_seconds"] == pytest.approx(stored.train_seconds)
    metrics = lora.data.metrics
    assert metrics["vs_scratch_low"] <= metrics["vs_scratch"] <= metrics["vs_scratch_high"]
    assert lora.data.tags["device"] == "CPU (2 cores)"
    artifacts = {item.path for item in client.list_artifacts(lora.info.run_id)}
    assert artifacts == {"record.json", "predictions.json"}
    record = json.loads(open(client.download_artifacts(lora.info.run_id, "record.json", str(tmp_path))).read())
    assert record["run_key"] == "lora|32|1" and record["accuracy"] == pytest.approx(stored.accuracy)
    assert "decision-report.html" in {item.path for item in client.list_artifacts(parents[0].info.run_id)}

    again = export_experiment(store, "fake", uri)
    assert not again.added and not again.replaced and sorted(again.unchanged) == sorted(finished.run_key)
    _, parents, children = _runs(uri, "fake")
    assert len(parents) == 1 and len(children) == len(finished)  # exporting twice duplicates nothing


def test_the_same_experiment_run_again_elsewhere_replaces_runs_and_another_one_gets_its_own_parent(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = SqlStore(tmp_path / "first.db")
    fake_experiment(first, "fake")
    export_experiment(first, "fake", uri)
    # the same experiment (settings and data) run again in another store: one run's numbers came out otherwise
    again = SqlStore(tmp_path / "again.db")
    fake_experiment(again, "fake", finished=False)
    record = dict(first.runs_frame("fake").set_index("run_key").loc["tfidf|8|0"].record)
    record.update(accuracy=0.99, accuracy_low=0.95, accuracy_high=1.0)
    again.write_run("fake", record, [0] * 60)
    result = export_experiment(again, "fake", uri)
    assert result.replaced == ["tfidf|8|0"] and not result.added
    _, parents, children = _runs(uri, "fake")
    tfidf = [child for child in children if child.data.tags["adaptlab.run_key"] == "tfidf|8|0"]
    assert len(parents) == 1 and len(tfidf) == 1 and tfidf[0].data.metrics["accuracy"] == pytest.approx(0.99)
    # an experiment of the same name with other settings is another grid: a parent of its own
    other = SqlStore(tmp_path / "other.db")
    fake_experiment(other, "fake", reference="tfidf")
    export_experiment(other, "fake", uri)
    _, parents, children = _runs(uri, "fake")
    assert len(parents) == 2 and len({p.data.tags["adaptlab.identity"] for p in parents}) == 2


def test_a_grid_with_tracking_logs_each_run_as_it_finishes(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = parse_config(tiny_config(methods=["prompt", "tfidf"], sizes=[4], tracking={"mlflow": uri}))
    logged_at_finish = []

    class Watch:  # counts the MLflow runs each time a run is reported finished: logged then, not at the end
        def __getattr__(self, name):
            return lambda *args, **kwargs: None

        def run_finished(self, spec, record):
            logged_at_finish.append(spec.key)

    store = SqlStore(tmp_path / "r.db")
    result = run_experiment(config, store, Watch())
    assert result.executed == 2 and not result.failed
    _, parents, children = _runs(uri, "tiny")
    assert len(parents) == 1 and sorted(c.data.tags["adaptlab.run_key"] for c in children) == sorted(logged_at_finish)
    assert {c.data.params["method"] for c in children} == {"prompt", "tfidf"}


def test_the_cli_exports_and_says_what_it_did_and_bad_input_is_one_sentence(tmp_path, capsys):
    store = SqlStore(tmp_path / "r.db")
    fake_experiment(store, "fake")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert cli(["--store", str(tmp_path / "r.db"), "export", "fake", "--mlflow", uri]) == 0
    out = capsys.readouterr().out
    assert "run(s) added" in out and "0 already there" in out
    assert cli(["--store", str(tmp_path / "r.db"), "export", "fake", "--mlflow", uri]) == 0
    assert "0 run(s) added" in capsys.readouterr().out
    assert cli(["--store", str(tmp_path / "r.db"), "export", "nosuch", "--mlflow", uri]) == 2
    err = capsys.readouterr().err
    assert "nosuch" in err and "Traceback" not in err


def test_without_mlflow_installed_the_export_says_how_to_install_it(tmp_path, monkeypatch):
    store = SqlStore(tmp_path / "r.db")
    fake_experiment(store, "fake")
    monkeypatch.setitem(sys.modules, "mlflow", None)  # what `import mlflow` meets where it is not installed
    with pytest.raises(AdaptlabError, match=r'pip install -e "\.\[mlflow\]"'):
        export_experiment(store, "fake", f"sqlite:///{tmp_path / 'mlflow.db'}")
    config = parse_config(tiny_config(methods=["tfidf"], sizes=[4], tracking={"mlflow": "sqlite:///x.db"}))
    with pytest.raises(AdaptlabError, match="mlflow"):  # before any run starts
        run_experiment(config, SqlStore(tmp_path / "other.db"))
    assert SqlStore(tmp_path / "other.db").runs_frame("tiny").empty


def test_logging_one_finished_run_reads_only_that_run_from_the_store_and_from_mlflow(tmp_path):
    """The grid logs a run as it finishes: that reads the one run (with its predictions) and its one MLflow child,
    not every run each time (which made a grid's logging quadratic in its size), and the parent's count is of all."""
    from core.running.tracking import log_experiment

    read = []

    class Watched(SqlStore):
        def runs_frame(self, names, with_predictions=False, keys=None):
            frame = super().runs_frame(names, with_predictions=with_predictions, keys=keys)
            if with_predictions:
                read.extend(frame.run_key)
            return frame

    store = Watched(tmp_path / "r.db")
    fake_experiment(store, "fake")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    everything = log_experiment(store, "fake", uri)
    one = sorted(everything.added)[0]
    read.clear()
    again = log_experiment(store, "fake", uri, only_keys={one})
    assert read == [one] and again.unchanged == [one] and not again.added
    client, parents, children = _runs(uri, "fake")
    finished = store.runs_frame("fake")
    finished = finished[finished.status == "finished"]
    assert parents[0].data.metrics["finished_runs"] == len(finished)
    assert parents[0].data.metrics["best_quality"] == pytest.approx(finished.accuracy.max())
