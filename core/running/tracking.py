"""An experiment's runs in MLflow, where a team tracks its experiments: one MLflow run per adaptlab run, nested
under a parent run for the grid.

Each child run carries the run's settings as parameters (method, size, seed, the method's own settings, model,
task), its quality with the interval bounds, costs and forgetting as metrics, the device and precision as tags,
and the run record and predictions as artifacts. What needs the whole grid (negative transfer against the
reference, the decision report on the parent) comes from core/results/mlflow_export.py through `extra` and
`report_html`. Logging again adds only what is new or changed: a run already there with the same record keeps
its MLflow run (its `extra` metrics are brought up to date), a run whose record changed (run again) replaces it.
The grid logs each run as it finishes when the config names `tracking.mlflow` (Tracked, below). The MLflow
client is an optional extra: `pip install -e ".[mlflow]"`.

    log_experiment(store, "demo-fortunes", "sqlite:///mlflow.db")  # -> MlflowExport(parent_id, added, ...)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from core.errors import AdaptlabError
from core.paths import adaptlab_home
from core.results.store import json_text

INSTALL = ('MLflow is not installed: pip install -e ".[mlflow]" (or pip install mlflow), then run the export '
           "again")
ROLE, EXPERIMENT, RUN_KEY, RECORD = "adaptlab.role", "adaptlab.experiment", "adaptlab.run_key", "adaptlab.record"
IDENTITY = "adaptlab.identity"  # the experiment's settings and data fingerprint: one parent run per identity
COSTS = ("macro_f1", "train_seconds", "latency_p50_ms", "latency_p95_ms", "inference_seconds_per_1k",
         "peak_memory_mb", "train_dollars", "inference_dollars_per_1k", "trainable_parameters", "bytes_stored",
         "train_examples")


@dataclass
class MlflowExport:
    """What one export did: the parent run, and how many adaptlab runs were added, replaced or already there."""
    tracking_uri: str
    experiment_id: str
    parent_id: str
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"MLflow ({self.tracking_uri}): {len(self.added)} run(s) added, {len(self.replaced)} replaced, "
                f"{len(self.unchanged)} already there, under parent run {self.parent_id}")


def default_uri() -> str:
    """MLflow's own MLFLOW_TRACKING_URI where set, else a SQLite database in adaptlab's home folder."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{adaptlab_home() / 'mlflow.db'}"


def client(tracking_uri: str):
    """An MlflowClient for the URI, or one sentence on how to install MLflow."""
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise AdaptlabError(INSTALL) from None
    return MlflowClient(tracking_uri=tracking_uri)


def log_experiment(store, name: str, tracking_uri: str, report_html: str | None = None,
                   only_keys: set[str] | None = None, extra: dict[str, dict] | None = None) -> MlflowExport:
    """Log the experiment's finished runs to MLflow (see the module's docstring): `only_keys` limits it to those
    runs (the grid logging as it goes), `extra` adds metrics per run key, `report_html` goes on the parent."""
    stored = store.experiment(name)  # an unknown experiment is a sentence before MLflow is touched
    try:
        from mlflow.exceptions import MlflowException
    except ImportError:
        raise AdaptlabError(INSTALL) from None
    try:
        return _log(client(tracking_uri), store, stored, name, tracking_uri, report_html, only_keys, extra)
    except MlflowException as error:  # a URI it cannot use, a server that refuses: what MLflow said, in one line
        said = " ".join(str(getattr(error, "message", error)).split())[:400]
        raise AdaptlabError(f"MLflow at {tracking_uri} refused the runs: {said}. Check the tracking URI "
                            "(sqlite:///path/mlflow.db, http://host:5000); adaptlab's store is unchanged") from None


