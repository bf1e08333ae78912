"""Pareto front, break-even volumes, storage of N variants, per-class F1 and the recommendation."""

import pandas as pd
import pytest

from core.results.decision import (
    Constraints,
    break_even_queries,
    pareto_front,
    per_class_f1,
    recommend,
    storage_of_variants,
    total_cost,
)


def _table(rows):
    columns = ["method", "size", "accuracy", "accuracy_low", "accuracy_high", "train_dollars",
               "inference_dollars_per_1k", "inference_seconds_per_1k", "bytes_stored", "total_parameters"]
    return pd.DataFrame(rows, columns=columns)


# method, size, accuracy, low, high, train $, $ per 1k queries, ms per query, bytes stored, total parameters
SUMMARY = _table([
    ("prompt", "0", 0.40, 0.35, 0.45, 0.00, 0.010, 4.0, 2_000, 22_000_000),
    ("rag", "32", 0.78, 0.74, 0.82, 0.01, 0.012, 5.0, 400_000, 22_000_000),
    ("lora", "32", 0.85, 0.81, 0.89, 0.50, 0.004, 2.0, 1_200_000, 22_000_000),
    ("full", "32", 0.87, 0.83, 0.91, 1.50, 0.004, 2.0, 90_000_000, 22_000_000),
    ("tfidf", "32", 0.70, 0.66, 0.74, 0.001, 0.001, 0.5, 3_000_000, 0),
])


def test_the_pareto_front_keeps_only_undominated_options():
    front = pareto_front(SUMMARY, "train_dollars")
    assert front.all()  # each costs more to train than the last and buys accuracy with it
    dominated = pd.concat([SUMMARY, _table([("scratch", "32", 0.60, 0.5, 0.7, 1.5, 0.004, 2.0, 9e7, 2.2e7)])],
                          ignore_index=True)
    assert not pareto_front(dominated, "train_dollars").iloc[-1]  # dearer than tfidf and worse
    assert pareto_front(SUMMARY, "inference_seconds_per_1k").sum() == 2  # tfidf (fastest), then full (best at 2 ms)


def test_break_even_is_where_total_costs_cross():
    pair = SUMMARY[SUMMARY.method.isin(["rag", "lora"])]
    points = break_even_queries(pair)
    assert len(points) == 1
    point = points.iloc[0]
    assert (point.cheaper_first, point.cheaper_after) == ("rag", "lora")
    assert point.queries == pytest.approx((0.50 - 0.01) / ((0.012 - 0.004) / 1000))
    costs = total_cost(pair, [point.queries]).set_index("method").total_dollars
    assert costs["rag"] == pytest.approx(costs["lora"]) == pytest.approx(point.total_dollars)
    # lora and full cost the same per query: full never catches up, so no point
    assert break_even_queries(SUMMARY[SUMMARY.method.isin(["lora", "full"])]).empty


def test_adapters_share_one_base_model_full_copies_do_not():
    storage = storage_of_variants(SUMMARY, [1, 10]).set_index(["method", "variants"])["bytes"]
    base = 90_000_000  # measured: one full fine-tune's save
    assert storage["lora", 10] == base + 10 * 1_200_000
    assert storage["full", 10] == 10 * 90_000_000
    assert storage["tfidf", 10] == 10 * 3_000_000  # no base model at all
    assert storage["lora", 10] < storage["full", 10] / 5


def test_per_class_f1_averages_the_seeds():
    runs = pd.DataFrame({"method": ["lora", "lora", "tfidf"], "size": ["8", "8", "8"],
                         "status": ["finished", "finished", "failed"],
                         "record": [{"per_class_f1": {"a": 0.5, "b": 1.0}}, {"per_class_f1": {"a": 0.7, "b": 0.8}}, {}]})
    f1 = per_class_f1(runs).set_index("label").f1
    assert f1.to_dict() == pytest.approx({"a": 0.6, "b": 0.9})


def test_without_constraints_the_cheapest_of_the_statistically_tied_best_wins():
    choice = recommend(SUMMARY)
    assert (choice.method, choice.size, choice.met) == ("lora", "32", True)  # full is better, not measurably
    assert any("not measurably better" in reason for reason in choice.reasons)


def test_constraints_rule_options_out_and_say_why():
    choice = recommend(SUMMARY, Constraints(accuracy_floor=0.86))
    assert choice.method == "full"
    assert any("accuracy floor" in r and "falls below" in r for r in choice.reasons)  # 0.83 < 0.86
    assert any("Ruled out" in r and "lora" in r for r in choice.reasons)
    tight = recommend(SUMMARY, Constraints(budget_dollars=0.1, queries=1000))
    assert tight.method == "rag"  # lora and full cost more than $0.10 to train
    fast = recommend(SUMMARY, Constraints(latency_ms=1.0))
    assert fast.method == "tfidf"


def test_data_that_changes_often_favours_retrieval():
    choice = recommend(SUMMARY, Constraints(accuracy_floor=0.75, data_changes_often=True, retrains=52))
    assert choice.method == "rag"  # lora retrains 52 times; rag re-indexes
    assert any("changes often" in r for r in choice.reasons)
    # without a floor, retrieval must be tied with the best to win: here it is measurably worse
    assert recommend(SUMMARY, Constraints(data_changes_often=True)).method == "lora"


def test_when_nothing_fits_the_closest_option_is_named():
    choice = recommend(SUMMARY, Constraints(accuracy_floor=0.99))
    assert not choice.met and choice.headline.startswith("Nothing meets every constraint")
    assert choice.method == "full"
    assert recommend(SUMMARY.iloc[0:0]).method is None
