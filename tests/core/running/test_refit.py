"""`validation: refit` (core/running/refit.py): the stop is chosen on held-out examples, then the method trains
again on every example of the budget for exactly the chosen number of steps; both trainings are its cost.

The loop is watched from outside: a hook on `train` sees the examples each training is given and the
validation checks it makes, and a stepper that records every example it steps on."""

import dataclasses
import time

import numpy as np
import pytest
import torch

from core.config import parse_config
from core.results.store import SqlStore
from core.running.runner import run_experiment
from tests.conftest import tiny_config

PEAK = 6  # the scripted validation score is best at this check of the selection run (a check every step here)
# as bench/grid_vs_trainer.py at 8 per class: batches of 16, 4 epochs; 30 examples train (2 batches an epoch, 8 steps)
BUDGET = {"budget": {"max_epochs": 4, "min_steps": 2, "patience": 100}, "training": {"batch_size": 16}}
# PEAK steps on 30 examples are 3 epochs of 2 batches: on 40, 3 epochs of 3 batches (not 6 * 40 / 30 = 8 steps)
REFIT_STEPS = 9


def _watch_training(monkeypatch, module, scripted: bool = True, accuracies: list[float] | None = None) -> list[dict]:
    """Record every call of the loop's `train` made through `module`: the examples it got, the steps it was told
    to take, each example it stepped on, its validation checks and its seconds. scripted: the validation score
    rises to its best at check PEAK and falls after, so the chosen step is known; accuracies: the held-out
    accuracy of each check instead."""
    from core.training import loop

    calls = []

    class RecordingStepper(loop.MicroBatchStepper):
        def step(self, batch_idx):
            calls[-1]["stepped"].extend(tuple(self.encoded[i]) for i in batch_idx)
            calls[-1]["optimizer_steps"] += 1
            return super().step(batch_idx)

    original = module.train

    def watched(model, inputs, examples, lr, validation):
        call = {"ids": [tuple(ids) for ids in examples.ids], "asked_steps": inputs.steps, "stepped": [],
                "optimizer_steps": 0, "checks": 0, "tokenizer": inputs.base.tokenizer}
        calls.append(call)

        def score(train_loss):
            call["checks"] += 1
            if accuracies is not None:
                return accuracies[call["checks"] - 1]
            if scripted:
                return -abs(call["checks"] - PEAK) if validation.higher_is_better else abs(call["checks"] - PEAK)
            return validation.score(train_loss)

        started = time.perf_counter()
        call["record"] = original(model, inputs, examples, lr, dataclasses.replace(validation, score=score))
        call["seconds"] = time.perf_counter() - started
        return call["record"]

    monkeypatch.setattr(loop, "MicroBatchStepper", RecordingStepper)
    monkeypatch.setattr(module, "train", watched)
    return calls


def _budget_ids(config, tokenizer) -> set[tuple]:
    """The token ids of every labelled example of the run's budget (lora at 8 per class, seed 0)."""
    from core.running.grid import RunSpec
    from core.running.run import Progress, fit_context
    from core.task.load import load_task

    task = load_task(config.task)
    # the probe holds nothing out: its training texts are the whole budget
    every = fit_context(RunSpec("probe", "8", 0), task, task.labels, None, None, config, Progress()).train_texts
    assert len(every) == 40
    return {tuple(ids) for ids in tokenizer(every, truncation=True, max_length=config.model.max_length)["input_ids"]}


