"""The grid end to end: run, store, resume, and a broken run that does not sink the rest."""

import numpy as np
import pytest

from core.config import parse_config
from core.errors import DataError
from core.results.store import SqlStore
from core.running.runner import load_results, run_experiment
from tests.conftest import tiny_config


def test_a_grid_runs_stores_every_record_and_resumes(tmp_path):
    store = SqlStore(tmp_path / "r.db")
    config = parse_config(tiny_config(methods=["prompt", "probe", "tfidf"], sizes=[4, 8], seeds=[0, 1]))
    result = run_experiment(config, store)
    assert (result.executed, result.skipped, result.failed) == (9, 0, 0)  # prompt once + 2 x 2 x 2
    runs = load_results("tiny", store, with_predictions=True)
    assert set(runs.status) == {"finished"}
    record = runs.set_index("run_key").loc["probe|8|1", "record"]
    for field in ("accuracy", "accuracy_low", "accuracy_high", "macro_f1", "per_class_f1", "train_seconds",
                  "inference_seconds_per_1k", "peak_memory_mb", "trainable_parameters", "total_parameters",
                  "bytes_stored", "train_dollars", "environment", "seed", "device", "latency_p50_ms",
                  "latency_p95_ms", "inference_seconds_per_1k_low", "inference_seconds_per_1k_high",
                  "memory_baseline_mb"):
        assert field in record, field
    assert record["train_examples"] == 40 and record["accuracy_low"] <= record["accuracy"] <= record["accuracy_high"]
    assert record["environment"]["versions"]["torch"]
    assert len(runs.predictions.iloc[0]) == 50  # 10 test texts per class
    again = run_experiment(config, store)
    assert (again.executed, again.skipped) == (0, 9)
    grown = parse_config(tiny_config(methods=["prompt", "probe", "tfidf"], sizes=[4, 8], seeds=[0, 1, 2]))
    assert run_experiment(grown, store).executed == 4  # only the new seed's runs


def test_a_failing_run_is_recorded_and_retried_next_time(tmp_path, monkeypatch):
    import dataclasses

    from core import methods

    store = SqlStore(tmp_path / "r.db")
    config = parse_config(tiny_config(methods=["probe", "tfidf"], sizes=[4]))
    broken = dataclasses.replace(methods.METHODS["probe"],
                                 fits={"encoder": lambda ctx: (_ for _ in ()).throw(RuntimeError("boom"))})
    monkeypatch.setitem(methods.METHODS, "probe", broken)
    result = run_experiment(config, store)
    assert result.failed == 1
    runs = store.runs_frame("tiny").set_index("run_key")
    assert runs.loc["probe|4|0", "status"] == "failed" and "RuntimeError: boom" in runs.loc["probe|4|0", "error"]
    assert runs.loc["tfidf|4|0", "status"] == "finished"
    monkeypatch.undo()
    retried = run_experiment(config, store)
    assert (retried.executed, retried.failed) == (1, 0)


def test_bad_data_stops_before_the_model_loads(tmp_path):
    (tmp_path / "d.csv").write_text("text,label\n" + "".join(f"t{i},a\n" for i in range(20)))
    config = parse_config({"name": "one-class", "task": {"path": str(tmp_path / "d.csv")}, "sizes": [2]})
    with pytest.raises(DataError, match="at least two"):
        run_experiment(config, SqlStore(tmp_path / "r.db"))
    assert SqlStore(tmp_path / "r.db").experiments().empty  # nothing half-written


@pytest.mark.slow
def test_the_trained_methods_run_in_the_grid(tmp_path):
    config = parse_config(tiny_config(methods=["lora", "full", "scratch"], sizes=[4], seeds=[0]))
    result = run_experiment(config, SqlStore(tmp_path / "r.db"))
    assert result.failed == 0
    runs = result.runs.set_index("method")
    assert runs.loc["lora", "bytes_stored"] < runs.loc["full", "bytes_stored"] / 50
    assert runs.loc["full", "trainable_parameters"] == runs.loc["full", "total_parameters"]
    # serving: each query alone (median, 95th percentile), batched throughput with its spread; LoRA also merged
    for method in ("lora", "full", "scratch"):
        record = runs.loc[method, "record"]
        assert 0 < record["latency_p50_ms"] <= record["latency_p95_ms"], method
        assert record["inference_seconds_per_1k_low"] <= record["inference_seconds_per_1k"] <= \
            record["inference_seconds_per_1k_high"]
    assert runs.loc["lora", "record"]["merged_latency_p50_ms"] > 0
    assert "merged_latency_p50_ms" not in runs.loc["full", "record"]


def test_the_grid_records_forgetting_for_fine_tunes_against_the_base_model(tmp_path, base_model):
    # the scores: tests/core/evaluation/test_forgetting.py
    from core.evaluation.forgetting import country_pairs, probe_recall

    config = parse_config(tiny_config(methods=["full", "tfidf"], sizes=[4], budget={"max_epochs": 1, "min_steps": 3}))
    records = run_experiment(config, SqlStore(tmp_path / "r.db")).runs.set_index("method").record
    forgetting = records["full"]["forgetting"]
    base_recall = probe_recall(base_model.encoder(), base_model.tokenizer, country_pairs(), base_model.device,
                               base_model.max_length)
    assert forgetting["probe"] == "countries" and forgetting["base_recall"] == pytest.approx(base_recall, abs=1e-6)
    assert forgetting["recall_lost"] == pytest.approx(forgetting["base_recall"] - forgetting["adapted_recall"])
    assert "forgetting" not in records["tfidf"]


