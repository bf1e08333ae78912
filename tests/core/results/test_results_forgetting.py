"""Forgetting read from stored runs: intervals over seeds and probe pairs, and comparisons at matched accuracy."""

import zlib

import numpy as np
import pandas as pd
import pytest

from core.evaluation.forgetting import hits_text
from core.results.forgetting import (
    forgetting_runs,
    forgetting_summary,
    matched_forgetting,
    matched_verdict,
)

PAIRS = 300
BASE = np.random.default_rng(0).random(PAIRS) < 0.9  # the base model gets 90% of the pairs right


def run(method: str, seed: int, accuracy: float, lost_share: float, with_hits: bool = True, status: str = "finished"):
    """A stored run whose fine-tune got `lost_share` of the base model's hits wrong (which ones depends on the
    seed)."""
    rng = np.random.default_rng([zlib.crc32(method.encode()), seed, round(lost_share * 1000)])
    adapted = BASE & (rng.random(PAIRS) >= lost_share)
    forgetting = {"probe": "countries", "pairs": PAIRS, "base_recall": BASE.mean(), "adapted_recall": adapted.mean(),
                  "recall_lost": BASE.mean() - adapted.mean()}
    if with_hits:
        forgetting.update(base_hits=hits_text(BASE), adapted_hits=hits_text(adapted))
    return {"method": method, "size": 128, "seed": seed, "accuracy": accuracy, "status": status,
            "record": {"forgetting": forgetting}}


def frame(runs: list[dict], setting: str) -> pd.DataFrame:
    return forgetting_runs(pd.DataFrame(runs), setting)


def test_the_loss_interval_is_over_seeds_and_probe_pairs_and_tells_a_real_loss_from_none():
    lost = frame([run("full", s, 0.88, 0.15) for s in range(3)], "lr 1e-4")
    kept = frame([run("lora", s, 0.88, 0.0) for s in range(3)], "lr 2e-3")
    summary = forgetting_summary(pd.concat([lost, kept])).set_index("method")
    full, lora = summary.loc["full"], summary.loc["lora"]
    assert full.seeds == 3 and full.interval_over == "seeds and probe pairs"
    assert full.recall_lost_low > 0.05 and full.recall_lost_low < full.recall_lost < full.recall_lost_high < 0.2
    assert lora.recall_lost == 0 and lora.recall_lost_low <= 0 <= lora.recall_lost_high  # no loss, no flag
    assert full.recall_lost == pytest.approx(np.mean([r.recall_lost for r in lost.itertuples()]))


def test_runs_stored_before_the_hits_get_an_interval_over_seeds_and_failed_or_probeless_runs_are_left_out():
    old = [run("full", s, 0.88, 0.1 + 0.05 * s, with_hits=False) for s in range(3)]
    runs = frame(old + [run("full", 3, 0.9, 0.5, status="failed"),
                        {"method": "probe", "size": 128, "seed": 0, "accuracy": 0.8, "status": "finished",
                         "record": {}}], "old")
    assert sorted(runs.seed) == [0, 1, 2]
    summary = forgetting_summary(runs).iloc[0]
    assert summary.interval_over == "seeds" and summary.recall_lost_low < summary.recall_lost < summary.recall_lost_high
    single = forgetting_summary(frame(old[:1], "one")).iloc[0]
    assert np.isnan(single.recall_lost_low) and single.interval_over == ""  # one seed, no hits: no interval


def test_only_settings_within_the_tolerance_are_compared_and_the_difference_is_paired():
    runs = pd.concat([
        frame([run("lora", s, 0.89, 0.25) for s in range(3)], "lr 2e-3"),
        frame([run("lora", s, 0.80, 0.02) for s in range(3)], "lr 5e-4"),  # far less accurate: no full matches it
        frame([run("full", s, 0.88, 0.10) for s in range(3)], "lr 1e-4"),
    ])
    matched = matched_forgetting(runs, "lora", "full")
    assert list(matched.first_setting) == ["lr 2e-3"] and list(matched.second_setting) == ["lr 1e-4"]
    row = matched.iloc[0]
    assert row.difference == pytest.approx(row.first_lost - row.second_lost) and row.low > 0 and row.seeds == 3
    assert "reliably forgets more" in matched_verdict(matched, "lora", "full")
    assert "reliably forgets less" in matched_verdict(matched_forgetting(runs, "full", "lora"), "full", "lora")
    assert matched_forgetting(runs, "lora", "full", tolerance=0.005).empty
    assert "cannot be compared" in matched_verdict(matched_forgetting(runs, "lora", "full", tolerance=0.005),
                                                   "lora", "full")


def test_a_matched_pair_that_cannot_be_told_apart_is_said_so():
    runs = pd.concat([frame([run("lora", s, 0.88, 0.10) for s in range(3)], "a"),
                      frame([run("full", s + 10, 0.88, 0.10) for s in range(3)], "b")])
    assert matched_forgetting(runs, "lora", "full").empty  # no seed in common: nothing to pair
    runs = pd.concat([frame([run("lora", s, 0.88, 0.10) for s in range(3)], "a"),
                      frame([run("full", s, 0.885, 0.10) for s in range(3)], "b")])
    matched = matched_forgetting(runs, "lora", "full")
    assert len(matched) == 1 and matched.low.iloc[0] < 0 < matched.high.iloc[0]
    assert "does not separate" in matched_verdict(matched, "lora", "full")
