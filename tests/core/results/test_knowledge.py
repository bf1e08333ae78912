"""core/results/knowledge.py: covered against uncovered, made-up answers, and the cost of taking new facts in."""

import pandas as pd
import pytest

from core.results.knowledge import (
    INDEXES,
    RETRAINS,
    at_size,
    coverage_table,
    knowledge_fact,
    knowledge_rows,
    update_table,
)

TRAINS = {"prompt": False, "rag": False, "lora": True}


def _group(right, abstained, wrong) -> dict:
    return {"accuracy": right, "abstention_rate": abstained, "wrong_answer_rate": wrong}


def _run(method, size, seed, covered, uncovered, before, after, updatable, seconds=None, status="finished"):
    return {"method": method, "size": size, "seed": seed, "status": status, "train_seconds": seconds,
            "train_dollars": None if seconds is None else seconds / 3600,
            "record": {"cut_off_rate": 0.0,  # a run that recorded which answers max_new_tokens cut off (none)
                       "by_coverage": {"covered": _group(*covered), "uncovered": _group(*uncovered)},
                       "knowledge_update": {"accuracy_before": before, "accuracy_after": after, "examples": 20,
                                            "updatable": updatable}}}


RUNS = pd.DataFrame([
    _run("prompt", "0", 0, (0.1, 0.2, 0.7), (0.0, 0.3, 0.7), 0.05, 0.05, False, 1.0),
    _run("rag", "32", 0, (0.8, 0.1, 0.1), (0.0, 0.9, 0.1), 0.05, 0.65, True, 3.0),
    _run("rag", "32", 1, (0.9, 0.1, 0.0), (0.0, 0.7, 0.3), 0.05, 0.75, True, 3.0),
    _run("lora", "32", 0, (0.3, 0.0, 0.6), (0.0, 0.0, 0.9), 0.05, 0.05, False, 120.0),
    _run("lora", "128", 0, (0.4, 0.0, 0.6), (0.0, 0.0, 1.0), 0.05, 0.05, False, 480.0),
    _run("full", "128", 0, (0.9, 0.0, 0.1), (0.0, 0.0, 1.0), 0.0, 0.0, False, 9.0, status="failed"),
])


def test_coverage_is_the_mean_over_seeds_per_group_and_the_rest_is_no_answer():
    table = coverage_table(RUNS)
    rag = table[(table.method == "rag") & (table.group == "uncovered")].iloc[0]
    assert rag.abstention_rate == pytest.approx(0.8) and rag.wrong_answer_rate == pytest.approx(0.2)
    assert rag.seeds == 2 and rag.no_answer_rate == pytest.approx(0.0)
    prompt = table[(table.method == "prompt") & (table.group == "covered")].iloc[0]
    assert prompt.no_answer_rate == pytest.approx(0.0) and "full" not in set(table.method)  # failed runs left out
    assert table.method.unique().tolist() == ["prompt", "rag", "lora"]


def test_a_run_stored_before_cut_offs_were_recorded_has_wrong_or_cut_off_answers_not_made_up_ones():
    """The Answers page's one test (core.results.answers.cut_off_recorded): a record without `cut_off` or
    `cut_off_rate` cannot tell a made-up answer from one max_new_tokens cut off."""
    old = RUNS.assign(record=[{k: v for k, v in r.items() if k != "cut_off_rate"} for r in RUNS.record])
    coverage, update = at_size(coverage_table(old)), at_size(update_table(old, TRAINS))
    assert not coverage.cut_off_recorded.any() and coverage_table(RUNS).cut_off_recorded.all()
    rows = knowledge_rows(coverage, update, "total").set_index("method")
    assert "made up" not in rows.columns and rows.loc["lora", "wrong or cut off"] == "100%"
    fact = knowledge_fact(coverage, update)
    assert "makes an answer up" not in fact and "LoRA adapter answers wrongly or is cut off" in fact


def test_cut_off_answers_are_their_own_share_not_no_answer():
    cut = RUNS.assign(record=[{**r, "by_coverage": {g: {**f, "accuracy": f["accuracy"] - 0.0, "cut_off_rate": 0.0}
                                                    for g, f in r["by_coverage"].items()}} for r in RUNS.record])
    lora = cut.record.iloc[4]["by_coverage"]["uncovered"]
    lora |= {"wrong_answer_rate": 0.6, "cut_off_rate": 0.4}  # of lora's 100% wrong at 128, 40% were cut off
    table = coverage_table(cut).set_index(["method", "size", "group"]).loc[("lora", "128", "uncovered")]
    assert table.cut_off_rate == pytest.approx(0.4) and table.no_answer_rate == pytest.approx(0.0)
    rows = knowledge_rows(at_size(coverage_table(cut)), at_size(update_table(cut, TRAINS)), "total")
    assert rows.set_index("method").loc["lora", ["made up", "cut off"]].tolist() == ["60%", "40%"]