def test_label_noise_changes_labels_but_not_which_texts_train():
    from core.running.grid import RunSpec
    from core.running.run import Progress, fit_context
    from core.task.load import load_task

    texts = {}
    for noise in (0.0, 0.4):
        config = parse_config(tiny_config(task={"builtin": "fortunes", "builtin_options": {"per_class": 40},
                                                "label_noise": noise}))
        task = load_task(config.task)
        ctx = fit_context(RunSpec("probe", "8", 1), task, task.labels, base=None, embedder=None, config=config,
                          progress=Progress())
        texts[noise] = (ctx.train_texts, ctx.train_labels)
    assert texts[0.4][0] == texts[0.0][0]  # the same 40 texts
    assert (texts[0.4][1] != texts[0.0][1]).any()  # some now carry a wrong label


def test_validation_comes_out_of_the_training_budget():
    from core.running.grid import RunSpec
    from core.running.run import Progress, fit_context, validation_from_budget
    from core.task.load import load_task

    chosen = np.arange(40)
    classes = np.repeat(np.arange(5), 8)
    train, held = validation_from_budget(chosen, classes, seed=3)
    assert sorted([*train, *held]) == list(range(40)) and len(held) == 10  # 2 of each class's 8
    assert all((classes[held] == c).sum() == 2 for c in range(5))
    assert len(validation_from_budget(np.arange(5), np.arange(5), 0)[1]) == 0  # one per class: nothing to hold out

    config = parse_config(tiny_config())
    task = load_task(config.task)
    contexts = {m: fit_context(RunSpec(m, "8", 0), task, task.labels, None, None, config, Progress())
                for m in ("full", "probe")}
    # 8 labelled examples per class for both: full early-stops on 2 of them, the probe (no validation) fits on all
    assert len(contexts["full"].train_texts) == 30 and len(contexts["full"].val_texts) == 10
    assert len(contexts["probe"].train_texts) == 40
    assert set(contexts["full"].val_texts) <= set(contexts["probe"].train_texts)
    assert not set(contexts["full"].val_texts) & set(task.validation.text)
    separate = parse_config(tiny_config(validation="separate"))
    ctx = fit_context(RunSpec("full", "8", 0), task, task.labels, None, None, separate, Progress())
    assert len(ctx.train_texts) == 40 and ctx.val_texts == task.validation.text.tolist()


def test_tuning_gives_every_method_the_same_search_on_the_same_validation_examples(tmp_path):
    config = parse_config(tiny_config(methods=["probe", "tfidf", "lora"], sizes=[8], seeds=[0], tuning=True))
    result = run_experiment(config, SqlStore(tmp_path / "r.db"))
    assert result.failed == 0
    records = result.runs.set_index("method").record
    searched = {m: records[m]["details"]["search"] for m in ("probe", "tfidf", "lora")}
    assert [t["C"] for t in searched["probe"]["trials"]] == [1.0, 0.1, 10.0]  # the configured value first
    assert [t["C"] for t in searched["tfidf"]["trials"]] == [10.0, 1.0, 100.0]
    # LoRA searches learning rate and rank: 9 combinations for 3 trials, the configured one first, 2 drawn
    lora_trials = [(t["learning_rate_x"], t["rank_x"]) for t in searched["lora"]["trials"]]
    assert len(lora_trials) == len(set(lora_trials)) == 3 and lora_trials[0] == (1.0, 1.0)
    assert {rank for _, rank in lora_trials} - {1.0}  # a rank other than the configured one is tried
    for method, search in searched.items():
        best = max(t["val_accuracy"] for t in search["trials"])
        first_best = next(t for t in search["trials"] if t["val_accuracy"] == best)
        assert search["chosen"] == {k: v for k, v in first_best.items() if k != "val_accuracy"}, method
        assert search["validation_examples"] == 10  # 2 of each class's 8, the same for every method
        assert records[method]["train_examples"] == 40
    # validation: refit (the default): LoRA, too, trains again on every example with the chosen learning rate
    assert searched["probe"]["refit_on_all"] and searched["lora"]["refit_on_all"]
    assert records["lora"]["details"]["refit"]["trained_on"] == 40
    lr = records["lora"]["details"]["learning_rate"]
    assert lr == pytest.approx(2e-3 * searched["lora"]["chosen"]["learning_rate_x"])
    # the refit trains the chosen rank, alpha scaled with it (alpha / rank as configured: 16 / 8)
    rank = round(8 * searched["lora"]["chosen"]["rank_x"])
    assert (records["lora"]["details"]["lora_r"], records["lora"]["details"]["lora_alpha"]) == (rank, 2 * rank)


def test_a_new_executor_is_one_class_with_one_method(tmp_path):
    """An executor only implements run(grid); the grid stores, counts and reports what it runs."""
    from core.running.executor import Grid, OneAtATime
    from core.running.run import Progress

    class Backwards:  # the runs in the opposite order, in this process
        def run(self, grid: Grid) -> None:
            OneAtATime().run(grid, grid.todo[::-1])

    class Seen(Progress):
        def __init__(self):
            self.started = []

        def run_started(self, spec):
            self.started.append(spec.key)

    config = tiny_config(methods=["probe", "tfidf"], sizes=[4], seeds=[0])
    forwards, backwards = Seen(), Seen()
    usual = run_experiment(parse_config(config), SqlStore(tmp_path / "a.db"), forwards)
    result = run_experiment(parse_config(config), SqlStore(tmp_path / "b.db"), backwards, executor=Backwards())
    assert backwards.started == forwards.started[::-1] and len(forwards.started) == 2
    assert (result.executed, result.failed, result.skipped) == (2, 0, 0)
    same = result.runs.set_index("run_key").accuracy.sort_index()
    assert same.equals(usual.runs.set_index("run_key").accuracy.sort_index())
