"""Known and Unknown facts across epochs (core/evaluation/learning_epochs.py) on the tiny random Llama: each
fine-tuning run answers its training questions and test questions at its epoch ends, the record keeps the
checkpoints and their seconds apart from training, and the view reads them back into a table, a finding and a
chart; off with llm.known_facts.checkpoints: 0."""

from __future__ import annotations

import json

import pytest

from core.config import parse_config
from core.task.answers import normalize_answer
from tests.qa_cities import CITIES, qa_file


def corpus_file(path):
    path.write_text("\n".join(json.dumps({"text": f"{city} is a city."}) for city in CITIES))
    return path


def config(name, questions, model, corpus=None, checkpoints=None, **overrides):
    facts = {"samples": 0, **({"checkpoints": checkpoints} if checkpoints is not None else {})}
    settings = {
        "name": name, "task": {"kind": "qa", "path": str(questions), "split_column": "split",
                               **({"corpus": {"path": str(corpus), "label_column": None}} if corpus else {})},
        "model": {"name": str(model), "precision": "fp32"}, "methods": ["lora"], "sizes": [6], "seeds": [0],
        # three epochs of three steps; patience 9 keeps every epoch (early stopping would end it sooner)
        "budget": {"max_epochs": 3, "min_steps": 1, "patience": 9}, "training": {"batch_size": 2},
        "validation": "separate", "llm": {"context_length": 128, "max_new_tokens": 4, "known_facts": facts}}
    settings.update(overrides)
    return parse_config(settings)


def half_known(tmp_path, model) -> dict[str, str]:
    """Every other question's answer made what the base model says greedily: those are known, the rest Unknown."""
    from core.running.known_facts import answer_closed_book
    from core.running.run import Progress
    from core.running.runner import setup

    experiment, _ = setup(config("probe", qa_file(tmp_path / "probe.jsonl"), model), Progress())
    keys = [("train", row) for row in range(len(experiment.task.train))] + \
        [("test", row) for row in range(len(experiment.task.test))]
    said = {q["question"]: q["greedy"] for q in answer_closed_book(experiment, keys, Progress())}
    return {q: a for i, (q, a) in enumerate(said.items()) if i % 2 == 0 and normalize_answer(a)}


def test_fine_tuning_runs_record_known_and_unknown_facts_at_each_epoch(tmp_path, tiny_llama):
    from core.results.known_facts import known_facts_view, markdown_lines
    from core.results.learning_epochs import learning_figure
    from core.results.store import SqlStore
    from core.running.runner import run_experiment

    answers = half_known(tmp_path, tiny_llama)
    store = SqlStore()
    run_experiment(config("epochs", qa_file(tmp_path / "qa.jsonl", answers), tiny_llama,
                          corpus_file(tmp_path / "corpus.jsonl"), methods=["prompt", "lora", "corpus_ft"]), store)
    runs = store.runs_frame("epochs").set_index("method")
    assert (runs.status == "finished").all(), runs.error.tolist()
    stored = store.experiment("epochs")["task"]["known_facts"]
    trained = [q for q in stored["questions"] if q["split"] == "train"]
    unknown = sum(q["category"] == "Unknown" for q in trained)
    assert 0 < unknown < len(trained) == 6

    lora = runs.loc["lora"].record["learning_across_epochs"]
    assert [p["epoch"] for p in lora["checkpoints"]] == [1, 2, 3]
    for point in lora["checkpoints"]:
        assert point["known"] + point["unknown"] == 6 and point["unknown"] == unknown
        assert 0 <= point["unknown_right"] <= unknown and point["test_questions"] == 6
    assert lora["seconds"] == sum(p["seconds"] for p in lora["checkpoints"]) > 0
    assert lora["before"]["unknown_right"] == 0 and lora["before"]["known"] == 6 - unknown
    # corpus_ft trains on the documents: its facts are the categorised training questions, whose passages it read
    corpus = runs.loc["corpus_ft"].record["learning_across_epochs"]
    assert corpus["checkpoints"] and corpus["checkpoints"][0]["known"] + corpus["checkpoints"][0]["unknown"] == 6
    assert "learning_across_epochs" not in runs.loc["prompt"].record  # nothing trained: nothing to follow

    # read back with no model: epoch 0 (the base model) then each checkpoint, a sentence from the data, a chart
    view = known_facts_view(store.experiment("epochs"), store.runs_frame("epochs"))
    table = view.learning[view.learning.method == "lora"]
    assert table.epoch.tolist() == [0, 1, 2, 3]
    last = lora["checkpoints"][-1]
    assert table.unknown_share.iloc[-1] == last["unknown_right"] / unknown
    assert table.made_up_share.iloc[-1] == last["test_made_up"] / 6
    sentence = next(line for line in view.learning_lines if line.startswith("lora"))
    assert f"Unknown facts reached {last['unknown_right'] / unknown:.0%} after 3 epoch(s)" in sentence
    assert any("### Across epochs" == line for line in markdown_lines(view))
    assert len(learning_figure(view.learning).data) == 3 * 2  # three measures, for lora and corpus_ft


