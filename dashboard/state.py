"""Everything the dashboard caches, in one module: the store and queue, tokenizers, tasks, result tables.

Pages never cache on their own. Resources (connections, tokenizers, loaded tasks) are shared by
every session with st.cache_resource; small tables are copied per caller with st.cache_data. An experiment's
runs and analysed results are shared too (st.cache_resource, read-only: pages build new frames from them),
because copying 10,000 runs for every page view costs more than the view. Anything
that depends on where results live takes the store URL as an argument, so a test (or a second
ADAPTLAB_HOME) never sees another's cached data.
"""

from __future__ import annotations

import inspect
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from core.results.analysis import analyse, compared_reference, per_class_f1, with_correctness
from core.results.store import SqlStore, default_store_url
from core.running.jobs import JobQueue, ensure_worker


def store_url() -> str:
    return os.environ.get("ADAPTLAB_STORE") or default_store_url()


@st.cache_resource(show_spinner=False)
def _store(url: str) -> SqlStore:
    return SqlStore(url)


@st.cache_resource(show_spinner=False)
def _queue(url: str) -> JobQueue:
    return JobQueue(_store(url))


def store() -> SqlStore:
    return _store(store_url())


def queue() -> JobQueue:
    return _queue(store_url())


@st.cache_data(ttl=10, show_spinner=False)
def _worker_started(url: str) -> str:
    return ensure_worker(_store(url))


def keep_worker_alive() -> str:
    """Start a background worker when none is alive (checked every 10 s at most). 'off' when disabled."""
    if os.environ.get("ADAPTLAB_AUTOSTART_WORKER", "1") == "0":  # tests, or a worker run as a service
        return "off"
    return _worker_started(store_url())


# -- machine and built-ins -----------------------------------------------------------------------
@st.cache_resource(show_spinner="Looking at this machine's device…")
def device() -> dict:
    from core.running.estimate import describe_device

    return describe_device()


@st.cache_data(show_spinner=False)
def scenarios() -> list[dict]:
    from core.task.scenarios import scenario_cards

    return scenario_cards()


@st.cache_data(show_spinner=False)
def scenario_options(name: str) -> dict:
    """A built-in scenario's build options and their defaults (e.g. per_class: 200)."""
    from core.task.scenarios import SCENARIOS

    parameters = inspect.signature(SCENARIOS[name].build).parameters.values()
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


@st.cache_data(show_spinner=False)
def demo_config(name: str) -> dict:
    from core.task.scenarios import demo_config as scenario_demo

    return scenario_demo(name, quick=True)


@st.cache_data(show_spinner=False)
def demo_settings(name: str) -> dict:
    """A demo's quick look as the store keeps a config (validated, every default filled in), to compare with the
    experiment stored under its name."""
    from core.config import parse_config

    return parse_config(demo_config(name), source=f"demo {name}").model_dump(mode="json")


@st.cache_resource(show_spinner=False)
def method_titles() -> dict[str, str]:
    from core.methods import METHODS

    return {name: spec.title for name, spec in METHODS.items()}


@st.cache_resource(show_spinner=False)
def methods_offered(family: str, kind: str) -> list[str]:
    """The methods that run on a backbone family ("encoder", "decoder") for a task kind, in display order."""
    from core.methods import METHODS

    return [name for name, spec in METHODS.items() if spec.supports(family, kind)]


@st.cache_data(ttl=30, show_spinner=False)
def model_family(name: str) -> str:
    """"decoder" or "encoder" for a model name, from its config.json (nothing loaded)."""
    from core.backbone.models import model_family as family_of

    return family_of(name)


@st.cache_data(ttl=30, show_spinner=False)
def model_problem(name: str) -> str | None:
    """Why a model name cannot run, in words (dashboard/checks.py); None when it can. Nothing is loaded."""
    from dashboard.checks import model_problem as check

    return check(name)


def task_kind(spec: dict) -> str:
    """"qa" or "classification" for a data spec (a TaskSpec as a dict), without loading the data."""
    if "builtin" in spec and "kind" not in spec:  # a built-in scenario says its kind in its demo grid
        return demo_config(spec["builtin"]).get("task", {}).get("kind", "classification")
    return spec.get("kind", "classification")


# -- data --------------------------------------------------------------------------------------------
@st.cache_resource(show_spinner="Loading the data…", max_entries=8)
def _task(spec_json: str):
    from core.config import TaskSpec
    from core.task.load import load_task

    return load_task(TaskSpec.model_validate(json.loads(spec_json)), "preview")


def task(spec: dict):
    """The Task a data spec (a TaskSpec as a dict) loads; raises DataError/ConfigError in words."""
    return _task(json.dumps(spec, sort_keys=True, default=str))


def task_has_corpus(spec: dict) -> bool:
    """Whether the data comes with a document corpus (a built-in scenario may bring one); False if it does not load."""
    if spec.get("corpus"):
        return True
    try:
        corpus = task(spec).corpus
    except Exception:  # noqa: BLE001 - the Data page says what is wrong with the data; here it only picks defaults
        return False
    return corpus is not None and len(corpus) > 0