def test_retrieval_indexes_new_facts_and_trained_methods_pay_their_training_again():
    table = update_table(RUNS, TRAINS).set_index(["method", "size"])
    assert table.loc[("rag", "32"), "how"] == INDEXES and pd.isna(table.loc[("rag", "32"), "update_seconds"])
    assert table.loc[("rag", "32"), "after"] == pytest.approx(0.70)
    assert table.loc[("lora", "128"), "how"] == RETRAINS and table.loc[("lora", "128"), "update_seconds"] == 480
    assert table.loc[("prompt", "0"), "how"] == "has nowhere to put them"


def test_one_size_per_method_and_the_main_fact_in_one_sentence():
    coverage, update = at_size(coverage_table(RUNS)), at_size(update_table(RUNS, TRAINS))
    assert set(update["size"]) == {"0", "32", "128"} and len(update) == 3  # lora at its largest, 128
    assert set(at_size(update_table(RUNS, TRAINS), "32").set_index("method")["size"]) == {"0", "32"}
    fact = knowledge_fact(coverage, update)
    assert fact.startswith("Of the questions whose passage is in the documents, RAG answers the most (85% right)")
    assert "LoRA adapter makes an answer up 100% of the time and RAG 20%" in fact  # methods by their titles
    assert "lift RAG from 5% to 70% by indexing" in fact and "(LoRA adapter: about 8 min" in fact
    assert fact.endswith(".")
    assert knowledge_fact(coverage.iloc[0:0], update.iloc[0:0]).startswith("No run recorded")


def test_the_table_reads_in_words():
    rows = knowledge_rows(at_size(coverage_table(RUNS)), at_size(update_table(RUNS, TRAINS)), "total")
    lora = rows.set_index("method").loc["lora"]
    assert lora["training data"] == "128 examples" and lora["made up"] == "100%"
    assert lora["taking them in costs"].startswith("training again: about 8 min") and lora["new facts"] == "5% → 5%"


def test_a_measured_update_says_how_each_method_took_the_facts_in_and_what_it_took():
    def measured(method, how, before, after, seconds):
        run = _run(method, "32", 0, (0.5, 0.0, 0.5), (0.0, 0.5, 0.5), before, after, how is not None, 600.0)
        run["record"]["knowledge_update"] |= {"how": how, "update_seconds": seconds,
                                              "update_dollars": None if seconds is None else seconds / 3600}
        return run

    runs = pd.DataFrame([measured("rag", "indexed the new documents", 0.1, 0.6, 0.3),
                         measured("lora", "continued training on the new passages", 0.1, 0.3, 90.0),
                         measured("prompt", None, 0.1, 0.1, None)])
    table = update_table(runs, TRAINS).set_index("method")
    assert table.how.to_dict() == {"prompt": "has nowhere to put them", "rag": INDEXES, "lora": RETRAINS}
    assert table.update_seconds["lora"] == 90 and table.timed["lora"]  # the update's own time, not the run's 600 s
    fact = knowledge_fact(coverage_table(runs), table.reset_index())
    assert "lift RAG from 10% to 60% by indexing them" in fact and "(LoRA adapter: 90 s, $0.025 each time)" in fact
    rows = knowledge_rows(coverage_table(runs), table.reset_index()).set_index("method")
    assert rows.loc["rag", "taking them in costs"] == "indexing the new passages: under 1 s"


def test_when_the_facts_change_monthly_the_best_after_update_wins_and_the_cheaper_update_breaks_a_near_tie():
    from core.results.knowledge import changing_facts_choice

    def row(method, how, after, seconds, dollars):
        return {"method": method, "size": "32", "how": how, "before": 0.1, "after": after, "examples": 20,
                "update_seconds": seconds, "update_dollars": dollars, "timed": True, "seeds": 1}

    update = pd.DataFrame([row("rag", INDEXES, 0.60, 0.2, 0.0), row("lora", RETRAINS, 0.63, 90.0, 0.5),
                           row("prompt", "has nowhere to put them", 0.1, None, None)])
    said = changing_facts_choice(update, retrains=12, months=12)
    # lora is 3 points better on the new facts, within CLOSE: rag's near-free indexing wins, 12 x $0.50 against $0
    assert said.startswith("When the facts change monthly, use rag: it takes new facts in by indexing the new passages")
    assert "answers 60% of the questions about them" in said and "lora 63% after 12 retrainings of 90 s each" in said
    update.loc[update.method == "lora", "after"] = 0.90  # a real gap: the retraining is worth it
    assert changing_facts_choice(update, 4, 12).startswith("When the facts change 4 times in 12 months, use lora")
    assert "$2.00 for the 4 updates" in changing_facts_choice(update, 4, 12)
    assert changing_facts_choice(update.iloc[0:0]) == ""


def test_the_decision_report_says_which_method_to_use_when_the_facts_change():
    from core.results.costs import Constraints
    from core.results.report import facts_lines

    lines = facts_lines(RUNS.assign(train_dollars=RUNS.train_dollars), Constraints())
    assert lines[0].startswith("Of the questions whose passage is in the documents")
    assert lines[1].startswith("When the facts change monthly, use rag")
    assert facts_lines(RUNS.assign(record=[{}] * len(RUNS)), Constraints()) == []
