"""How long a grid will take and what it will cost, from a quick measurement on the real model and device.

    estimate = estimate_experiment(load_config("examples/fortunes-quick.yaml"))
    estimate.total_seconds, estimate.total_dollars, estimate.by_method()

Nothing here is a rule of thumb: it loads the base model, times an encode batch (the cost of prompt,
RAG and the probe), runs a few real optimiser steps of each trained method (LoRA, full, scratch) at
the config's batch size, fits the classical baseline, and then counts the steps each run of the grid
will take under its budget. Early stopping usually ends trained runs sooner, so trained runs are an
upper bound. The dashboard calls estimate_in_subprocess(), so even these few steps never run in the
Streamlit process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core.config import ExperimentConfig, parse_config
from core.errors import AdaptlabError
from core.running.estimate_counts import corpus_passages, evaluations, training_steps
from core.running.fit_timing import MEASURE_STEPS, timed_fit

FIT_SAMPLE = 200  # training examples the probe and TF-IDF fits are timed on
# what an LLM estimate's trained runs leave out, measured against a real grid (docs/BENCHMARKS.md row 10b)
LLM_TRAINED_NOTE = ("trained runs may read up to a quarter low (against a real quick look on a 2-core CPU: 0.72x to "
                    "1.28x per method, 0.89x in all): each run's own set-up (its model built, its weights saved) is "
                    "not measured, while early stopping can end a run sooner")


@dataclass
class Estimate:
    device: str
    device_kind: str
    price_per_hour: float
    runs: pd.DataFrame  # one row per run still to do: method, size, seed, train_examples, steps, seconds
    fixed_seconds: float  # once per grid: loading the model, encoding the texts not yet cached
    measured: dict = field(default_factory=dict)  # the timings the estimate is built from
    notes: list[str] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        return float(self.fixed_seconds + self.runs.seconds.sum())

    @property
    def total_dollars(self) -> float:
        return self.total_seconds / 3600 * self.price_per_hour

    def by_method(self) -> pd.DataFrame:
        """Runs, seconds and dollars per method (the once-per-grid set-up is not in any method)."""
        if self.runs.empty:
            return pd.DataFrame(columns=["method", "runs", "seconds", "dollars"])
        table = self.runs.groupby("method", sort=False).agg(runs=("seconds", "size"), seconds=("seconds", "sum"))
        return table.assign(dollars=table.seconds / 3600 * self.price_per_hour).reset_index()

    def to_json(self) -> str:
        data = asdict(self) | {"runs": self.runs.to_dict(orient="records")}
        return json.dumps(data, default=float)

    @classmethod
    def from_json(cls, text: str) -> Estimate:
        data = json.loads(text)
        runs = pd.DataFrame(data.pop("runs"), columns=["method", "size", "seed", "train_examples", "steps", "seconds"])
        return cls(runs=runs, **data)


def describe_device(requested: str = "auto") -> dict:
    """The device runs will use: kind, name, memory (GPU memory, or system memory on the CPU)."""
    import psutil
    import torch

    from core.backbone.models import device_name, pick_device

    device = pick_device(requested)
    if device.type == "cuda":
        memory, what = torch.cuda.get_device_properties(device).total_memory / 2**30, "GPU memory"
    else:
        memory, what = psutil.virtual_memory().total / 2**30, "memory"
    name = device_name(device)
    return {"kind": device.type, "name": name, "memory_gib": round(memory, 1),
            "label": f"{name}, {memory:.0f} GiB {what}"}


def measure(config: ExperimentConfig, task, base, embedder) -> dict:
    """Time what the grid's cost is made of, on this model and device."""
    from core.methods import METHODS, FitContext
    from core.training.loop import MAX_EARLY_STOP_EXAMPLES

    labels = task.labels
    index = {label: i for i, label in enumerate(labels)}
    y_train = task.train.label.map(index).to_numpy()
    test = task.test.text.tolist()
    measured: dict = {"encode_seconds_per_text": embedder.calibrate(test), "step_seconds": {},
                      "setup_seconds": {}, "predict_seconds_per_text": {}, "fit_seconds_per_example": {}}
    rng = np.random.default_rng(0)

    def context(indices, budget=None, val=8):
        run_config = config if budget is None else config.model_copy(update={"budget": budget})
        return FitContext(labels=labels, train_texts=task.train.text.iloc[indices].tolist(),
                          train_labels=y_train[indices], val_texts=task.validation.text.tolist()[:val],
                          val_labels=task.validation.label.map(index).to_numpy()[:val], corpus=task.corpus,
                          base=base, embedder=embedder, config=run_config, seed=0)

    batch = min(config.training.batch_size, len(y_train))
    sample = rng.choice(len(y_train), min(len(y_train), batch * MEASURE_STEPS), replace=False)
    short = config.budget.model_copy(update={"max_epochs": 1, "min_steps": MEASURE_STEPS, "patience": 1000})
    for method in (m for m in config.methods if METHODS[m].trains_network):
        timing = context(sample, short)
        timing.max_steps = MEASURE_STEPS  # for methods with their own step plan (the shared loop follows `short`)
        fitted, started, ticks = timed_fit(method, timing)
        timed = time.perf_counter()
        fitted.predict_proba(test[:64])
        per_text = (time.perf_counter() - timed) / len(test[:64])
        # every tick includes a check of the 8 validation texts; take it out of the step time
        (t0, s0), (t1, s1) = (ticks[0], ticks[-1]) if ticks else ((timed, 1), (timed, 1))
        step = max(0.0, (t1 - t0) / max(1, s1 - s0) - 8 * per_text) if s1 > s0 else t0 - started
        measured["step_seconds"][method] = step
        measured["setup_seconds"][method] = max(0.0, t0 - started - step)
        measured["predict_seconds_per_text"][method] = per_text
    measured["early_stop_examples"] = min(len(task.validation), MAX_EARLY_STOP_EXAMPLES)
    # sklearn fits grow about linearly at these sizes: time one on a sample, charge per example
    fit_sample = rng.choice(len(y_train), min(len(y_train), FIT_SAMPLE), replace=False)
    for method in (m for m in config.methods if METHODS[m].fit_time_per_example):
        computed = embedder.computed
        started = time.perf_counter()
        METHODS[method].fit_for("encoder")(context(fit_sample))
        seconds = time.perf_counter() - started - (embedder.computed - computed) * measured["encode_seconds_per_text"]
        measured["fit_seconds_per_example"][method] = max(0.0, seconds) / len(fit_sample)
    return measured


