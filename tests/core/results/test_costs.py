"""What each option costs: the Pareto front, break-even volumes, storage of N variants, labelling and storage."""

import pandas as pd
import pytest

from core.results.costs import (
    Constraints,
    break_even_queries,
    pareto_front,
    same_serving_cost,
    storage_of_variants,
    total_cost,
)
from tests.core.results.summaries import SUMMARY, summary_of


def test_the_pareto_front_keeps_only_undominated_options():
    front = pareto_front(SUMMARY, "train_dollars")
    assert front.all()  # each costs more to train than the last and buys accuracy with it
    dominated = pd.concat([SUMMARY, summary_of([("scratch", "32", 0.60, 0.5, 0.7, 1.5, 0.004, 2.0, 9e7, 2.2e7)])],
                          ignore_index=True)
    assert not pareto_front(dominated, "train_dollars").iloc[-1]  # dearer than tfidf and worse
    assert pareto_front(SUMMARY, "inference_seconds_per_1k").sum() == 2  # tfidf (fastest), then full (best at 2 ms)


def test_break_even_is_where_total_costs_cross():
    pair = SUMMARY[SUMMARY.method.isin(["rag", "lora"])]
    points = break_even_queries(pair)
    assert len(points) == 1
    point = points.iloc[0]
    assert (point.cheaper_first, point.cheaper_after) == ("rag", "lora")
    # both keep the base model (90 MB, measured by full's save) beside their own part, for a year at $0.10/GB-month
    storage = lambda part: (90_000_000 + part) / 1e9 * 0.10 * 12  # noqa: E731
    fixed_rag, fixed_lora = 0.01 + storage(400_000), 0.50 + storage(1_200_000)
    assert point.queries == pytest.approx((fixed_lora - fixed_rag) / ((0.012 - 0.004) / 1000))
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


def test_break_even_only_where_per_query_costs_differ_by_more_than_their_noise():
    close = summary_of([("tfidf", "8", 0.7, 0.6, 0.8, 0.001, 0.0041, 1.0, 1, 0),
                    ("lora", "8", 0.7, 0.6, 0.8, 0.5, 0.0040, 1.0, 1, 0)])
    assert break_even_queries(close).empty  # 2.5% apart: timing noise, not a cheaper option
    same = same_serving_cost(close)
    assert len(same) == 1 and {same.iloc[0].method, same.iloc[0].other} == {"tfidf", "lora"}
    apart = close.assign(inference_dollars_per_1k=[0.0060, 0.0040])  # lora a third cheaper per query
    assert len(break_even_queries(apart)) == 1 and same_serving_cost(apart).empty
    noisy = apart.assign(inference_dollars_per_1k_se=[0.0012, 0.0012])  # the runs' own spread is wider than the gap
    assert break_even_queries(noisy).empty and len(same_serving_cost(noisy)) == 1
    # retraining when the data changes often moves the crossing: training is paid 12 times
    once, twelve = break_even_queries(apart).queries.iloc[0], break_even_queries(apart, retrains=12).queries.iloc[0]
    assert twelve == pytest.approx((12 * 0.5 - 12 * 0.001) / (0.002 / 1000)) and twelve > once


def test_total_cost_counts_labelling_and_storage_for_every_task_variant():
    from core.results.costs import fixed_dollars

    table = SUMMARY.assign(train_examples=[0, 160, 160, 160, 160])
    free = fixed_dollars(table, Constraints(storage_dollars_per_gb_month=0))
    assert free.tolist() == pytest.approx(table.train_dollars.tolist())
    paid = fixed_dollars(table, Constraints(storage_dollars_per_gb_month=0, dollars_per_label=0.5, variants=3))
    assert paid.tolist() == pytest.approx((3 * (table.train_dollars + 0.5 * table.train_examples)).tolist())
    # full stores a whole copy per variant; lora the base once and an adapter per variant
    stored = fixed_dollars(table.assign(train_dollars=0.0), Constraints(variants=10, storage_dollars_per_gb_month=1,
                                                                        months=1)).set_axis(table.method)
    assert stored["full"] == pytest.approx(10 * 0.09) and stored["lora"] == pytest.approx(0.09 + 10 * 0.0012)


def test_the_cheapest_stretches_change_hands_at_the_break_even_volumes_themselves():
    """The Cost page's headline and its list of break-even points read one computation: the volume where the
    cheapest option changes is a break-even volume to the query, not the next point of a sampled curve."""
    from core.results.costs import cheapest_stretches

    pair = SUMMARY[SUMMARY.method.isin(["rag", "lora"])]
    (point,) = break_even_queries(pair).itertuples()
    stretches = cheapest_stretches(pair, 100, 1e9)
    assert stretches.method.tolist() == ["rag", "lora"]
    assert stretches.to_queries.iloc[0] == stretches.from_queries.iloc[1] == point.queries  # exactly, not about
    assert (stretches.from_queries.iloc[0], stretches.to_queries.iloc[-1]) == (100, 1e9)
    # below the crossing one stretch; every option at once: prompt, then tfidf (cheaper to serve), for good
    assert cheapest_stretches(pair, 100, point.queries / 2).method.tolist() == ["rag"]
    every = cheapest_stretches(SUMMARY, 1, 1e9)
    crossings = break_even_queries(SUMMARY)
    assert set(every.to_queries.iloc[:-1]) <= set(crossings.queries)
    costs = total_cost(SUMMARY, every.from_queries.iloc[1:] * 1.001)  # just past each change: the new one is cheapest
    for row in every.iloc[1:].itertuples():
        at = costs[costs.queries == row.from_queries * 1.001]
        assert at.loc[at.total_dollars.idxmin(), "method"] == row.method


def test_the_parts_of_a_fixed_cost_add_up_to_it():
    from core.results.costs import fixed_dollars, fixed_parts

    table = SUMMARY.assign(train_examples=[0, 160, 160, 160, 160])
    constraints = Constraints(dollars_per_label=0.5, variants=3, retrains=12, data_changes_often=True)
    parts = fixed_parts(table, constraints)
    assert list(parts.columns) == ["training", "labelling", "storage"] and (parts.storage > 0).all()
    assert parts.sum(axis=1).tolist() == pytest.approx(fixed_dollars(table, constraints).tolist())
