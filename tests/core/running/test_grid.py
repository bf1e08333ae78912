import numpy as np
import pytest

from core.config import parse_config
from core.running.grid import nested_order, plan_runs, subset_indices
from tests.conftest import tiny_config

LABELS = np.array([0] * 50 + [1] * 30 + [2] * 20)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_per_class_subsets_are_nested_and_balanced(seed):
    small, large = (set(subset_indices(LABELS, n, "per_class", seed)) for n in (4, 16))
    assert small < large
    assert np.bincount(LABELS[list(large)]).tolist() == [16, 16, 16]


@pytest.mark.parametrize("seed", [0, 3])
def test_total_subsets_are_nested_and_stratified(seed):
    order = nested_order(LABELS, seed)
    assert sorted(order) == list(range(len(LABELS)))
    prefix = LABELS[order[:20]]
    assert np.bincount(prefix).tolist() == [10, 6, 4]  # the 50/30/20 shares
    small, large = (set(subset_indices(LABELS, n, "total", seed)) for n in (10, 40))
    assert small < large


def test_seeds_draw_different_subsets_and_all_means_all():
    a, b = (set(subset_indices(LABELS, 8, "per_class", s)) for s in (0, 1))
    assert a != b
    assert sorted(subset_indices(LABELS, "all", "per_class", 0)) == list(range(100))


def test_plan_runs_once_for_methods_without_training_data():
    config = parse_config(tiny_config(methods=["prompt", "rag", "lora"], sizes=[4, 8], seeds=[0, 1, 2]))
    plan = plan_runs(config)
    assert [r.key for r in plan if r.method == "prompt"] == ["prompt|0|0"]
    assert len([r for r in plan if r.method == "lora"]) == 6
    assert len({r.key for r in plan}) == len(plan)
    assert plan.index(next(r for r in plan if r.size == "8")) > plan.index(next(r for r in plan if r.size == "4"))
    corpus_only = plan_runs(config, corpus_only_rag=True)
    assert [r.key for r in corpus_only if r.method == "rag"] == ["rag|0|0"]