def run_seconds(method: str, examples: int, config: ExperimentConfig, measured: dict, tests: int,
                validation: int | None = None) -> tuple[int, float]:
    """(steps, seconds) one run takes, from the measurements. examples: those it trains on; validation: those it
    early-stops on when they come out of its budget (None: the task's validation split)."""
    from core.methods import METHODS
    from core.running.refit import refits_with

    if METHODS[method].trains_network:
        held_out = validation is not None
        if validation is None:
            validation = measured["early_stop_examples"]
        validation = min(validation, measured.get("max_validation_examples", validation))  # a decoder checks 64
        planned = METHODS[method].steps
        steps = planned(examples, config) if planned else training_steps(examples, config)
        # an encoder checks by predicting; a decoder by the loss over its validation examples
        per_check = measured.get("check_seconds_per_example", measured["predict_seconds_per_text"])[method]
        train = min(steps * measured["step_seconds"][method], config.budget.max_train_seconds)
        checks = evaluations(steps) * validation * per_check
        fits = searched_fits(METHODS[method], config, refit=False)  # each candidate of the search trains once
        seconds = fits * (measured["setup_seconds"][method] + train + checks) + answering(
            method, tests, config, measured, examples + (validation if held_out else 0))
        refits = refits_with(METHODS[method], config, validation if held_out else 0)
        # the known/unknown checkpoints follow the training the run keeps: the refit, else every trial of a search
        # (which is kept is known only after them all)
        trainings = [examples + validation] if refits else [examples] * fits
        seconds += _checkpoints(method, trainings, config, measured)
        if refits:
            # `validation: refit` trains again on every example for at most as many epochs, checking nothing
            again = planned(examples + validation, config) if planned else training_steps(examples + validation, config)
            refit = min(again * measured["step_seconds"][method], config.budget.max_train_seconds)
            return steps * fits + again, seconds + measured["setup_seconds"][method] + refit
        return steps * fits, seconds
    fits = searched_fits(METHODS[method], config, refit=True)
    if measured.get("family") == "decoder":  # each candidate of a search answers the validation questions
        searching = (fits > 1) * fits * measured["early_stop_examples"] * measured["predict_seconds_per_text"][method]
        return 0, fits * measured["fit_seconds"][method] + searching + answering(method, tests, config, measured,
                                                                                 examples)
    fit = measured["fit_seconds_per_example"].get(method, 0.0) * examples * fits
    if METHODS[method].uses_embeddings:  # texts come from the cache; the latency pass encodes for real
        from core.running.run import LATENCY_SAMPLE  # embedding runs time this many uncached predictions

        return 0, fit + min(LATENCY_SAMPLE, tests) * measured["encode_seconds_per_text"]
    return 0, fit * 2  # tfidf: fitting, then predicting the test set (its timing is the latency), about as long


