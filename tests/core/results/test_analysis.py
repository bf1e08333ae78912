import numpy as np
import pandas as pd
import pytest

from core.evaluation.metrics import bootstrap_interval
from core.results.analysis import (
    analyse,
    learning_curves,
    negative_transfer,
    per_class_f1,
    summary_table,
    with_correctness,
)


def _runs(spec, n=200, seed=0):
    """spec: {(method, size, run_seed): accuracy}; predictions right on the first round(acc*n) examples."""
    rng = np.random.default_rng(seed)
    rows = []
    for (method, size, run_seed), accuracy in spec.items():
        correct = np.zeros(n, dtype=bool)
        correct[rng.permutation(n)[: round(accuracy * n)]] = True
        rows.append({"method": method, "size": size, "seed": run_seed, "status": "finished",
                     "train_examples": 0 if size == "0" else int(size) * 2, "macro_f1": accuracy,
                     "predictions": np.where(correct, 0, 1).tolist(), "train_seconds": 1.0,
                     "inference_seconds_per_1k": 1.0, "peak_memory_mb": 1.0, "trainable_parameters": 1,
                     "total_parameters": 1, "bytes_stored": 1, "train_dollars": 0.0, "inference_dollars_per_1k": 0.0})
    return pd.DataFrame(rows)


TRUTH = [0] * 200


def test_interval_contains_the_mean_and_narrows_with_more_data():
    small = np.random.default_rng(0).random((1, 50)) < 0.7
    large = np.random.default_rng(0).random((1, 5000)) < 0.7
    lo_s, hi_s = bootstrap_interval(small)
    lo_l, hi_l = bootstrap_interval(large)
    assert lo_s <= small.mean() <= hi_s and lo_l <= large.mean() <= hi_l
    assert hi_l - lo_l < hi_s - lo_s


def test_seed_spread_widens_the_pooled_interval():
    same = np.tile(np.random.default_rng(1).random(400) < 0.6, (3, 1))
    spread = np.stack([np.random.default_rng(s).random(400) < p for s, p in enumerate((0.3, 0.6, 0.9))])
    assert np.ptp(bootstrap_interval(spread)) > np.ptp(bootstrap_interval(same))


def test_negative_transfer_is_method_minus_reference_paired_by_seed():
    runs = with_correctness(_runs({("full", "8", 0): 0.40, ("full", "8", 1): 0.50,
                                   ("scratch", "8", 0): 0.80, ("scratch", "8", 1): 0.70}), TRUTH)
    table = negative_transfer(runs, "scratch")
    per_seed = table[table.seed.notna()].set_index("seed").difference
    assert per_seed[0] == pytest.approx(-0.40) and per_seed[1] == pytest.approx(-0.20)
    pooled = table[table.seed.isna()].iloc[0]
    assert pooled.difference == pytest.approx(-0.30)
    assert pooled.high < 0 and bool(pooled.hurts)


def test_no_flag_when_the_interval_straddles_zero():
    runs = with_correctness(_runs({("lora", "8", 0): 0.52, ("scratch", "8", 0): 0.50}), TRUTH)
    pooled = negative_transfer(runs, "scratch").query("seed != seed").iloc[0]
    assert pooled.low < 0 < pooled.high and not pooled.hurts


def test_prompt_only_is_compared_at_every_size():
    runs = with_correctness(_runs({("prompt", "0", 0): 0.6, ("scratch", "8", 0): 0.3, ("scratch", "32", 0): 0.9}),
                            TRUTH)
    table = negative_transfer(runs, "scratch").query("seed != seed").set_index("size").difference
    assert table["8"] == pytest.approx(0.3) and table["32"] == pytest.approx(-0.3)
    curves = learning_curves(runs)
    assert set(curves[curves.method == "prompt"]["size"]) == {"8", "32"}


def test_failed_runs_are_left_out_and_the_summary_is_ordered():
    raw = _runs({("tfidf", "8", 0): 0.6, ("lora", "8", 0): 0.7, ("scratch", "8", 0): 0.5, ("lora", "32", 0): 0.8,
                 ("scratch", "32", 0): 0.6})
    raw.loc[len(raw)] = {**raw.iloc[0].to_dict(), "status": "failed", "predictions": None, "method": "full"}
    table = summary_table(raw, TRUTH, "scratch")
    assert table[["method", "size"]].values.tolist() == [
        ["lora", "8"], ["scratch", "8"], ["tfidf", "8"], ["lora", "32"], ["scratch", "32"]]
    assert table.set_index(["method", "size"]).loc[("lora", "8"), "vs_scratch"] == pytest.approx(0.2)