def test_checkpoints_can_be_switched_off(tmp_path, tiny_llama):
    from core.results.store import SqlStore
    from core.running.runner import run_experiment

    store = SqlStore()
    run_experiment(config("off", qa_file(tmp_path / "qa.jsonl"), tiny_llama, checkpoints=0,
                          budget={"max_epochs": 1, "min_steps": 1}), store)
    record = store.runs_frame("off").set_index("method").loc["lora"].record
    assert record["status"] == "finished" and "learning_across_epochs" not in record


def test_the_prompt_runs_answers_are_the_known_facts_passs_greedy_test_answers(tmp_path, tiny_llama):
    """The pass answers the test questions after the grid where it holds a prompt run: the same model and prompt
    answer them greedily there, so they are generated once (the quick look's work done twice, before)."""
    from core.results.store import SqlStore
    from core.running.runner import run_experiment

    store = SqlStore()
    run_experiment(config("once", qa_file(tmp_path / "qa.jsonl"), tiny_llama, checkpoints=0, methods=["prompt", "lora"],
                          budget={"max_epochs": 1, "min_steps": 1}), store)
    stored = store.experiment("once")["task"]["known_facts"]
    assert stored["greedy_test_answers_from"] == "the finished prompt run"
    tests = sorted((q for q in stored["questions"] if q["split"] == "test"), key=lambda q: q["row"])
    prompt = store.runs_frame("once").set_index("method").loc["prompt"].record
    assert [q["greedy"] for q in tests] == prompt["answers"] and len(tests) == 6
    assert sum(q["split"] == "train" for q in stored["questions"]) == 6  # before the grid: lora's share was recorded
    assert store.runs_frame("once").set_index("method").loc["lora"].record["details"]["known_facts_questions"] == 6


def test_under_a_refit_only_the_kept_training_is_followed(tmp_path, tiny_llama):
    """`validation: refit` trains twice; the record follows the refit (the model the run keeps), and the selection
    run answers nothing at its epoch ends: every second of checkpoints is in a point the record keeps."""
    from core.results.store import SqlStore
    from core.running.runner import run_experiment

    store = SqlStore()
    run_experiment(config("refit", qa_file(tmp_path / "qa.jsonl"), tiny_llama, validation="refit"), store)
    record = store.runs_frame("refit").set_index("method").loc["lora"].record
    assert record["status"] == "finished" and record["details"]["refit"], record.get("error")
    followed = record["learning_across_epochs"]
    assert followed["checkpoints"]
    assert followed["seconds"] == pytest.approx(sum(p["seconds"] for p in followed["checkpoints"]))
    assert followed["checkpoints"][-1]["step"] == record["details"]["refit"]["steps"]  # the refit's last step


def test_a_search_keeps_the_chosen_trials_checkpoints_and_pays_for_every_trials(monkeypatch):
    """With `tuning` and no training after the search (`validation: separate`, an early-stopping method), the
    kept trial is the chosen one, so its points are the run's; a trial that trains again later (the refit) is
    not followed at all."""
    import dataclasses
    import types

    import numpy as np

    from core.evaluation.learning_epochs import EpochCheckpoints
    from core.running import run as run_module

    followed = EpochCheckpoints(trained=None, unknown=np.zeros(0, bool), test=None, test_rows=[], count=2)
    seen = []

    def fit(ctx):  # a trial: one point naming its setting, one second of answering
        seen.append(ctx.epoch_checkpoints)
        if ctx.epoch_checkpoints is not None:
            ctx.epoch_checkpoints.points.append({"epoch": 1, "lr": ctx.hyper["lr"]})
            ctx.epoch_checkpoints.seconds += 1.0
        return types.SimpleNamespace(details={}, lr=ctx.hyper["lr"])

    scores = {1e-3: 0.2, 1e-4: 0.9, 1e-5: 0.5}  # the second trial is best
    monkeypatch.setattr(run_module, "validation_score", lambda fitted, ctx: ("val_accuracy", scores[fitted.lr]))
    monkeypatch.setattr(run_module, "search_trials", lambda search, trials, seed: [{"lr": lr} for lr in scores])
    method = types.SimpleNamespace(fit_for=lambda family: fit, search_on=lambda family: {"lr": tuple(scores)},
                                   early_stops=True, uses_training_data=True)
    @dataclasses.dataclass
    class Context:  # what fit_searched reads of a FitContext
        config: object
        base: object
        val_texts: list
        seed: int
        epoch_checkpoints: object
        hyper: dict

    settings = types.SimpleNamespace(tuning=True, tuning_trials=3, validation="separate")
    ctx = Context(settings, types.SimpleNamespace(family="decoder"), ["q"], 0, followed, {})
    fitted = run_module.fit_searched(method, ctx)
    assert fitted.details["search"]["chosen"] == {"lr": 1e-4}
    assert followed.points == [{"epoch": 1, "lr": 1e-4}] and followed.seconds == 3.0
    assert all(own is not followed for own in seen)  # each trial on a copy of its own

    seen.clear()
    followed.points, followed.seconds = [], 0.0
    monkeypatch.setattr(run_module, "refits", lambda method, ctx: True)
    monkeypatch.setattr(run_module, "refit", lambda fit_, ctx, selection, seconds: fit_(ctx))
    run_module.fit_searched(method, ctx)
    assert seen == [None, None, None, followed]  # the trials unfollowed, the refit followed
    assert followed.points == [{"epoch": 1, "lr": 1e-4}] and followed.seconds == 1.0
