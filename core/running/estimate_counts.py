"""What the estimates count, from the training loop's own rules: optimiser steps, validation checks, corpus passages
(core/running/estimate.py for an encoder, core/running/estimate_decoder.py for an LLM; both read these)."""

from __future__ import annotations

from core.config import ExperimentConfig


def training_steps(examples: int, config: ExperimentConfig) -> int:
    """Optimiser steps a trained run takes at most: the training loops' own budget rule."""
    from core.training.loop import plan_steps

    return plan_steps(examples, config.training.batch_size, config.budget.max_epochs,
                      config.budget.min_steps).total_steps


def evaluations(steps: int) -> int:
    """Validation checks a run of `steps` steps makes: one every evaluation_interval, and one at its end."""
    from core.training.loop import evaluation_interval

    every = evaluation_interval(steps)
    return steps // every + (steps % every != 0)


def corpus_passages(task) -> tuple[int, int]:
    """(passages trained on, passages early-stopped on) of a run that trains on the corpus: one in twenty held out,
    as core/methods/corpus_ft.py splits them."""
    passages = 0 if task.corpus is None else len(task.corpus)
    held = max(1, passages // 20)
    return max(passages - held, held), held