def test_the_refit_trains_on_every_example_for_the_chosen_steps_and_both_count_as_training(tmp_path, monkeypatch,
                                                                                           capsys):
    from core.training import loop

    calls = _watch_training(monkeypatch, loop)
    config = parse_config(tiny_config(methods=["lora"], sizes=[8], forgetting="off", **BUDGET))
    assert config.validation == "refit"  # the default
    result = run_experiment(config, SqlStore(tmp_path / "r.db"))
    assert result.failed == 0
    record = result.runs.record.iloc[0]
    selection, refit = calls  # two trainings: selection, then the refit

    budget = _budget_ids(config, selection["tokenizer"])
    # the selection run: three quarters of the budget, checked every step (8 steps, 8 checks), best at check PEAK
    assert len(selection["ids"]) == 30 and set(selection["ids"]) < budget
    assert selection["record"]["best_step"] == PEAK and selection["record"]["steps"] == 8
    # the refit: every example of the budget, stepped on, for exactly the chosen steps scaled to the same epochs
    # (its own plan would be 12)
    assert len(refit["ids"]) == 40 and set(refit["ids"]) == budget and set(refit["stepped"]) == budget
    assert refit["asked_steps"] == REFIT_STEPS == refit["optimizer_steps"] == refit["record"]["steps"]
    assert refit["checks"] == 0 and refit["record"]["stop_reason"] == "completed"

    facts = record["details"]["refit"]
    assert facts["chosen_steps"] == PEAK and facts["steps"] == REFIT_STEPS and facts["selection_steps"] == 8
    assert facts["trained_on"] == 40 and facts["selected_on"] == 10
    assert record["train_examples"] == 40 and record["validation_examples"] == 10
    assert record["validation"] == "from the budget, then refit on every example"
    # the run's training cost holds both trainings
    assert facts["selection_seconds"] >= selection["seconds"] and facts["refit_seconds"] >= refit["seconds"]
    assert record["train_seconds"] >= facts["selection_seconds"] + facts["refit_seconds"]
    # shown beside the run: `adaptlab show NAME --runs` and the Runs page read this line
    from core.cli import main
    from core.results.refit import how_trained

    line = how_trained(record)
    assert line.startswith(f"stop chosen on 10 held out: {PEAK} steps (")
    assert f"refit on all 40 for {REFIT_STEPS} steps (" in line
    capsys.readouterr()
    assert main(["--store", str(tmp_path / "r.db"), "show", "tiny", "--runs"]) == 0
    assert "how_trained" in capsys.readouterr().out


@pytest.mark.parametrize("validation, trainings", [
    ("refit", [(30, None), (40, REFIT_STEPS)]),  # chosen on a quarter of the budget, then trained on all of it
    ("from_budget", [(30, None)]),  # as before: early-stopped on a quarter, never trained on it
    ("separate", [(40, None)]),  # as before: the whole budget, early-stopped on the task's validation split
])
def test_each_validation_mode_trains_on_what_it_says(tmp_path, monkeypatch, validation, trainings):
    from core.training import loop

    calls = _watch_training(monkeypatch, loop)
    config = parse_config(tiny_config(methods=["full"], sizes=[8], forgetting="off", validation=validation, **BUDGET))
    result = run_experiment(config, SqlStore(tmp_path / "r.db"))
    assert result.failed == 0
    assert [(len(call["ids"]), call["asked_steps"]) for call in calls] == trainings
    record = result.runs.record.iloc[0]
    assert ("refit" in record["details"]) == (validation == "refit")
    assert record["train_examples"] == 40
    if validation != "separate":  # a quarter of each class's 8
        assert record["validation_examples"] == 10


@pytest.mark.parametrize("accuracies, chosen, refit_steps", [
    # best 0.4 at step 3, last 0.3, on 10 held out: one example apart, within the noise (two standard errors of a
    # difference are 0.43 here): the selection run's whole 8 steps (4 epochs), 12 on all 40
    ([0.2, 0.3, 0.4, 0.3, 0.3, 0.3, 0.3, 0.3], 8, 12),
    # best 0.9 at step 4, last 0.2: seven examples apart, beyond the noise: step 4 (2 epochs), 6 on all 40
    ([0.2, 0.5, 0.6, 0.9, 0.5, 0.3, 0.2, 0.2], 4, 6),
])
def test_the_stop_is_chosen_only_where_the_held_out_examples_tell_the_steps_apart(tmp_path, monkeypatch, accuracies,
                                                                                  chosen, refit_steps):
    from core.training import loop

    calls = _watch_training(monkeypatch, loop, accuracies=accuracies)
    config = parse_config(tiny_config(methods=["scratch"], sizes=[8], forgetting="off", **BUDGET))
    result = run_experiment(config, SqlStore(tmp_path / "r.db"))
    assert result.failed == 0, result.runs.error.tolist()
    selection, refit = calls
    assert selection["record"]["val_accuracies"] == accuracies and selection["record"]["steps"] == 8
    assert selection["record"]["best_step"] == accuracies.index(max(accuracies)) + 1
    assert refit["asked_steps"] == refit_steps == refit["optimizer_steps"] and refit["checks"] == 0
    facts = result.runs.record.iloc[0]["details"]["refit"]
    assert facts["chosen_steps"] == chosen and facts["steps"] == refit_steps
    assert facts["selection_best_step"] == selection["record"]["best_step"]
    assert facts["selection_last_val_accuracy"] == accuracies[-1]


