"""core/results/answers.py: questions and every run's answers lined up, verdicts in words, filters, retrieval groups."""

import pandas as pd

from core.results.answers import (
    answer_table,
    question_table,
    questions_to_show,
    retrieval_groups,
    right_counts,
    verdict,
)

TASK = {"questions": [
    {"question": "Which country is Bavaria in?", "answer": "Germany", "aliases": ["Germany", "Deutschland"],
     "options": ["France", "Germany"], "covered": True, "passage_id": "p1"},
    {"question": "Which country is Saxony in?", "answer": "Germany", "covered": False, "passage_id": ""},
    {"question": "What is the code of Tuscany?", "answer": "IT-52"},
]}


def _runs(*rows) -> pd.DataFrame:
    """Runs as SqlStore.runs_frame(with_predictions=True) gives them."""
    return pd.DataFrame([{"run_key": f"{m}|{s}|{seed}", "method": m, "size": s, "seed": seed, "status": status,
                          "record": record, "predictions": predictions}
                         for m, s, seed, status, record, predictions in rows])


def test_questions_are_numbered_and_missing_fields_get_honest_defaults():
    questions = question_table(TASK)
    assert questions.question.tolist() == [0, 1, 2]
    assert questions.aliases[2] == ["IT-52"] and questions.options[1] == []  # the reference alone is accepted
    assert questions.covered.tolist()[:2] == [True, False] and questions.covered[2] is None  # not said: unknown
    assert questions.passage_id.tolist() == ["p1", "", ""]
    assert question_table({}).empty


def test_verdicts_tell_right_made_up_abstained_and_empty_apart():
    assert verdict("Germany", True) == "right"
    assert verdict("France", False) == "wrong"
    assert verdict("I'm sorry, I don't know.", False) == "I don't know"
    assert verdict("  .", False) == "no answer"


def test_answers_line_up_with_questions_in_registry_order_and_skip_runs_that_cannot():
    runs = _runs(
        ("rag", "32", 0, "finished", {"answers": ["Germany", "I don't know", "IT-52"],
                                      "retrieved": [["p1", "p2"], ["p2"], []]}, [1, 0, 1]),
        ("prompt", "0", 0, "finished", {"answers": ["France", "Poland", ""], "cut_off": [False] * 3}, [0, 0, 0]),
        ("lora", "32", 0, "failed", {"error": "boom"}, None),
        ("full", "32", 0, "finished", {"answers": ["Germany"]}, [1]),  # another test set: not lined up
    )
    answers = answer_table(runs, 3)
    assert answers.method.unique().tolist() == ["prompt", "rag"]
    rag = answers[answers.method == "rag"]
    assert rag.verdict.tolist() == ["right", "I don't know", "right"] and rag.retrieved.tolist()[0] == ["p1", "p2"]
    assert answers[answers.method == "prompt"].verdict.tolist() == ["wrong", "wrong", "no answer"]
    assert answers[answers.method == "prompt"].retrieved.isna().all()
    assert right_counts(answers).tolist() == ["1 of 2", "0 of 2", "1 of 2"]


def test_filters_keep_coverage_and_questions_some_run_made_an_answer_up_for():
    questions = question_table(TASK)
    answers = answer_table(_runs(("rag", "32", 0, "finished", {"answers": ["Germany", "I don't know", "IT-51"]},
                                  [1, 0, 0])), 3)
    assert questions_to_show(questions, answers) == [0, 1, 2]
    assert questions_to_show(questions, answers, "covered") == [0]
    assert questions_to_show(questions, answers, "uncovered") == [1]  # the one the task does not place is neither
    assert questions_to_show(questions, answers, wrong_only=True) == [2]  # "I don't know" is not a wrong answer


def test_runs_that_retrieved_the_same_passages_share_one_group():
    answers = pd.DataFrame({"method": ["rag", "rag", "rag_lora", "lora"],
                            "retrieved": [["p1", "p2"], ["p1", "p2"], ["p3"], None]})
    assert retrieval_groups(answers) == [{"runs": "RAG (2 runs)", "passages": ["p1", "p2"]},
                                         {"runs": "RAG + LoRA (1 run)", "passages": ["p3"]}]


def test_a_retrieved_passage_is_the_source_when_it_is_the_chunk_or_a_chunk_of_the_named_document():
    import pandas as pd

    from core.results.answers import source_chunks, source_ranks

    chunks = pd.DataFrame({"id": ["a.md#0", "a.md#1", "b.md#0"], "document": ["a.md", "a.md", "b.md"],
                           "text": ["x", "y", "z"], "heading": ["", "", ""]})
    assert source_ranks(["b.md#0", "a.md#1"], "a.md#1", chunks) == [2]
    assert source_ranks(["a.md#0", "b.md#0", "a.md#1"], "a.md", chunks) == [1, 3]  # a user's source names a document
    assert source_ranks(["b.md#0"], "a.md#1", chunks) == [] and source_ranks(["a.md#0"], "", chunks) == []
    assert source_chunks("a.md", chunks).id.tolist() == ["a.md#0", "a.md#1"]
    assert source_chunks("nowhere", chunks).empty and source_chunks("", chunks).empty


def test_an_answer_max_new_tokens_cut_off_is_cut_off_not_made_up():
    """Issue 30: answers stopped by max_new_tokens mid-sentence were counted as 'made an answer up'."""
    from core.evaluation.metrics import qa_metrics
    from core.results.answers import CUT_OFF, WRONG, WRONG_OR_CUT

    answers = ["Bavaria is a region in the south of", "Deutschland", "Spain"]
    record = {"answers": answers, "cut_off": [True, False, False]}
    table = answer_table(_runs(("prompt", "0", 0, "finished", record, [0, 1, 0])), 3)
    assert table.verdict.tolist() == [CUT_OFF, "right", WRONG]
    older = answer_table(_runs(("prompt", "0", 0, "finished", {"answers": answers}, [0, 1, 0])), 3)
    assert older.verdict.tolist() == [WRONG_OR_CUT, "right", WRONG_OR_CUT]  # from before it was recorded: unknown
    aliases = [["Germany"], ["Germany", "Deutschland"], ["IT-52"]]
    metrics, _ = qa_metrics(answers, aliases, cut_off=[True, False, False])
    assert metrics["cut_off_rate"] == 1 / 3 and metrics["wrong_answer_rate"] == 1 / 3
    assert qa_metrics(answers, aliases)[0]["wrong_answer_rate"] == 2 / 3
    assert verdict("I don't know because the", False, cut_off=True) == "I don't know"  # declining, however cut
