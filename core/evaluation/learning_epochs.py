"""Known and unknown facts learned across epochs (Gekhman et al., EMNLP 2024, measured as they measured it):
during a fine-tuning run on a QA task, at a few evenly spaced epoch ends, the model answers its training questions
greedily (split known / Unknown by the closed-book pass before training, core/running/known_facts.py) and a sample
of the held-out test questions. Recorded per checkpoint: how many known and Unknown training facts it now answers
right, and how many test answers are made up (wrong, not empty, not an abstention).

    checkpoints = EpochCheckpoints.of(trained_frame, test_frame, count=4)   # core/running/run.py, per run
    train_decoder(..., epoch_end=checkpoints.hook(answering))                # the fit wires it to its model
    record["learning_across_epochs"] = checkpoints.record()

The checkpoints' seconds are kept apart from the training's: the training time budget skips them, and run.py
takes them off the run's train_seconds. The analysis of stored checkpoints is core/results/learning_epochs.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.evaluation.known_facts import made_up
from core.evaluation.metrics import answer_match

# test questions answered per checkpoint: enough for a made-up rate within about 6 points, at a fraction of a
# full test pass (every checkpoint answers them again)
TEST_QUESTIONS = 48
KNOWLEDGE = "knowledge"  # the training frame's column of categories (core/running/known_facts.py)


def for_run(method, ctx, task) -> EpochCheckpoints | None:
    """A run's checkpoints, or None where they do not apply: QA on a decoder, the known-facts pass on and its
    categories there, a method that fine-tunes the base model and answers closed-book (lora, full, corpus_ft; with
    retrieval the closed-book categories do not describe what is asked). corpus_ft trains on the documents, so its
    facts are the categorised training questions, whose passages it read."""
    settings = ctx.config.llm.known_facts
    if not (ctx.kind == "qa" and ctx.base.family == "decoder" and settings.enabled and method.changes_base_weights
            and not method.retrieves):
        return None
    trained = ctx.train_frame if method.uses_training_data else task.train
    return EpochCheckpoints.of(trained, task.test, settings.checkpoints, ctx.seed)


def checkpoint_epochs(epochs: int, count: int) -> list[int]:
    """At most `count` epoch ends, evenly spaced, the last always among them (1-based)."""
    if count <= 0 or epochs <= 0:
        return []
    return sorted({int(round(epochs * (i + 1) / min(count, epochs))) for i in range(min(count, epochs))})


@dataclass
class Questions:
    texts: list[str]
    contexts: list[str]
    accepted: list[list[str]]


def _questions(frame: pd.DataFrame) -> Questions:
    from core.evaluation.qa import accepted_answers, column

    return Questions(frame.text.tolist(), column(frame, "context", ""), accepted_answers(frame))


@dataclass
class EpochCheckpoints:
    """What one run measures at its chosen epoch ends; `hook` gives the training loop its callback."""

    trained: Questions  # the training facts the run learns (with a category)
    unknown: np.ndarray  # per trained question: Unknown to the base model
    test: Questions
    test_rows: list[int]  # positions in the task's test split, so the base model's answers can be matched
    count: int  # checkpoints at most
    # greedily right before training (the pass's HighlyKnown and MaybeKnown: some greedy answer was right; one prompt
    # gives HighlyKnown only), the curve's start at epoch 0
    known_right_before: int = 0
    points: list[dict] = field(default_factory=list)
    seconds: float = 0.0  # every checkpoint's answering, apart from training

    @classmethod
    def of(cls, trained: pd.DataFrame, test: pd.DataFrame, count: int, seed: int = 0,
           test_questions: int = TEST_QUESTIONS) -> EpochCheckpoints | None:
        """None where nothing can be measured: no checkpoints asked for, or no trained question with a category."""
        if count <= 0 or KNOWLEDGE not in trained:
            return None
        trained = trained[trained[KNOWLEDGE].notna()]
        if trained.empty:
            return None
        rows = np.arange(len(test))
        if len(rows) > test_questions:  # the same sample for every checkpoint of the run
            rows = np.sort(np.random.default_rng([seed, 26]).choice(rows, test_questions, replace=False))
        greedy_right = int(trained[KNOWLEDGE].isin(["HighlyKnown", "MaybeKnown"]).sum())
        return cls(_questions(trained), (trained[KNOWLEDGE] == "Unknown").to_numpy(), _questions(test.iloc[rows]),
                   rows.tolist(), count, greedy_right)

    def hook(self, answering: Callable[[], object]) -> Callable[[int, int, int, bool], None]:
        """The loop's epoch-end callback: answering() gives a predictor over the model as it is now (its answer()
        renders the run's own prompts)."""
        def epoch_end(epoch: int, epochs: int, step: int, stopping: bool) -> None:
            if epoch in checkpoint_epochs(epochs, self.count) or stopping:
                self.measure(answering(), epoch, step)
        return epoch_end

    def measure(self, predictor, epoch: int, step: int) -> dict:
        started = time.perf_counter()
        if self.points and epoch <= self.points[-1]["epoch"]:
            self.points = []  # a second training of the run (a refit, a search's next trial): the last one counts
        trained = predictor.answer(self.trained.texts, self.trained.contexts)
        right = np.array([answer_match(a, acc) for a, acc in zip(trained, self.trained.accepted)], dtype=bool)
        tested = predictor.answer(self.test.texts, self.test.contexts)
        point = {"epoch": epoch, "step": step,
                 "known_right": int(right[~self.unknown].sum()), "known": int((~self.unknown).sum()),
                 "unknown_right": int(right[self.unknown].sum()), "unknown": int(self.unknown.sum()),
                 "test_made_up": sum(made_up(a, acc) for a, acc in zip(tested, self.test.accepted)),
                 "test_right": sum(answer_match(a, acc) for a, acc in zip(tested, self.test.accepted)),
                 "test_questions": len(tested)}
        point["seconds"] = time.perf_counter() - started
        self.seconds += point["seconds"]
        self.points.append(point)
        return point

    def record(self) -> dict:
        """What the run record keeps (`learning_across_epochs`)."""
        before = {"epoch": 0, "step": 0, "known_right": self.known_right_before, "known": int((~self.unknown).sum()),
                  "unknown_right": 0, "unknown": int(self.unknown.sum())}  # Unknown: no answer of the pass was right
        return {"before": before, "checkpoints": self.points, "seconds": self.seconds, "test_rows": self.test_rows}
