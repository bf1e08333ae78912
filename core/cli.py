"""The `adaptlab` command line.

    adaptlab run examples/fortunes-quick.yaml      # run a grid headless, with progress bars
    adaptlab show fortunes-quick                   # the results table, and the recommendation in one line
    adaptlab report fortunes-quick --accuracy-floor 0.8 --queries 1000000 --format html   # the decision report
    adaptlab export fortunes-quick --format csv    # write the runs out
    adaptlab export fortunes-quick --option lora@32 -o lora-32/   # the option, ready to serve, with its model card
    adaptlab questions handbook.yaml -o questions.jsonl   # test questions from the config's documents, to edit
    adaptlab questions handbook.yaml --source llm --model smollm2   # the same, written by an LLM
    adaptlab list                                  # experiments in the store
    adaptlab dashboard                             # the dashboard in the browser (queues jobs for a worker)
    adaptlab worker                                # run jobs queued from the dashboard (it starts one itself)
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from core.errors import AdaptlabError
from core.task.sizes import size_label

# A results table has 13 columns: when output is piped (CI logs, files), don't squeeze it into 80 (180: each header on
# one line, "ms, in batches" included).
console = Console(width=None if sys.stdout.isatty() else 180)
err = Console(stderr=True)


def _store(args, create: bool = True):
    """The results store; create=False for commands that only read (they create nothing, and check the file)."""
    from sqlalchemy.exc import ArgumentError

    from core.results.store import SqlStore

    try:
        return SqlStore(args.store, create=create)
    except ImportError as error:  # a SQLAlchemy URL whose database driver is not installed (psycopg, pymysql...)
        scheme = str(args.store).split(":", 1)[0]
        raise AdaptlabError(f"--store {args.store}: the driver for {scheme} is not installed (Python cannot import "
                            f"{error.name or 'its module'}); install it into adaptlab's environment, "
                            "or give a SQLite file") from None
    except ArgumentError:  # NoSuchModuleError too: a scheme SQLAlchemy has no dialect for (foo://)
        raise AdaptlabError(f"--store {args.store}: not a SQLite file or a database URL adaptlab can open, such as "
                            "results.db or postgresql://user@host/db") from None


class CliProgress:
    """Two bars: the whole grid, and the run in flight (with its loss when it trains)."""

    def __init__(self, unit: str = "per_class"):
        self.unit = unit  # the grid's size unit, for sizes in words
        # Live bars only on a terminal; in a log (CI, nohup) one line per finished run reads better.
        self.live = console.is_terminal
        self.bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                             console=console, transient=False, disable=not self.live)
        self.grid = None
        self.runs: dict[str, int] = {}  # run key -> its bar (several at once when runs are packed)
        self.finished: set[str] = set()
        self.done = self.todo = 0
        self.started = time.perf_counter()

    def __enter__(self):
        self.bars.__enter__()
        return self

    def __exit__(self, *exc):
        self.bars.__exit__(*exc)

    def message(self, text: str) -> None:
        self.bars.console.print(f"[yellow]{text}[/]" if text.startswith("warning") else text)

    def grid_started(self, name: str, total: int, todo: int) -> None:
        if todo < total:
            self.message(f"{name}: {total - todo} of {total} runs already finished; running the other {todo}")
        self.grid = self.bars.add_task(f"[bold]{name}", total=todo, info="")
        self.todo = todo

    def run_started(self, spec) -> None:
        for key in [k for k in self.runs if k in self.finished]:  # finished runs' bars make way
            self.bars.remove_task(self.runs.pop(key))
        self.runs[spec.key] = self.bars.add_task(
            f"  {spec.method}, {size_label(spec.size, self.unit)}, seed {spec.seed}", total=100, info="")

    def run_progress(self, spec, fraction: float, info: dict) -> None:
        text = " ".join(f"{k}={v:.3f}" for k, v in info.items()
                        if k in ("loss", "val_accuracy") and isinstance(v, int | float))
        if spec.key in self.runs:
            self.bars.update(self.runs[spec.key], completed=100 * fraction, info=text)

    def run_finished(self, spec, record: dict) -> None:
        bar = self.runs.get(spec.key)
        if bar is None:  # a packed run whose process died before it reported a start
            bar = self.runs[spec.key] = self.bars.add_task(f"  {spec.key}", total=100, info="")
        self.finished.add(spec.key)
        self.bars.update(bar, completed=100)
        self.done += 1
        if record["status"] == "finished":
            summary = f"acc={record['accuracy']:.3f} train={record['train_seconds']:.1f}s"
            self.bars.update(bar, info=summary)
            if not self.live:
                elapsed = time.perf_counter() - self.started
                console.print(f"[{self.done}/{self.todo}] {spec.key:<18} {summary}  ({elapsed:.0f}s elapsed)")
        else:
            console.print(f"[red][{self.done}/{self.todo}] {spec.key} failed: {record['error']}[/]")
        self.bars.advance(self.grid)


def results_table(rows, title: str) -> Table:
    """The results table (core.results.results_table.results_rows, as the dashboard and the report show it) on a
    terminal."""
    from core.results.results_table import HURTS

    table = Table(title=escape(title), header_style="bold", show_lines=False)
    for column in rows.columns:
        table.add_column(column, justify="left" if column in ("method", "training data") else "right")
    for row in rows.itertuples(index=False):
        table.add_row(*(escape(str(cell)).replace(HURTS, f" [red]{HURTS.strip()}[/]") for cell in row))
    return table


def print_results(store, name: str) -> None:
    """The results table, the failed runs, and the recommendation without constraints in one line."""
    from core.methods import DEFAULT_REFERENCE
    from core.results.analysis import compared_reference
    from core.results.costs import Constraints
    from core.results.recommendation import recommend
    from core.results.results_table import HURTS_NOTE, results_rows
    from core.results.tuning import tuning_lines, tuning_table

    experiment, runs, summary = _analysed(store, name)
    config, task = experiment["config"], experiment.get("task") or {}
    unit = config.get("size_unit", "per_class")
    reference = compared_reference(summary.method if len(summary) else [], config.get("reference", DEFAULT_REFERENCE))
    failed = runs[runs.status == "failed"]
    if summary.empty:
        console.print(f"{name}: no finished runs yet")
    else:
        rows = results_rows(summary, reference, unit, task.get("kind", "classification"))
        console.print(results_table(rows, f"{name}  ({task.get('environment', {}).get('device', '?')})"))
        if "transfer_hurts" in summary and summary.transfer_hurts.fillna(False).astype(bool).any():
            console.print(f"[dim]{escape(HURTS_NOTE)}[/]")
        print_retrieval(runs, unit)
        print_known_facts(experiment, runs)
        for line in tuning_lines(tuning_table(runs, config), config):  # how each option was tuned
            console.print(escape(line), soft_wrap=True, highlight=False)
    for row in failed.itertuples():
        console.print(f"[red]failed: {escape(row.run_key)}: {escape(str(row.error))}[/]")
    if not summary.empty:
        choice = recommend(summary, None, unit, _quality(experiment), runs=runs, test_labels=experiment["test_labels"])
        console.print(f"Recommendation (no constraints, {Constraints().queries:,} queries; `adaptlab report "
                      f"{escape(name)}` for the reasons): [bold]{escape(choice.headline)}[/]", soft_wrap=True,
                      highlight=False)


def _quality(experiment: dict) -> str:
    from core.results.text import quality_name

    return quality_name((experiment.get("task") or {}).get("kind", "classification"))


def print_retrieval(runs, unit: str) -> None:
    """Recall@k and MRR of the retrieving runs against each question's source, when the questions name one."""
    from core.evaluation.retrieval import retrieval_table
    from core.task.sizes import size_label

    table = retrieval_table(runs)
    if table.empty:
        return
    rows = table.assign(size=table["size"].map(lambda s: size_label(s, unit)), k=table.k.map("{:.0f}".format),
                        retrieval_recall=table.retrieval_recall.map("{:.3f}".format),
                        retrieval_mrr=table.retrieval_mrr.map("{:.3f}".format))
    console.print(results_table(rows.rename(columns={"size": "training data", "retrieval_recall": "recall@k",
                                                     "retrieval_mrr": "MRR"}),
                                "retrieval: the question's source passage found"))