def answering(method: str, tests: int, config: ExperimentConfig, measured: dict, examples: int = 0) -> float:
    """Seconds a run spends after training: the test set predicted, and on a decoder the latency questions
    answered one at a time, the forgetting probe where one follows and the knowledge update where the task has one
    (examples: those the run trained on, which a classifier's update fits again with the new ones)."""
    seconds = tests * measured["predict_seconds_per_text"][method]
    if measured.get("family") != "decoder":
        return seconds
    from core.running.estimate_decoder import forgetting_seconds, knowledge_update_seconds

    alone = min(config.latency_queries, tests) * measured["alone_seconds_per_text"][method]
    return seconds + alone + forgetting_seconds(method, config, measured) + knowledge_update_seconds(
        method, examples, config, measured)


def _checkpoints(method: str, trainings: list[int], config: ExperimentConfig, measured: dict) -> float:
    """A decoder run's known/unknown checkpoints during its trainings (none on an encoder)."""
    if measured.get("family") != "decoder":
        return 0.0
    from core.running.estimate_decoder import checkpoint_seconds

    return checkpoint_seconds(method, trainings, config, measured)


def searched_fits(method, config: ExperimentConfig, refit: bool) -> int:
    """Fits one run makes: one, or with `tuning` one per candidate of its search (and the refit on every example
    for a method that does not early-stop)."""
    if not (config.tuning and method.search):
        return 1
    # the same trials for every method that searches (core/running/search.py), fewer where it has fewer combinations
    candidates = min(config.tuning_trials, int(np.prod([len(values) for values in method.search.values()])))
    return candidates + (1 if refit and not method.early_stops else 0)


def plan_seconds(config: ExperimentConfig, task, measured: dict, done: set[str] = frozenset()) -> pd.DataFrame:
    """One row per run of the grid not already finished, with its estimated steps and seconds."""
    from core.methods import METHODS
    from core.running.grid import plan_runs, subset_indices
    from core.running.run import holds_out, validation_from_budget
    from core.task.sizes import NO_TRAINING_DATA

    if task.kind == "qa":  # a question has no class: one "class", as the runs draw their subsets
        y_train = np.zeros(len(task.train), dtype=int)
    else:
        y_train = task.train.label.map({label: i for i, label in enumerate(task.labels)}).to_numpy()
    rows = []
    for spec in plan_runs(config, corpus_only_rag=config.rag.source == "corpus"):
        if spec.key in done:
            continue
        chosen = np.array([], dtype=int) if spec.size == NO_TRAINING_DATA else subset_indices(
            y_train, spec.size, config.size_unit, spec.seed)
        examples, validation = len(chosen), None
        if METHODS[spec.method].trains_network and not METHODS[spec.method].uses_training_data:
            examples, validation = corpus_passages(task)  # corpus fine-tuning trains on the documents
        elif holds_out(METHODS[spec.method], config):  # as the run will split them
            trained, held = validation_from_budget(chosen, y_train[chosen], spec.seed)
            examples, validation = len(trained), len(held)
        steps, seconds = run_seconds(spec.method, examples, config, measured, len(task.test), validation)
        examples += validation or 0  # the labelled examples the run uses, as its record counts them
        rows.append({"method": spec.method, "size": spec.size, "seed": spec.seed, "train_examples": examples,
                     "steps": steps, "seconds": seconds})
    return pd.DataFrame(rows, columns=["method", "size", "seed", "train_examples", "steps", "seconds"])