def test_one_analysis_gives_the_table_the_curves_and_the_transfer_the_separate_functions_give():
    raw = _runs({("prompt", "0", 0): 0.6, ("lora", "8", 0): 0.7, ("lora", "8", 1): 0.6, ("scratch", "8", 0): 0.5,
                 ("scratch", "8", 1): 0.55, ("lora", "32", 0): 0.8, ("lora", "32", 1): 0.75, ("scratch", "32", 0): 0.6,
                 ("scratch", "32", 1): 0.7})
    scored = with_correctness(raw, TRUTH)
    analysis = analyse(raw, TRUTH, "scratch")
    pd.testing.assert_frame_equal(analysis.curves, learning_curves(scored))
    pd.testing.assert_frame_equal(analysis.transfer, negative_transfer(scored, "scratch"))
    pd.testing.assert_frame_equal(analysis.summary, summary_table(raw, TRUTH, "scratch"))
    summary = analysis.summary.set_index(["method", "size"])
    assert summary.loc[("prompt", "0"), "accuracy"] == pytest.approx(0.6)  # measured once, no training data
    assert summary.loc[("lora", "32"), "vs_scratch"] == pytest.approx(0.125)
    curves = analysis.curves.set_index(["method", "size"])
    for size in ("8", "32"):  # the run without training data sits on the curve at every trained size
        assert curves.loc[("prompt", size), ["accuracy_low", "accuracy_high"]].tolist() == \
            summary.loc[("prompt", "0"), ["accuracy_low", "accuracy_high"]].tolist()


def test_without_finished_runs_or_the_reference_the_analysis_is_empty_where_it_must_be():
    raw = _runs({("lora", "8", 0): 0.7})
    assert analyse(raw.assign(status="failed"), TRUTH).summary.empty
    analysis = analyse(raw, TRUTH, "scratch")
    assert len(analysis.summary) == 1 and analysis.transfer.empty and "vs_scratch" not in analysis.summary


def test_a_run_without_its_reference_run_is_left_out_and_counted():
    # scratch's seed 1 failed: lora's seed 1 has nothing to pair with, and must not pair with seed 0 instead
    runs = _runs({("lora", "8", 0): 0.60, ("lora", "8", 1): 0.20, ("scratch", "8", 0): 0.50})
    runs.loc[len(runs)] = {**runs.iloc[2].to_dict(), "seed": 1, "status": "failed"}
    table = negative_transfer(with_correctness(runs, TRUTH), "scratch")
    assert list(table[table.seed.notna()].seed) == [0]
    pooled = table[table.seed.isna()].iloc[0]
    assert pooled.difference == pytest.approx(0.10) and pooled.unpaired == 1


def test_a_run_without_training_data_pairs_with_every_reference_seed():
    runs = _runs({("prompt", "0", 0): 0.30, ("scratch", "8", 0): 0.50, ("scratch", "8", 1): 0.70})
    table = negative_transfer(with_correctness(runs, TRUTH), "scratch")
    assert sorted(table[table.seed.notna()].seed) == [0, 1]
    assert table[table.seed.isna()].iloc[0].unpaired == 0


def test_hurts_flags_control_the_error_across_many_cells():
    # 40 cells a little above or below the reference (the worst, alone, with an interval just below zero) and
    # one far below: adjusted for the 41 comparisons, only the far one is flagged
    spec = {("scratch", "8", 0): 0.50, ("far", "8", 0): 0.20}
    for i, difference in enumerate(np.linspace(-0.09, 0.09, 40)):
        spec[(f"m{i}", "8", 0)] = 0.50 + difference
    runs = with_correctness(_runs(spec, n=400), [0] * 400)
    pooled = negative_transfer(runs, "scratch").query("seed != seed")  # NaN seeds: the pooled rows
    assert (pooled.high < 0).sum() > 1  # what uncorrected one-sided tests would flag
    assert list(pooled[pooled.hurts.astype(bool)].method) == ["far"]
    assert ((pooled.p_adjusted >= 0) & (pooled.p_adjusted <= 1)).all()


def test_per_class_f1_averages_the_seeds():
    runs = pd.DataFrame({"method": ["lora", "lora", "tfidf"], "size": ["8", "8", "8"],
                         "status": ["finished", "finished", "failed"],
                         "record": [{"per_class_f1": {"a": 0.5, "b": 1.0}}, {"per_class_f1": {"a": 0.7, "b": 0.8}},
                                    {}]})
    f1 = per_class_f1(runs).set_index("label").f1
    assert f1.to_dict() == pytest.approx({"a": 0.6, "b": 0.9})
