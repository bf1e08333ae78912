"""The known-facts pass (core/running/known_facts.py) on the tiny random Llama: categories stored with the experiment
and read back without a model; each fine-tuning run's share of Unknown facts as the stored categories give it."""

from __future__ import annotations

from core.config import parse_config
from core.task.answers import normalize_answer
from tests.qa_cities import qa_file


def config(name, questions, model, **overrides):
    settings = {
        "name": name, "task": {"kind": "qa", "path": str(questions), "split_column": "split"},
        "model": {"name": str(model), "precision": "fp32"}, "methods": ["prompt", "lora"], "sizes": [6],
        "seeds": [0], "budget": {"max_epochs": 1, "min_steps": 2}, "validation": "separate",
        "llm": {"context_length": 128, "max_new_tokens": 4, "known_facts": {"samples": 1}}}
    settings.update(overrides)
    return parse_config(settings)


def base_model_answers(tmp_path, model) -> dict[str, str]:
    """What the base model answers closed-book to each question (the pass's own answering, on every row)."""
    from core.running.known_facts import answer_closed_book
    from core.running.run import Progress
    from core.running.runner import setup

    experiment, _ = setup(config("probe", qa_file(tmp_path / "probe.jsonl"), model), Progress())
    keys = [("train", row) for row in range(len(experiment.task.train))] + \
        [("test", row) for row in range(len(experiment.task.test))]
    return {q["question"]: q["greedy"] for q in answer_closed_book(experiment, keys, Progress())}


def test_categories_are_stored_and_each_lora_run_records_its_share_of_unknown_facts(tmp_path, tiny_llama):
    from core.results.known_facts import known_facts_view
    from core.results.store import SqlStore
    from core.running.runner import run_experiment

    # the base model "knows" a question when its own closed-book answer is the reference: half of them here
    said = base_model_answers(tmp_path, tiny_llama)
    answers = {q: a for i, (q, a) in enumerate(said.items()) if i % 2 == 0 and normalize_answer(a)}
    store = SqlStore()
    run_experiment(config("facts", qa_file(tmp_path / "qa.jsonl", answers), tiny_llama), store)

    stored = store.experiment("facts")["task"]["known_facts"]
    assert stored["seconds"] > 0 and stored["samples"] == 1
    by_question = {q["question"]: q for q in stored["questions"]}
    assert len(by_question) == 6 + 6  # every test question, and the six training questions the lora run uses
    for question, row in by_question.items():
        assert row["greedy"] == said[question] and len(row["sampled"]) == 1
        if question in answers:  # its reference is what the base model says greedily
            assert row["category"] == "HighlyKnown"
        else:
            assert row["category"] in ("WeaklyKnown", "Unknown")
    runs = store.runs_frame("facts").set_index("method")
    assert (runs.status == "finished").all(), runs.error.tolist()
    trained = [q for q in stored["questions"] if q["split"] == "train"]
    details = runs.loc["lora"].record["details"]
    assert details["known_facts_questions"] == len(trained) == 6
    assert details["unknown_share"] == sum(q["category"] == "Unknown" for q in trained) / 6
    assert 0 < details["unknown_share"] < 1
    fit = runs.loc["lora"].record["known_facts_fit"]
    assert fit["known"]["questions"] + fit["unknown"]["questions"] == 6
    assert "unknown_share" not in runs.loc["prompt"].record["details"]

    # read back with no model: the prompt run's match on known questions is 100% (it answers as the pass did)
    view = known_facts_view(store.experiment("facts"), store.runs_frame("facts"))
    prompt = view.table.set_index("method").loc["prompt"]
    assert prompt.match_known == 1.0 and prompt.known_questions == sum(
        q["category"] != "Unknown" for q in stored["questions"] if q["split"] == "test")

    # a grid that resumes answers nothing again
    seconds = stored["seconds"]
    run_experiment(config("facts", qa_file(tmp_path / "qa.jsonl", answers), tiny_llama), store)
    assert store.experiment("facts")["task"]["known_facts"]["seconds"] == seconds

    # an experiment stored before the pass, run again: the finished prompt run's answers are its greedy test answers
    store.add_task_facts("facts", known_facts=None)
    run_experiment(config("facts", qa_file(tmp_path / "qa.jsonl", answers), tiny_llama), store)
    again = store.experiment("facts")["task"]["known_facts"]
    assert again["greedy_test_answers_from"] == "the finished prompt run"
    tests = sorted((q for q in again["questions"] if q["split"] == "test"), key=lambda q: q["row"])
    assert [q["greedy"] for q in tests] == runs.loc["prompt"].record["answers"]
    assert [q["category"] for q in again["questions"]] == [q["category"] for q in stored["questions"]]


def test_the_pass_can_be_switched_off(tmp_path, tiny_llama):
    from core.results.store import SqlStore
    from core.running.runner import run_experiment

    store = SqlStore()
    run_experiment(config("off", qa_file(tmp_path / "qa.jsonl"), tiny_llama, methods=["prompt"],
                          llm={"context_length": 128, "max_new_tokens": 4, "known_facts": {"enabled": False}}), store)
    assert "known_facts" not in store.experiment("off")["task"]