def estimate_experiment(config: ExperimentConfig, store_url: str | None = None) -> Estimate:
    """Measure, then estimate every run the grid still has to do (finished runs in the store are skipped)."""
    from core.backbone.embeddings import Embedder, EmbeddingCache, _text_key  # the cache's own key, to count hits
    from core.backbone.models import BaseModel, device_name, model_family, pick_device
    from core.evaluation.measure import price_per_hour
    from core.methods import METHODS
    from core.results.store import SqlStore
    from core.running.grid import plan_runs
    from core.running.run import load_checked_task
    from core.running.runner import choose_methods

    task, _ = load_checked_task(config)  # the same data checks the worker makes, so a bad grid fails here first
    # the methods the worker will run: a config that names none gets the backbone's defaults (an LLM's, not the
    # encoder list the config defaults to, whose probe has no fit on an LLM)
    config = config.model_copy(update={"methods": choose_methods(config, model_family(config.model.name), task)})
    store = SqlStore(store_url) if store_url else None
    done = store.finished_keys(config.name) if store else set()
    left = sorted({spec.method for spec in plan_runs(config, config.rag.source == "corpus") if spec.key not in done},
                  key=config.methods.index)
    llm = model_family(config.model.name) == "decoder"
    notes = [LLM_TRAINED_NOTE if llm else "trained runs are an upper bound: early stopping usually ends them sooner"] \
        if any(METHODS[m].trains_network for m in left) else []
    if config.parallel_runs > 1:
        notes.append(f"seconds are for one run at a time; with parallel_runs {config.parallel_runs} the runs share "
                     "the device, so each takes longer and the grid as a whole less (docs/BENCHMARKS.md measures it)")
    if done:
        notes.append(f"{len(done)} run(s) of '{config.name}' are already stored and will be skipped")
    if not left:  # nothing to run, nothing to measure
        device = pick_device(config.model.device)
        return Estimate(device_name(device), device.type, price_per_hour(config.prices, device.type,
                        device_name(device)), plan_seconds(config, task, {}, done), 0.0, {}, notes)
    if model_family(config.model.name) == "decoder":
        return decoder_estimate(config, task, left, done, notes, _answered_closed_book(store, config.name))
    started = time.perf_counter()
    base = BaseModel.from_spec(config.model)
    base.encoder()  # loading the weights is part of what the worker pays once per grid
    load_seconds = time.perf_counter() - started
    cache = EmbeddingCache.shared()
    embedder = Embedder(base, cache, batch_size=config.training.eval_batch_size)
    texts = list(dict.fromkeys([*task.train.text, *task.validation.text, *task.test.text,
                                *([] if task.corpus is None else task.corpus.text)]))
    cached = len(cache.get(base.fingerprint, [_text_key(t) for t in texts]))  # before measuring adds any
    measured = measure(config.model_copy(update={"methods": left}), task, base, embedder)
    encode = (len(texts) - cached + 128) * measured["encode_seconds_per_text"] \
        if any(METHODS[m].uses_embeddings for m in left) else 0.0
    measured |= {"load_seconds": load_seconds, "texts": len(texts), "texts_cached": cached}
    name = device_name(base.device)
    return Estimate(device=name, device_kind=base.device.type,
                    price_per_hour=price_per_hour(config.prices, base.device.type, name),
                    runs=plan_seconds(config, task, measured, done), fixed_seconds=load_seconds + encode,
                    measured=measured, notes=notes)