def print_known_facts(experiment: dict, runs) -> None:
    """QA: answer match on the facts the base model knew and on those it did not (core/results/known_facts.py)."""
    from core.results.known_facts import known_facts_view, shown_table, summary_line

    view = known_facts_view(experiment, runs)
    if view is None:
        return
    console.print(f"[bold]Known and unknown facts[/]  {escape(summary_line(view))}", soft_wrap=True, highlight=False)
    if view.ran and len(view.table):
        console.print(results_table(shown_table(view), "known and unknown facts"))
        console.print(escape(view.finding), soft_wrap=True, highlight=False)
    for line in view.learning_lines:  # known and Unknown facts across epochs (core/results/learning_epochs.py)
        console.print(escape(line), soft_wrap=True, highlight=False)


def _analysed(store, name: str):
    """An experiment, its runs (with predictions) and its results table (core.results.analysis.analyse)."""
    from core.methods import DEFAULT_REFERENCE
    from core.results.analysis import analyse, compared_reference

    experiment = store.experiment(name)
    runs = store.runs_frame(name, with_predictions=True)
    # differences to the experiment's reference where it ran, else to the from-scratch reference that did
    reference = compared_reference(runs[runs.status == "finished"].method,
                                   experiment["config"].get("reference", DEFAULT_REFERENCE))
    return experiment, runs, analyse(runs, experiment["test_labels"], reference).summary