def _log(mlflow, store, stored: dict, name: str, tracking_uri: str, report_html: str | None,
         only_keys: set[str] | None, extra: dict[str, dict] | None) -> MlflowExport:
    # only the runs asked for are read and looked up in MLflow: the grid logs one run as each finishes, and reading
    # every run (with its predictions) and every MLflow child each time made a grid's logging quadratic in its size
    runs = store.runs_frame(name, with_predictions=True, keys=only_keys)
    finished = runs[runs.status == "finished"]
    experiment_id = _experiment_id(mlflow, name, tracking_uri)
    parent = _parent(mlflow, experiment_id, stored)
    result = MlflowExport(tracking_uri, experiment_id, parent.info.run_id)
    extra = extra or {}
    existing = {run.data.tags.get(RUN_KEY): run
                for run in _children(mlflow, experiment_id, parent.info.run_id, only_keys)}
    for row in finished.itertuples():
        record = row.record if isinstance(row.record, dict) else json.loads(row.record)
        digest = hashlib.sha256(json_text(record, sort_keys=True).encode()).hexdigest()[:16]
        previous = existing.get(row.run_key)
        if previous is not None and previous.data.tags.get(RECORD) == digest:
            _log_metrics(mlflow, previous.info.run_id, extra.get(row.run_key, {}))
            result.unchanged.append(row.run_key)
            continue
        if previous is not None:
            mlflow.delete_run(previous.info.run_id)  # params are write-once in MLflow: a changed run is a new one
        _child(mlflow, experiment_id, parent.info.run_id, stored, record, row.predictions, digest,
               extra.get(row.run_key, {}))
        (result.replaced if previous is not None else result.added).append(row.run_key)
    count, best = store.finished_summary(name)
    _log_metrics(mlflow, parent.info.run_id, {"finished_runs": count, "best_quality": best})
    if report_html is not None:
        _attach(mlflow, parent.info.run_id, "decision-report.html", report_html)
    return result


class Tracked:
    """The grid's progress, passed on unchanged, that also logs each finished run to MLflow as it is stored. An
    MLflow that cannot be reached is said once and the grid goes on: the store keeps every run either way."""

    def __init__(self, progress, store, name: str, tracking_uri: str):
        self.inner, self.store, self.name, self.uri, self.failed = progress, store, name, tracking_uri, False

    def __getattr__(self, attribute):
        return getattr(self.inner, attribute)

    def run_finished(self, spec, record: dict) -> None:
        self.inner.run_finished(spec, record)
        if self.failed or record.get("status") != "finished":
            return
        try:
            log_experiment(self.store, self.name, self.uri, only_keys={spec.key})
        except Exception as error:  # tracking is a copy: losing it must not lose the grid
            self.failed = True
            self.inner.message(f"warning: could not log to MLflow at {self.uri} ({type(error).__name__}: "
                               f"{error}); the runs are stored as always, and `adaptlab export "
                               f"{self.name} --mlflow {self.uri}` logs them later")


def tracked(progress, store, config):
    """progress, logging to MLflow as well when the config names `tracking.mlflow`."""
    if not config.tracking.mlflow:
        return progress
    client(config.tracking.mlflow)  # not installed: one sentence before any run starts
    return Tracked(progress, store, config.name, config.tracking.mlflow)


