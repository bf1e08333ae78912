"""Known and Unknown facts across epochs read from stored records (core/results/learning_epochs.py): the table from
the checkpoints and the base model's answers, and the sentence said from the numbers, never fixed."""

from __future__ import annotations

import pandas as pd

from core.evaluation.learning_epochs import checkpoint_epochs
from core.results.learning_epochs import learning_findings, learning_table

QUESTIONS = [{"question": f"q{i}", "answer": f"a{i}", "aliases": [f"a{i}"]} for i in range(4)]
# the base model (the known-facts pass) answered test rows 0 and 1 right, made up row 2, abstained on row 3
PASS = {"questions": [{"split": "test", "row": 0, "greedy": "a0"}, {"split": "test", "row": 1, "greedy": "a1"},
                      {"split": "test", "row": 2, "greedy": "wrong"},
                      {"split": "test", "row": 3, "greedy": "I don't know"}]}


def record(unknown_right: list[int], known_right: list[int], made_up: list[int]) -> dict:
    points = [{"epoch": e + 1, "step": 3 * (e + 1), "known_right": k, "known": 10, "unknown_right": u,
               "unknown": 20, "test_made_up": m, "test_questions": 4, "seconds": 1.5}
              for e, (u, k, m) in enumerate(zip(unknown_right, known_right, made_up))]
    return {"learning_across_epochs": {"before": {"epoch": 0, "step": 0, "known_right": 6, "known": 10,
                                                  "unknown_right": 0, "unknown": 20},
                                       "checkpoints": points, "seconds": 1.5 * len(points), "test_rows": [0, 1, 2, 3]}}


def runs(*records) -> pd.DataFrame:
    return pd.DataFrame({"method": ["lora"] * len(records), "size": ["32"] * len(records),
                         "status": "finished", "record": list(records)})


def test_the_table_starts_at_the_base_model_and_pools_seeds():
    table = learning_table(runs(record([2, 10], [8, 10], [2, 3]), record([4, 12], [9, 10], [1, 3])), PASS, QUESTIONS)
    assert table.epoch.tolist() == [0, 1, 2]
    base, first, last = table.iloc[0], table.iloc[1], table.iloc[2]
    assert base.made_up_share == 2 / 8 and base.known_share == 12 / 20 and base.unknown_share == 0  # row 2, twice
    assert first.unknown_share == 6 / 40 and first.known_share == 17 / 20
    assert last.unknown_share == 22 / 40 and last.made_up_share == 6 / 8 and last.runs == 2


def test_the_finding_is_said_from_the_numbers():
    slow_and_worse = learning_findings(learning_table(runs(record([2, 10], [8, 10], [2, 3])), PASS, QUESTIONS))
    assert slow_and_worse == [
        "lora (32 training questions): Unknown facts reached 50% after 2 epoch(s) against 100% for known ones (after "
        "epoch 1: 10% against 80%); made-up answers on test went from 25% (the base model) to 75%: Gekhman et al.'s "
        "finding holds here in shape."]
    fast_and_honest = learning_findings(learning_table(runs(record([18, 20], [8, 9], [0, 0])), PASS, QUESTIONS))
    assert "reached 100% after 2 epoch(s) against 90%" in fast_and_honest[0]
    assert fast_and_honest[0].endswith("from 25% (the base model) to 0%: Gekhman et al.'s finding does not hold here.")


def test_checkpoints_are_evenly_spaced_and_end_on_the_last_epoch():
    assert checkpoint_epochs(3, 4) == [1, 2, 3]
    assert checkpoint_epochs(20, 4) == [5, 10, 15, 20]
    assert checkpoint_epochs(10, 1) == [10]
    assert checkpoint_epochs(5, 0) == []