def _answered_closed_book(store, name: str) -> set[tuple[str, int]]:
    """The questions a resumed grid's known-facts pass has already answered ((split, row)), which it will not
    answer again (core/running/known_facts.py); none for a new experiment."""
    from core.errors import StoreError
    from core.running.known_facts import answered_questions

    if store is None:
        return set()
    try:
        task = store.experiment(name)["task"] or {}
    except StoreError:  # a new experiment
        return set()
    return answered_questions(task.get("known_facts"))


def decoder_estimate(config: ExperimentConfig, task, left: list[str], done: set[str], notes: list[str],
                     answered: set[tuple[str, int]] = frozenset()) -> Estimate:
    """The estimate on a decoder LLM: one question answered and two training steps per kind of fine-tuning,
    scaled to each method's prompts and examples (core/running/estimate_decoder.py). answered: the known-facts
    pass's questions already stored (a resumed grid)."""
    from core.backbone.models import device_name
    from core.evaluation.measure import price_per_hour
    from core.running.estimate_decoder import ESTIMATE_NOTES, measure_decoder

    measured, fixed, device = measure_decoder(config.model_copy(update={"methods": left}), left, done, answered)
    notes.extend(ESTIMATE_NOTES)  # what it extrapolates from what it measured
    name = device_name(device)
    return Estimate(device=name, device_kind=device.type, price_per_hour=price_per_hour(config.prices, device.type,
                    name), runs=plan_seconds(config, task, measured, done), fixed_seconds=fixed, measured=measured,
                    notes=notes)


def estimate_in_subprocess(config: ExperimentConfig, store_url: str | None = None,
                           timeout: float | None = None) -> Estimate:
    """estimate_experiment in a child process (the dashboard's way: no training in the UI process). timeout: 10
    minutes, or 20 on a decoder LLM, whose training steps and answers take minutes on a CPU other jobs keep busy."""
    if timeout is None:
        from core.backbone.models import model_family

        timeout = 1200 if model_family(config.model.name) == "decoder" else 600
    command = [sys.executable, "-m", "core.running.estimate"] + (["--store", store_url] if store_url else [])
    try:
        done = subprocess.run(command, input=json.dumps(config.model_dump(mode="json")), capture_output=True,
                              text=True, timeout=timeout, check=False, cwd=Path(__file__).resolve().parents[1])
    except subprocess.TimeoutExpired:
        raise AdaptlabError(f"the estimate took longer than {timeout:.0f} s; the model or device may be too "
                            "slow for this grid, or busy with another job") from None
    lines = done.stdout.strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        answer = None
    if not isinstance(answer, dict):  # killed (out of memory?) or crashed before it could answer
        last = (done.stderr.strip().splitlines() or ["nothing"])[-1][:300]
        raise AdaptlabError(f"the estimate stopped without an answer (exit code {done.returncode}); it last said: "
                            f"{last}")
    if "error" in answer:
        raise AdaptlabError(answer["error"])
    return Estimate.from_json(lines[-1])


def main(argv: list[str] | None = None) -> int:
    """`python -m core.running.estimate [--store URL] < config.json`: one line of JSON (an Estimate, or an error)."""
    argv = sys.argv[1:] if argv is None else argv
    store_url = argv[argv.index("--store") + 1] if "--store" in argv else None
    try:
        estimate = estimate_experiment(parse_config(json.loads(sys.stdin.read()), source="estimate"), store_url)
    except AdaptlabError as error:
        print(json.dumps({"error": str(error)}))
        return 2
    except Exception as error:  # the caller shows this line to a person: a sentence, the traceback to stderr
        import traceback

        traceback.print_exc()
        print(json.dumps({"error": f"the estimate failed: {type(error).__name__}: {error}"}))
        return 2
    print(estimate.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