def cmd_run(args) -> int:
    from core.config import load_config, parse_config

    config = load_config(args.config)
    if args.parallel is not None:  # how to run, not what: finished runs of the same grid still count
        config = parse_config({**config.model_dump(mode="json"), "parallel_runs": args.parallel},
                              source=f"{args.config} with --parallel")
    if args.ray is not None:  # --ray [ADDRESS]: the same grid, each run a Ray task
        dumped = config.model_dump(mode="json")
        ray = {**dumped["ray"], "address": args.ray or dumped["ray"]["address"]}
        config = parse_config({**dumped, "executor": "ray", "ray": ray}, source=f"{args.config} with --ray")
    return run_grid(config, args)


def cmd_demo(args) -> int:
    from core.config import parse_config
    from core.errors import ExperimentConflict
    from core.task.scenarios import demo_config

    config = demo_config(args.scenario, quick=args.quick, label_noise=args.label_noise, model=args.model,
                         seeds=args.seeds)
    if args.name:
        config["name"] = args.name
    try:
        return run_grid(parse_config(config, source=f"demo {args.scenario}"), args)
    except ExperimentConflict as conflict:  # e.g. stored by an earlier adaptlab whose demo grid differed
        raise ExperimentConflict(f"{conflict}. A demo takes one with --name, e.g. `adaptlab demo {args.scenario}"
                                 f"{' --quick' if args.quick else ''} --name {config['name']}-2`") from None


def run_grid(config, args) -> int:
    """Run a validated config with progress bars, then print its results table."""
    from core.running.runner import run_experiment

    store = _store(args)
    started = time.perf_counter()
    with CliProgress(config.size_unit) as progress:
        result = run_experiment(config, store, progress)
    not_started = f", {len(result.over_budget)} not started (grid budget)" if result.over_budget else ""
    console.print(f"{result.executed} run(s) executed, {result.skipped} already finished, {result.failed} failed"
                  f"{not_started} in {time.perf_counter() - started:.0f}s; stored as '{config.name}' in "
                  f"{result.store_url}")
    print_results(store, config.name)
    if config.tracking.mlflow:  # the runs went as they finished; now what needs the whole grid
        to_mlflow(store, config.name, config.tracking.mlflow)
    return 1 if result.failed else 3 if result.over_budget else 0


def cmd_show(args) -> int:
    store = _store(args, create=False)
    if args.runs:
        store.experiment(args.experiment)  # an unknown name is an error, not an empty table
        from core.results.refit import how_trained_column

        frame = store.runs_frame(args.experiment)
        frame["how_trained"] = how_trained_column(frame)
        columns = ["run_key", "status", "accuracy", "macro_f1", "train_seconds", "inference_seconds_per_1k",
                   "peak_memory_mb", "bytes_stored", "how_trained", "error"]
        console.print(frame[columns].to_string(index=False))
    else:
        print_results(store, args.experiment)
    return 0


