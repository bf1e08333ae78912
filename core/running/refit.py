"""`validation: refit`: choose when to stop on held-out examples, then train again on every example.

A run of a method that early-stops trains twice. The selection run trains on three quarters of the run's
budget and early-stops on the held-out quarter, as `validation: from_budget` does; the step whose weights
scored best is the chosen count. The refit starts again from the same base with the same seed and trains on
all of the budget for exactly that many optimiser steps, checking nothing. No method sees labels the others
do not, and none trains on fewer: both trainings are the run's training cost, and the record keeps each. The
count is scaled by the data-size ratio (SCALE_STEPS_BY_DATA, measured), so both run the same number of epochs.

    fitted = fit_and_refit(fit, ctx)            # where refits(method, ctx) says so
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from core.evaluation.measure import stopwatch
from core.methods.base import FitContext, FitFn, Fitted


def refits(method, ctx: FitContext) -> bool:
    """Whether this run refits (see refits_with)."""
    return refits_with(method, ctx.config, len(ctx.val_texts))


def refits_with(method, config, held_out: int) -> bool:
    """Whether a run refits: `validation: refit`, a method that early-stops on labelled examples of its budget,
    and examples held out (at one per class nothing is, and the selection run already trained on every one)."""
    return config.validation == "refit" and method.early_stops and method.uses_training_data and held_out > 0


def on_every_example(ctx: FitContext, **changes) -> FitContext:
    """The run's context with its held-out examples back in training and nothing left to validate on."""
    frames = [f for f in (ctx.train_frame, ctx.val_frame) if f is not None]
    every = {"train_texts": ctx.train_texts + ctx.val_texts,
             "train_labels": np.concatenate([ctx.train_labels, ctx.val_labels]).astype(ctx.train_labels.dtype),
             "train_frame": pd.concat(frames, ignore_index=True) if len(frames) == 2 else ctx.train_frame,
             "val_texts": [], "val_labels": ctx.val_labels[:0],
             "val_frame": ctx.val_frame.iloc[:0] if ctx.val_frame is not None else None}
    return dataclasses.replace(ctx, **{**every, **changes})


def fit_and_refit(fit: FitFn, ctx: FitContext) -> Fitted:
    """The selection run on the training part, then the refit on every example for its chosen step count."""
    with stopwatch() as selection_seconds:
        selection = fit(ctx).details  # only its facts are kept: the refit starts again from the base
    return refit(fit, ctx, selection, selection_seconds())


# The chosen count is scaled by the data-size ratio (every example / those trained on: 4/3), so the refit runs the
# same epochs as the selection run's best weights had. Measured (docs/BENCHMARKS.md row 1, 2026-12-07, 8 per class,
# seed 0): LoRA 0.416 scaled against 0.340 unscaled (0.352 never training on the quarter), full 0.560 against
# 0.472 (0.496). False: the count as chosen, fewer epochs on more examples.
SCALE_STEPS_BY_DATA = True


def refit(fit: FitFn, ctx: FitContext, selection: dict, selection_seconds: float) -> Fitted:
    """Train again from the base on every example for the selection run's best step count (scaled to the same
    epochs); record both runs."""
    chosen = int(selection.get("best_step") or selection.get("steps") or 1)
    every = len(ctx.train_texts) + len(ctx.val_texts)
    steps = round(chosen * every / len(ctx.train_texts)) if SCALE_STEPS_BY_DATA and ctx.train_texts else chosen
    with stopwatch() as refit_seconds:
        fitted = fit(on_every_example(ctx, refit_steps=steps))
    best = {k: v for k, v in selection.items() if k.startswith("best_") and k != "best_step"}
    fitted.details["refit"] = {
        "chosen_steps": chosen, "steps": fitted.details.get("steps"), "selection_steps": selection.get("steps"),
        "selection_stop_reason": selection.get("stop_reason"), **{f"selection_{k}": v for k, v in best.items()},
        "selection_seconds": selection_seconds, "refit_seconds": refit_seconds(),
        "trained_on": every, "selected_on": len(ctx.val_texts)}
    return fitted
