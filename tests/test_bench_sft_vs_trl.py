"""bench/sft_vs_trl.py runs end to end in its dry-run mode on the tiny random Llama: adaptlab and TRL's SFTTrainer
(at its defaults and at its best speed settings) train LoRA on the same examples for the same steps, and every
trained model is decoded by the same predictor. A dry run's figures are not benchmark figures: the record goes to
the test's own folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl")  # in the test extra (pyproject.toml); the bench's peer

BENCH = Path(__file__).resolve().parents[1] / "bench"


def test_sft_vs_trl_dry_run_trains_every_side_on_the_same_tokens_and_steps(tiny_llama, tmp_path):
    sys.path.insert(0, str(BENCH))
    import sft_vs_trl

    sft_vs_trl.main(["--dry-run", "--model", str(tiny_llama), "--results", str(tmp_path)])
    (path,) = tmp_path.glob("sft_vs_trl-*.json")
    figures = json.loads(path.read_text(encoding="utf-8"))["figures"]
    (only,) = figures["per_cell"].values()
    assert only["examples"] == 10 and only["order"] == ["adaptlab", "trl", "trl-best"]
    for side in ("adaptlab", "trl", "trl-best"):
        assert only[side]["steps"] == only["steps"] == 3  # the same budget, counted by each trainer itself
        assert only[side]["train_seconds"] > 0
        assert 0 <= only[side]["answer_match"] <= 1 and 0 <= only[side]["likelihood_accuracy"] <= 1
    # TRL's chat-templated prompt-completion rows are adaptlab's own tokens, trained on the same (answer) positions,
    # plus the newline the ChatML template writes after the end-of-turn token
    for side in ("trl", "trl-best"):
        assert only[side]["same_tokens_as_adaptlab"] == 1.0 and only[side]["extra_trained_tokens"] == 1.0
    assert only["trl"]["gradient_checkpointing"] and not only["trl-best"]["gradient_checkpointing"]
    # on a CPU (sdpa attention) padding-free batches would mix examples: TRL at its best groups batches by length
    assert only["trl-best"]["group_by_length"] and not (only["trl"]["padding_free"] or only["trl-best"]["padding_free"])
    assert figures["test_texts"] == 5
    assert figures["speedup_vs_trl"] == pytest.approx(figures["trl_train_seconds"] / figures["adaptlab_train_seconds"])