def cmd_export(args) -> int:
    from core.results.export import export_text
    from core.running.runner import load_results

    if args.mlflow is not None:
        from core.running.tracking import default_uri

        return to_mlflow(_store(args, create=False), args.experiment, args.mlflow or default_uri())
    if args.option is not None:
        return export_option(args)
    out = Path(args.output or f"{args.experiment}.{args.format}")
    check_destination(out, args.force)
    frame = load_results(args.experiment, _store(args, create=False))
    try:
        out.write_text(export_text(args.experiment, frame, args.format), encoding="utf-8")
    except OSError as error:  # permission denied, a read-only or full disk
        raise AdaptlabError(f"cannot write {out}: {error.strerror or error}") from None
    console.print(f"wrote {len(frame)} run(s) to {out}")
    return 0


def export_option(args) -> int:
    """The option's serving folder with its model card (core/results/artifact_export.py)."""
    from core.results.artifact_export import export_option as export

    out = Path(args.output or f"{args.experiment}-{args.option.replace('@', '-')}")
    result = export(_store(args, create=False), args.experiment, args.option, out, merged=args.merged,
                    force=args.force)
    console.print(escape(result.summary()), soft_wrap=True, highlight=False)
    return 0


def cmd_report(args) -> int:
    """Write the decision report (the dashboard's Decision report page) without a browser."""
    from core.results.report_render import to_html, to_markdown

    constraints = constraints_from(args)
    out = Path(args.output or f"{args.experiment}-decision.{args.format}")
    check_destination(out, args.force)
    store = _store(args, create=False)
    choice, report = decision_report(store, args.experiment, constraints)
    text = to_html(report) if args.format == "html" else to_markdown(report)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as error:
        raise AdaptlabError(f"cannot write {out}: {error.strerror or error}") from None
    for line in report.incomplete[:1]:
        console.print(f"[yellow]{escape(line)}[/]", soft_wrap=True)
    console.print(escape(choice.headline), soft_wrap=True, highlight=False)
    console.print(f"wrote the decision report to {out}", highlight=False)
    return 0


def decision_report(store, name: str, constraints):
    """(the recommendation, the decision report) for a stored experiment under the constraints."""
    from core.results.missing import completeness_of
    from core.results.recommendation import recommend
    from core.results.report import build_report

    experiment, runs, summary = _analysed(store, name)
    if summary.empty:
        raise AdaptlabError(f"'{name}' has no finished runs yet: nothing to recommend; run it first "
                            f"(adaptlab show {name} --runs lists its runs)")
    check_costs_known(name, experiment, summary, constraints)
    unit = experiment["config"].get("size_unit", "per_class")
    choice = recommend(summary, constraints, unit, _quality(experiment), runs=runs,
                       test_labels=experiment["test_labels"])
    failed = [f"{row.run_key}: {row.error}" for row in runs[runs.status == "failed"].itertuples()]
    return choice, build_report(experiment, summary, choice, constraints, failed, runs=runs,
                                progress=completeness_of(store, name, runs))  # why runs are missing


def to_mlflow(store, name: str, tracking_uri: str) -> int:
    """The experiment in MLflow (core/results/mlflow_export.py), the decision report on its parent run."""
    from core.results.costs import Constraints
    from core.results.mlflow_export import export_experiment
    from core.results.report_render import to_html

    store.experiment(name)  # an unknown name: one sentence, before MLflow is loaded
    try:
        html = to_html(decision_report(store, name, Constraints())[1])
    except AdaptlabError:  # no finished run yet, or costs unknown: the runs still go, without the report
        html = None
    result = export_experiment(store, name, tracking_uri, report_html=html)
    console.print(escape(result.summary()), soft_wrap=True, highlight=False)
    return 0