@st.cache_data(show_spinner="Reading the file…", max_entries=8)
def table_preview(path: str, name: str) -> dict:
    """Row count, columns and first rows of a stored upload (only files inside the uploads folder)."""
    from core.task.data import read_table
    from core.task.uploads import inside_uploads

    frame = read_table(inside_uploads(Path(path).name), name=name)
    return {"rows": len(frame), "columns": [c for c in frame.columns if c != "row"],
            "head": frame.drop(columns="row").head(10).to_dict(orient="records")}


@st.cache_data(show_spinner="Checking the data…", max_entries=16)
def validation(spec_json: str, sizes: tuple, size_unit: str, max_length: int) -> dict:
    """The checks a run makes; a qa task's (max_length: its LLM context, in tokens) or a classification task's."""
    task = _task(spec_json)
    if task.kind == "qa":
        from core.task.qa import validate_qa_task

        report = validate_qa_task(task, list(sizes), max_length)
    else:
        from core.task.validation import validate_task

        report = validate_task(task, list(sizes), size_unit, max_length)
    return {"errors": report.errors, "warnings": report.warnings, "stats": report.stats}


@st.cache_resource(show_spinner="Loading the tokenizer…", max_entries=4)
def tokenizer(model_name: str):
    from core.task.coverage import load_tokenizer

    return load_tokenizer(model_name)


@st.cache_data(show_spinner="Measuring tokenizer coverage…", max_entries=16)
def coverage(spec_json: str, model_name: str, max_length: int) -> dict:
    from core.task.coverage import tokenizer_coverage

    return tokenizer_coverage(_task(spec_json).train.text, tokenizer(model_name), max_length)


@st.cache_data(show_spinner="Measuring a few training steps on this device…", max_entries=16, ttl=3600)
def estimate(config_json: str, url: str):
    from core.config import parse_config
    from core.running.estimate import estimate_in_subprocess

    return estimate_in_subprocess(parse_config(json.loads(config_json)), url)


# -- results -------------------------------------------------------------------------------------------
@st.cache_data(ttl=2, show_spinner=False)
def experiments(url: str) -> pd.DataFrame:
    return _store(url).experiments()


@st.cache_data(ttl=2, show_spinner=False)
def experiment_kinds(url: str) -> dict[str, tuple[str, str]]:
    """name -> (task kind, backbone family) of every stored experiment (family "encoder" before LLMs existed)."""
    store = _store(url)
    kinds = {}
    for name in experiments(url).name:
        task = store.experiment(name).get("task") or {}
        kinds[name] = (task.get("kind", "classification"), task.get("family", "encoder"))
    return kinds


@dataclass
class Results:
    """One experiment's results, analysed once per change in its runs."""

    name: str
    experiment: dict
    runs: pd.DataFrame  # one row per run (with predictions)
    summary: pd.DataFrame  # core.results.analysis.Analysis: the results table,
    curves: pd.DataFrame  # the learning curves,
    transfer: pd.DataFrame  # and the negative transfer (empty without the reference method), from one analyse()
    per_class: pd.DataFrame  # core.results.analysis.per_class_f1
    reference: str | None  # the reference that ran (core.results.analysis.compared_reference): None where none did
    configured_reference: str  # the one the experiment names (scratch by default), which may not have run
    unit: str
    scored: pd.DataFrame  # the finished runs with `correct` (0/1 per test example): what paired comparisons read

    @property
    def failed(self) -> pd.DataFrame:
        return self.runs[self.runs.status == "failed"]

    @property
    def kind(self) -> str:
        """"qa" (answers in words, scored by answer match) or "classification"."""
        return self.experiment.get("task", {}).get("kind", "classification")

    @property
    def quality(self) -> str:
        """What the `accuracy` column measures, in words: "answer match" for qa, else "accuracy"."""
        from core.results.text import quality_name

        return quality_name(self.kind)


@st.cache_data(ttl=2, show_spinner=False)
def _run_stamp(url: str, name: str) -> str:
    """Changes whenever a run of `name` is added or changed: one aggregate query (cheap at 10,000 runs), read at
    most every 2 s; everything below is recomputed only when it changes."""
    return _store(url).runs_stamp(name)


@st.cache_resource(show_spinner=False, max_entries=8)
def _runs_table(url: str, name: str, stamp: str) -> pd.DataFrame:
    return _store(url).runs_frame(name)


def runs_table(name: str) -> pd.DataFrame:
    """An experiment's runs without their predictions (SqlStore.runs_frame), re-read only when a run was added or
    changed: the Runs page redraws every 2 s and must not parse 10,000 records each time."""
    url = store_url()
    return _runs_table(url, name, _run_stamp(url, name))