def _experiment_id(mlflow, name: str, tracking_uri: str) -> str:
    found = mlflow.get_experiment_by_name(f"adaptlab/{name}")
    if found is not None:
        return found.experiment_id
    location = None
    if tracking_uri.startswith("sqlite:///"):  # a local database: artifacts beside it, not in the current folder
        location = (Path(tracking_uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts").as_uri()
    return mlflow.create_experiment(f"adaptlab/{name}", artifact_location=location, tags={EXPERIMENT: name})


def _parent(mlflow, experiment_id: str, stored: dict):
    """The grid's parent run, found by its tags so a second export reuses it. Another store's experiment of the
    same name but other settings or data (another identity) gets a parent of its own, never mixed in."""
    identity = str(stored.get("identity", ""))
    found = mlflow.search_runs([experiment_id], max_results=1,
                               filter_string=f"tags.`{ROLE}` = 'grid' and tags.`{IDENTITY}` = '{identity}'")
    if found:
        return found[0]
    config = stored["config"]
    parent = mlflow.create_run(experiment_id, run_name=stored["name"], tags={
        ROLE: "grid", EXPERIMENT: stored["name"], IDENTITY: identity, **_common_tags(stored)})
    params = {"model": _model_name(config), "task_kind": (stored.get("task") or {}).get("kind", "classification"),
              "task": _task_name(config), "methods": ",".join(config.get("methods", [])),
              "sizes": ",".join(str(size) for size in config.get("sizes", [])),
              "seeds": ",".join(str(seed) for seed in config.get("seeds", [])),
              "size_unit": config.get("size_unit", "per_class"), "reference": config.get("reference", "")}
    _log_params(mlflow, parent.info.run_id, params)
    return parent


def _children(mlflow, experiment_id: str, parent_id: str, keys: set[str] | None = None) -> list:
    """The parent's child runs in MLflow: all of them, or those of the given run keys."""
    if keys is not None:
        return [run for key in sorted(keys) for run in _children_where(
            mlflow, experiment_id, f"tags.`mlflow.parentRunId` = '{parent_id}' and tags.`{RUN_KEY}` = '{key}'")]
    return _children_where(mlflow, experiment_id, f"tags.`mlflow.parentRunId` = '{parent_id}'")


def _children_where(mlflow, experiment_id: str, filter_string: str) -> list:
    runs, token = [], None
    while True:
        page = mlflow.search_runs([experiment_id], filter_string=filter_string, max_results=1000, page_token=token)
        runs += list(page)
        token = page.token
        if not token:
            return runs


def _child(mlflow, experiment_id: str, parent_id: str, stored: dict, record: dict, predictions, digest: str,
           extra: dict) -> None:
    config = stored["config"]
    method = record["method"]
    environment = record.get("environment") or {}
    run = mlflow.create_run(experiment_id, run_name=record["run_key"], tags={
        "mlflow.parentRunId": parent_id, ROLE: "run", EXPERIMENT: stored["name"], RUN_KEY: record["run_key"],
        RECORD: digest, **_common_tags(stored), "device": str(record.get("device", "")),
        "precision": str(environment.get("precision", ""))})
    run_id = run.info.run_id
    settings = config.get(method) if isinstance(config.get(method), dict) else {}
    params = {"method": method, "size": record.get("size"), "seed": record.get("seed"),
              "size_unit": record.get("size_unit", config.get("size_unit", "per_class")),
              "model": _model_name(config), "task": _task_name(config),
              "task_kind": (stored.get("task") or {}).get("kind", "classification"),
              **{f"{method}.{key}": value for key, value in settings.items()}}
    _log_params(mlflow, run_id, params)
    quality = "answer_match" if (stored.get("task") or {}).get("kind") == "qa" else "accuracy"
    metrics = {quality: record.get("accuracy"), f"{quality}_low": record.get("accuracy_low"),
               f"{quality}_high": record.get("accuracy_high"),
               **{key: record.get(key) for key in COSTS}, **extra}
    forgetting = record.get("forgetting") or {}
    for key, value in forgetting.items():
        metrics[f"forgetting.{key}"] = value
    _log_metrics(mlflow, run_id, metrics)
    _attach(mlflow, run_id, "record.json", json_text(record, indent=2))
    if predictions is not None:
        _attach(mlflow, run_id, "predictions.json", json_text(list(predictions)))
    mlflow.set_terminated(run_id)


def _common_tags(stored: dict) -> dict:
    environment = (stored.get("task") or {}).get("environment") or {}
    try:
        version = metadata.version("adaptlab")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return {"adaptlab.version": version, "adaptlab.device": str(environment.get("device", ""))}


def _model_name(config: dict) -> str:
    return str((config.get("llm") or {}).get("model") or (config.get("model") or {}).get("name") or "")


def _task_name(config: dict) -> str:
    task = config.get("task") or {}
    return str(task.get("builtin") or task.get("path") or task.get("kind") or "")


def _log_params(mlflow, run_id: str, params: dict) -> None:
    from mlflow.entities import Param

    # MLflow keeps parameter values as text of at most 6,000 characters
    mlflow.log_batch(run_id, params=[Param(str(key), _text(value)[:6000]) for key, value in params.items()
                                     if value is not None])


def _log_metrics(mlflow, run_id: str, metrics: dict) -> None:
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    kept = [Metric(key, float(value), now, 0) for key, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))]
    if kept:
        mlflow.log_batch(run_id, metrics=kept)


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _attach(mlflow, run_id: str, name: str, text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_text(text, encoding="utf-8")
        mlflow.log_artifact(run_id, str(path))