def constraints_from(args):
    """core.results.costs.Constraints from the report command's options (named after its fields)."""
    from core.results.costs import Constraints

    problems = []
    for flag, value in (("--accuracy-floor", args.accuracy_floor), ("--budget-dollars", args.budget_dollars),
                        ("--latency-ms", args.latency_ms), ("--dollars-per-label", args.dollars_per_label),
                        ("--storage-price", args.storage_price)):
        if value is not None and not math.isfinite(value):  # nan passes every comparison below
            problems.append(f"{flag} {value}: must be a number, e.g. 0.8 (leave it out for no limit)")
    if problems:
        raise AdaptlabError("; ".join(problems))
    if args.accuracy_floor is not None and not 0 <= args.accuracy_floor <= 1:
        problems.append(f"--accuracy-floor {args.accuracy_floor:g}: a share between 0 and 1, e.g. 0.8")
    for flag, value in (("--budget-dollars", args.budget_dollars), ("--latency-ms", args.latency_ms)):
        if value is not None and not value > 0:
            problems.append(f"{flag} {value:g}: must be above 0 (leave it out for no limit)")
    if args.queries < 0:
        problems.append(f"--queries {args.queries}: cannot be negative")
    for flag, value in (("--retrains", args.retrains), ("--variants", args.variants), ("--months", args.months)):
        if value < 1:
            problems.append(f"{flag} {value}: at least 1")
    for flag, value in (("--dollars-per-label", args.dollars_per_label), ("--storage-price", args.storage_price)):
        if value < 0:
            problems.append(f"{flag} {value:g}: cannot be negative")
    if problems:
        raise AdaptlabError("; ".join(problems))
    return Constraints(accuracy_floor=args.accuracy_floor, budget_dollars=args.budget_dollars,
                       latency_ms=args.latency_ms, queries=args.queries, data_changes_often=args.data_changes_often,
                       retrains=args.retrains, variants=args.variants, dollars_per_label=args.dollars_per_label,
                       storage_dollars_per_gb_month=args.storage_price, months=args.months)


def check_costs_known(name: str, experiment: dict, summary, constraints) -> None:
    """Refuse a budget no option can be held to: every cost unknown, as when the stored price is not a number
    (an experiment stored before prices had to be finite)."""
    costs = summary[["train_dollars", "inference_dollars_per_1k"]]
    if constraints.budget_dollars is not None and costs.isna().any(axis=1).all():
        prices = experiment["config"].get("prices", {})
        raise AdaptlabError(f"--budget-dollars {constraints.budget_dollars:g}: the cost of every option of '{name}' is "
                            f"unknown (its stored prices per device hour are {prices}), so none can be held to a "
                            "budget; leave out --budget-dollars, or run the experiment again under a new name with "
                            "finite prices")


def check_destination(out: Path, force: bool) -> None:
    """Refuse, before anything is read, a file that cannot be written or would be overwritten unasked."""
    if out.is_dir():
        raise AdaptlabError(f"{out} is a folder; give a file name, e.g. -o {out / 'results.csv'}")
    if not out.parent.is_dir():
        raise AdaptlabError(f"cannot write {out}: the folder {out.parent} does not exist; create it or choose "
                            "another -o")
    if out.exists() and not force:
        raise AdaptlabError(f"{out} already exists; add --force to replace it, or choose another file with -o")


def cmd_questions(args) -> int:
    """Build the question table from the config's documents (cloze, or written by an LLM, as task.documents.questions
    or the command line says) and write it, to read, edit and use as a QA file."""
    from core.config import load_config
    from core.task.llm_questions import document_questions
    from core.task.question_table import (
        chunks_from_config,
        question_file_format,
        question_settings,
        write_question_table,
    )
    from core.task.questions import report_lines

    config = load_config(args.config)
    # by default the QA file the config names: the questions written are the ones the experiment will ask
    out = Path(args.output or config.task.path or "questions.jsonl")
    check_destination(out, args.force)
    question_file_format(out)
    settings = question_settings(config, source=args.source, model=args.model, max_per_chunk=args.max_per_chunk,
                                 seed=args.seed)
    chunks = chunks_from_config(config)
    if settings.source == "llm":
        console.print(f"writing questions for {len(chunks)} chunk(s) with {escape(str(settings.model))}…")
    questions = document_questions(chunks, settings, config.task.split_seed, config.model.device)
    write_question_table(questions.frame, out)
    for line in report_lines(questions.report):
        console.print(escape(line), soft_wrap=True)
    console.print(f"wrote {len(questions.frame)} question(s) to {out}; review and edit them, then run the config "
                  f"with this file as its QA file (task.path: {out})", soft_wrap=True)
    return 0


def cmd_list(args) -> int:
    from core.errors import StoreNotFound

    try:
        frame = _store(args, create=False).experiments()
    except StoreNotFound:  # nothing run yet with this store; a read creates nothing
        frame = None
    if frame is None or frame.empty:
        console.print("no experiments yet: adaptlab run CONFIG")
        return 0
    table = Table("experiment", "model", "finished runs", "updated", header_style="bold")
    for row in frame.itertuples():
        table.add_row(row.name, row.model, str(row.runs), row.updated_at)
    console.print(table)
    return 0