@st.cache_resource(show_spinner="Computing intervals…", max_entries=8)
def _results(url: str, name: str, stamp: str) -> Results:
    from core.methods import DEFAULT_REFERENCE

    store = _store(url)
    experiment = store.experiment(name)
    config = experiment["config"]
    configured, unit = config.get("reference", DEFAULT_REFERENCE), config.get("size_unit", "per_class")
    runs = store.runs_frame(name, with_predictions=True)
    scored = with_correctness(runs, experiment["test_labels"])  # scored once: the analysis and the report's ties
    reference = compared_reference(scored.method if len(scored) else [], configured)  # one that ran, or None
    analysis = analyse(scored, experiment["test_labels"], reference)  # once per change in the runs: pages share it
    return Results(name=name, experiment=experiment, runs=runs, summary=analysis.summary, curves=analysis.curves,
                   transfer=analysis.transfer, per_class=per_class_f1(runs), reference=reference,
                   configured_reference=configured, unit=unit,
                   scored=scored)


def results(name: str) -> Results:
    """An experiment's results; recomputed only when a run was added or changed. Shared by every page view and
    session: read it, never change it in place."""
    url = store_url()
    return _results(url, name, _run_stamp(url, name))


@dataclass
class Answers:
    """A QA experiment's questions and every finished run's answer to each (core/results/answers.py)."""

    questions: pd.DataFrame  # core.results.answers.question_table
    answers: pd.DataFrame  # core.results.answers.answer_table
    passages: dict[str, str]  # passage id -> text
    unit: str
    chunks: pd.DataFrame  # the documents' chunk table (core.task.documents.stored_chunks); empty without documents


@st.cache_data(show_spinner="Reading the answers…", max_entries=16)
def _answers(url: str, name: str, stamp: str) -> Answers:
    from core.results.answers import answer_table, question_table
    from core.task.documents import stored_chunks

    store = _store(url)
    experiment = store.experiment(name)
    task_info = experiment.get("task") or {}
    questions = question_table(task_info)
    return Answers(questions, answer_table(store.runs_frame(name, with_predictions=True), len(questions)),
                   dict(task_info.get("passages") or {}), experiment["config"].get("size_unit", "total"),
                   stored_chunks(task_info))


def answers(name: str) -> Answers:
    """What every finished run of a QA experiment answered; re-read only when a run was added or changed."""
    url = store_url()
    return _answers(url, name, _run_stamp(url, name))


@dataclass
class Knowledge:
    """A QA experiment's knowledge view (core/results/knowledge.py), every size: one row per method, size (and
    group)."""

    coverage: pd.DataFrame  # core.results.knowledge.coverage_table
    update: pd.DataFrame  # core.results.knowledge.update_table
    unit: str
    known_facts: object = None  # core.results.known_facts.KnownFactsView: the split by what the base model knew


@st.cache_data(show_spinner=False, max_entries=16)
def _knowledge(url: str, name: str, stamp: str) -> Knowledge:
    from core.results.knowledge import coverage_table, update_table
    from core.results.known_facts import known_facts_view

    store = _store(url)
    runs, experiment = store.runs_frame(name), store.experiment(name)
    return Knowledge(coverage_table(runs), update_table(runs), experiment["config"].get("size_unit", "total"),
                     known_facts_view(experiment, runs))


def knowledge(name: str) -> Knowledge:
    url = store_url()
    return _knowledge(url, name, _run_stamp(url, name))


def clear_results() -> None:
    experiments.clear()
    _run_stamp.clear()


def documents_read(spec: dict) -> tuple[dict, pd.DataFrame]:
    """What reading a task's documents found (summary, skipped documents) and their chunk table."""
    from core.task.chunking import COLUMNS

    loaded = task(spec)
    return loaded.provenance.get("documents") or {}, loaded.corpus[COLUMNS]


@st.cache_data(show_spinner="Reading and chunking the documents…", max_entries=8)
def documents_chunks(folder: str) -> tuple[dict, pd.DataFrame]:
    """What reading an uploaded documents folder found (summary, skipped documents) and its chunk table, cut as a
    task over them would cut it (the default retriever's tokenizer); only folders inside the uploads folder."""
    from core.running.question_jobs import upload_chunks

    return upload_chunks(folder)


@st.cache_data(show_spinner="Writing questions from the chunks…", max_entries=8)
def cloze_questions(folder: str, max_per_chunk: int = 2, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Cloze questions from an uploaded documents folder's chunks (core/task/questions.py): the table and its report."""
    from core.task.questions import cloze_questions as build

    questions = build(documents_chunks(folder)[1], max_per_chunk=max_per_chunk, seed=seed)
    return questions.frame, questions.report


# -- how complete an experiment is -----------------------------------------------------------------------------
def completeness(name: str):
    """Planned against finished runs of an experiment and why each missing one is missing
    (core/results/completeness.py). Read on every page view: a job starts or stops from one second to the next; the
    runs come from the cached runs_table."""
    from core.results.completeness import run_states
    from core.results.missing import held_keys, latest_job

    url = store_url()
    return run_states(_store(url).experiment(name)["config"], runs_table(name), latest_job(_store(url), name),
                      held_keys(_store(url), name))