def test_the_loop_takes_exactly_the_steps_it_is_told_and_validates_nothing():
    from types import SimpleNamespace

    from core.training.loop import Examples, LoopInputs, Validation, train

    class OneWeight(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids):
            return SimpleNamespace(loss=((self.weight - 1.0) ** 2).sum())

    def never(train_loss):
        raise AssertionError("a refit has nothing to validate on")

    model = OneWeight()
    base = SimpleNamespace(device=torch.device("cpu"), autocast_dtype=None, tokenizer=None, config=SimpleNamespace())
    settings = SimpleNamespace(batch_size=2, weight_decay=0.0, warmup_ratio=0.0, max_grad_norm=1.0, compile=False)
    budget = SimpleNamespace(max_epochs=8, min_steps=0, patience=1, max_train_seconds=1e9)
    examples = Examples([[1]] * 8, collate=lambda chunk: {"input_ids": torch.ones((len(chunk), 1), dtype=torch.long)})
    validation = Validation("val_score", never, True, worst=-np.inf)
    record = train(model, LoopInputs(base, settings, budget, seed=0, steps=5), examples, 0.1, validation)
    # 5 steps: one epoch of 4 and one step into the next, whatever max_epochs says; the last weights are kept
    assert record["steps"] == 5 and record["planned_steps"] == 5 and record["best_step"] == 5
    assert record["stop_reason"] == "completed" and record["best_val_score"] is None
    assert float(model.weight) > 0


def test_a_decoder_refits_on_every_example_too(tmp_path, monkeypatch, tiny_llama):
    from core.training import sft

    calls = _watch_training(monkeypatch, sft)
    config = parse_config(tiny_config(methods=["lora"], sizes=[8], forgetting="off",
                                      model={"name": str(tiny_llama), "precision": "fp32"}, **BUDGET))
    result = run_experiment(config, SqlStore(tmp_path / "r.db"))
    assert result.failed == 0, result.runs.error.tolist()
    selection, refit = calls
    assert len(selection["ids"]) == 30 and len(refit["ids"]) == 40
    assert set(selection["ids"]) < set(refit["ids"]) and set(refit["stepped"]) == set(refit["ids"])
    assert selection["record"]["best_step"] == PEAK
    assert refit["asked_steps"] == REFIT_STEPS == refit["optimizer_steps"] and refit["checks"] == 0
    assert result.runs.record.iloc[0]["details"]["refit"]["trained_on"] == 40


def test_the_estimate_counts_the_refit():
    from core.running.estimate import run_seconds, training_steps

    measured = {"step_seconds": {"full": 2.0}, "setup_seconds": {"full": 5.0},
                "predict_seconds_per_text": {"full": 0.0}, "early_stop_examples": 20}
    config = {mode: parse_config(tiny_config(methods=["full"], validation=mode)) for mode in ("refit", "from_budget")}
    steps = training_steps(30, config["refit"])
    chosen = {mode: run_seconds("full", 30, config[mode], measured, tests=0, validation=10) for mode in config}
    assert chosen["from_budget"] == (steps, 5.0 + 2.0 * steps)
    # the refit: at most the same epochs again on all 40, with its setup, and nothing validated
    again = training_steps(40, config["refit"])
    assert chosen["refit"] == (steps + again, 2 * 5.0 + 2.0 * (steps + again))
    # one per class: nothing held out, nothing to refit
    alone = run_seconds("full", 5, config["refit"], measured, tests=0, validation=0)
    assert alone[0] == training_steps(5, config["refit"])