def cmd_dashboard(args) -> int:
    """Serve the dashboard (dashboard/app.py); it starts a worker for queued jobs when none is alive. Ctrl-C or
    SIGTERM stops both."""
    import signal
    import subprocess

    from core.running.processes import stop_processes, stop_with_parent

    if not 1 <= args.port <= 65535:  # streamlit would end in an OverflowError traceback from bind()
        raise AdaptlabError(f"--port {args.port}: a port is a whole number from 1 to 65535, e.g. 8501")
    root = Path(__file__).resolve().parents[1]  # streamlit reads .streamlit/config.toml from its working folder
    env = {**os.environ, **({"ADAPTLAB_STORE": args.store} if args.store else {})}
    command = [sys.executable, "-m", "streamlit", "run", str(root / "dashboard" / "web.py"),
               "--server.port", str(args.port), "--server.address", args.address]
    if args.allow_host:  # replaces config.toml's list, so this machine's own names go with them (docs/SECURITY.md)
        for host in ("localhost", "127.0.0.1", "::1", *args.allow_host):
            command += ["--server.allowedHosts", host]
    console.print(f"adaptlab dashboard on http://{args.address}:{args.port} (Ctrl-C stops it and its worker; a "
                  "running job goes back to the queue and resumes when the dashboard is started again)")
    # Streamlit in a session of its own, so that this process decides how it stops: on Ctrl-C or SIGTERM here it
    # gets SIGTERM, and the worker it started (which stops with it) is waited for; SIGKILL after the grace. Killed
    # outright (SIGKILL), this process cannot stop it: the kernel sends it SIGTERM then (stop_with_parent).
    server = subprocess.Popen(command, cwd=root, env=env, start_new_session=True, preexec_fn=stop_with_parent)
    previous = {signum: signal.signal(signum, _interrupted) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        return server.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        for signum in previous:  # a second Ctrl-C must not cut the stop short and leave the worker behind
            signal.signal(signum, signal.SIG_IGN)
        stop_processes([server], grace=DASHBOARD_STOP_SECONDS)
        for signum, handler in previous.items():
            signal.signal(signum, handler)


DASHBOARD_STOP_SECONDS = 30  # for the worker to put its job back in the queue and Streamlit to close its sessions


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def cmd_worker(args) -> int:
    from core.running.jobs import STALE_SECONDS
    from core.running.worker import main_loop

    problems = [f"{flag} {value}: at least 1" for flag, value in
                (("--gpu-jobs", args.gpu_jobs), ("--cpu-jobs", args.cpu_jobs), ("--max-jobs", args.max_jobs))
                if value is not None and value < 1]
    if args.stale_after is not None and not (math.isfinite(args.stale_after) and args.stale_after > 0):
        problems.append(f"--stale-after {args.stale_after:g}: seconds, more than 0 (leave it out for a minute)")
    if args.idle_exit is not None and not (math.isfinite(args.idle_exit) and args.idle_exit >= 0):
        problems.append(f"--idle-exit {args.idle_exit:g}: seconds, 0 or more (leave it out to never stop)")
    if problems:  # a silent worker's job requeued at once, or a GPU nobody may use: refused before the loop starts
        raise AdaptlabError("; ".join(problems))
    return main_loop(_store(args), {"gpu": args.gpu_jobs, "cpu": args.cpu_jobs}, args.idle_exit, args.max_jobs,
                     args.stale_after or STALE_SECONDS, args.stop_with_parent)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="adaptlab", description="Prompt, retrieve, LoRA, fine-tune or train from "
                                     "scratch? Side-by-side experiments with their cost.")
    parser.add_argument("--store", default=os.environ.get("ADAPTLAB_STORE"),
                        help="results database: a SQLite file or a SQLAlchemy URL (default: ~/.adaptlab/results.db)")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run an experiment config (YAML) headless")
    run.add_argument("config")
    run.add_argument("--parallel", type=int, default=None, metavar="N",
                     help="runs at once on this device, each with 1/N of it (default: parallel_runs in the config, 1)")
    run.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                     help="run each run as a Ray task on a cluster: ADDRESS (host:port), else the config's "
                          "ray.address, else $ADAPTLAB_RAY_ADDRESS, else a local cluster (docs/DEPLOY.md)")
    run.set_defaults(func=cmd_run)
    from core.task.scenarios import SCENARIOS

    demo = commands.add_parser("demo", help=f"run a built-in scenario's default grid ({', '.join(SCENARIOS)})")
    demo.add_argument("scenario", choices=sorted(SCENARIOS))
    demo.add_argument("--quick", action="store_true", help="two sizes, one seed: a first look in minutes")
    demo.add_argument("--model", default=None, metavar="NAME",
                      help="the model to adapt: 'smollm2' (the built-in LLM), a model folder or Hub id "
                           "(default: the scenario's, all-MiniLM-L6-v2 for classification)")
    demo.add_argument("--label-noise", type=float, default=0.0, metavar="SHARE",
                      help="flip this share of training labels (e.g. 0.1, 0.3) to see how data quality moves each "
                           "method")
    demo.add_argument("--name", default=None, metavar="NAME",
                      help="store the demo under this name instead of demo-SCENARIO[-quick...]")
    demo.add_argument("--seeds", type=int, default=None, metavar="N",
                      help="run seeds 0..N-1 instead of the scenario's (docs/RESULTS.md runs 5); a stored demo "
                           "keeps its runs and adds the new seeds")
    demo.set_defaults(func=cmd_demo)
    show = commands.add_parser("show", help="print an experiment's results table")
    show.add_argument("experiment")
    show.add_argument("--runs", action="store_true", help="one line per run instead of the summary")
    show.set_defaults(func=cmd_show)
    report = commands.add_parser("report", help="write an experiment's decision report (Markdown or HTML), with "
                                 "your constraints")
    report.add_argument("experiment")
    report.add_argument("--format", choices=("md", "html"), default="md",
                        help="md (default), or html: self-contained, with charts")
    report.add_argument("-o", "--output", help="file to write (default: EXPERIMENT-decision.FORMAT)")
    report.add_argument("--force", action="store_true", help="replace the file if it exists")
    from core.results.costs import Constraints

    defaults = Constraints()
    report.add_argument("--accuracy-floor", "--floor", type=float, default=None, metavar="SHARE",
                        help="lowest accuracy (answer match on QA) you accept, 0 to 1 (default: none)")
    report.add_argument("--budget-dollars", "--budget", type=float, default=None, metavar="DOLLARS",
                        help="for training plus the expected queries (default: none)")
    report.add_argument("--latency-ms", "--max-latency-ms", type=float, default=None, metavar="MS",
                        help="latency limit per query, as measured on the experiment's device (default: none)")
    report.add_argument("--queries", "--volume", type=int, default=defaults.queries, metavar="N",
                        help=f"expected query volume over the period (default: {defaults.queries:,})")
    report.add_argument("--data-changes-often", "--changes-often", action="store_true",
                        help="new data arrives often: trained methods retrain, RAG re-indexes")
    report.add_argument("--retrains", type=int, default=defaults.retrains, metavar="N",
                        help=f"updates over the period when the data changes often (default: {defaults.retrains})")
    report.add_argument("--variants", type=int, default=defaults.variants, metavar="N",
                        help="task variants deployed (e.g. one per customer): each is labelled, trained and stored")
    report.add_argument("--dollars-per-label", type=float, default=defaults.dollars_per_label, metavar="DOLLARS",
                        help="what labelling one training example costs (default: 0)")
    report.add_argument("--storage-price", type=float, default=defaults.storage_dollars_per_gb_month,
                        metavar="DOLLARS", help="per GB and month of stored models "
                        f"(default: {defaults.storage_dollars_per_gb_month})")
    report.add_argument("--months", type=int, default=defaults.months, metavar="N",
                        help=f"the period the queries and updates cover (default: {defaults.months})")
    report.set_defaults(func=cmd_report)
    export = commands.add_parser("export", help="write an experiment's runs to CSV or JSON, to MLflow, or one option "
                                 "ready to serve")
    export.add_argument("experiment")
    export.add_argument("--format", choices=("csv", "json"), default="csv")
    export.add_argument("-o", "--output", help="file to write (default: EXPERIMENT.FORMAT); with --option, the folder "
                        "(default: EXPERIMENT-METHOD-SIZE)")
    export.add_argument("--force", action="store_true", help="replace the file (or folder) if it exists")
    export.add_argument("--option", metavar="METHOD@SIZE",
                        help="write this option's kept weights (keep_artifacts: true) as its tools load them (peft, "
                             "transformers, scikit-learn; an LLM's prompt, shots and RAG passages with their FAISS or "
                             "BM25 index), with load.py and a model card README.md: e.g. lora@32")
    export.add_argument("--merged", action="store_true",
                        help="with a LoRA --option (on an LLM also corpus_ft, rag_lora): also the adapter merged "
                             "into its base, as a transformers folder")
    export.add_argument("--mlflow", nargs="?", const="", metavar="URI",
                        help="log the runs to MLflow instead (one run per adaptlab run under a parent for the grid; "
                             "again adds only what is new); URI defaults to MLFLOW_TRACKING_URI, else "
                             "sqlite:///ADAPTLAB_HOME/mlflow.db")
    export.set_defaults(func=cmd_export)
    questions = commands.add_parser("questions", help="build test questions from the config's documents and write "
                                    "the question table (question, answer, aliases, source, origin)")
    questions.add_argument("config")
    questions.add_argument("-o", "--output", default=None,
                           help="file to write, .jsonl, .csv or .parquet (default: the config's task.path, else "
                                "questions.jsonl)")
    questions.add_argument("--source", choices=["cloze", "llm"], default=None,
                           help="cloze: built from the sentences, no model; llm: written by a language model "
                                "(default: task.documents.questions.source, else cloze)")
    questions.add_argument("--model", default=None, metavar="MODEL",
                           help="with --source llm: the model that writes them (smollm2, a Hub id or a local folder; "
                                "default: questions.model, else model.name)")
    questions.add_argument("--max-per-chunk", type=int, default=None, metavar="N",
                           help="questions per chunk at most (default: questions.max_per_chunk, 2)")
    questions.add_argument("--seed", type=int, default=None,
                           help="cloze: which sentences of a chunk are asked (default: questions.seed, else "
                                "task.split_seed)")
    questions.add_argument("--force", action="store_true", help="replace the file if it exists")
    questions.set_defaults(func=cmd_questions)
    listing = commands.add_parser("list", help="list stored experiments")
    listing.set_defaults(func=cmd_list)
    dashboard = commands.add_parser("dashboard",
                                    help="open the dashboard in the browser (runs, charts, decision report)")
    dashboard.add_argument("--port", type=int, default=8501)
    dashboard.add_argument("--address", default="localhost", help="interface to listen on (default: this machine only)")
    dashboard.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                           help="a host name (or *.domain) browsers reach it by, besides localhost and 127.0.0.1; "
                           "other names are refused (DNS rebinding, docs/SECURITY.md); repeat for more")
    dashboard.set_defaults(func=cmd_dashboard)
    worker = commands.add_parser("worker", help="run experiments queued from the dashboard (it starts one itself)")
    worker.add_argument("--idle-exit", type=float, default=None, metavar="SECONDS",
                        help="stop after this many seconds without a job (default: never)")
    worker.add_argument("--gpu-jobs", type=int, default=1, help="jobs on the GPU at once, across workers (default 1)")
    worker.add_argument("--cpu-jobs", type=int, default=1, help="jobs on the CPU at once, across workers (default 1)")
    worker.add_argument("--max-jobs", type=int, default=None, help="stop after this many jobs")
    worker.add_argument("--stale-after", type=float, default=None, metavar="SECONDS",
                        help="requeue a running job whose worker has been silent this long (default: a minute)")
    worker.add_argument("--stop-with-parent", action="store_true",
                        help="stop when the process that started this one ends (how the dashboard starts its worker)")
    worker.set_defaults(func=cmd_worker)
    return parser


def main(argv: list[str] | None = None) -> int:
    from sqlalchemy.exc import DatabaseError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except AdaptlabError as error:
        # escape: a message quoting the user's input ("[/x]") is text, not rich markup; soft_wrap: one line per line
        text = escape(str(error))
        err.print(f"[red]error:[/] {text}" if "\n" not in text else f"[red]error:[/]\n{text}", soft_wrap=True)
        return 2
    except DatabaseError as error:  # the store broke under a command (damaged, or its disk failing)
        err.print(f"[red]error:[/] the results database could not be used ({escape(str(error.orig))}); check it with "
                  "sqlite3 FILE 'PRAGMA integrity_check', or restore a backup", soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err.print("interrupted: finished runs are stored; run the same command again to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
