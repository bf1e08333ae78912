"""`validation: refit`: choose when to stop on held-out examples, then train again on every example.

A run of a method that early-stops trains twice. The selection run trains on three quarters of the run's
budget and early-stops on the held-out quarter, as `validation: from_budget` does; the step whose weights
scored best is the chosen count, where the held-out examples can tell it from the last step (`chosen_steps`;
else the selection run's whole length). The refit starts again from the same base with the same seed and trains
on all of the budget for that many epochs, checking nothing: the count is scaled by whole batches per epoch
(SCALE_STEPS_BY_DATA, measured). No method sees labels the others do not, and none trains on fewer: both
trainings are the run's training cost, and the record keeps each.

    fitted = fit_and_refit(fit, ctx)            # where refits(method, ctx) says so
"""

from __future__ import annotations

import dataclasses
import math

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
        # only its facts are kept: the refit starts again from the base, and its known/unknown checkpoints are the
        # run's (the selection run's would be measured to be replaced: EpochCheckpoints keeps the last training's)
        selection = fit(dataclasses.replace(ctx, epoch_checkpoints=None)).details
    return refit(fit, ctx, selection, selection_seconds())


# The chosen count is scaled to the same epochs on every example: chosen / batches per epoch of those trained on *
# batches per epoch of all (at 8 per class, batch 16: 8 steps of 2 a epoch -> 12 of 3, as Trainer's 4 epochs).
# Measured (docs/BENCHMARKS.md row 1, 2026-12-07, 8 per class, seed 0, scaled then by the examples' ratio, 11 steps):
# LoRA 0.416 scaled against 0.340 unscaled (0.352 never training on the quarter), full 0.560 against 0.472 (0.496).
# False: the count as chosen, fewer epochs on more examples.
SCALE_STEPS_BY_DATA = True

# How many standard errors the best check's held-out accuracy must beat the last check's by for an earlier step to
# be chosen; otherwise the difference is within the held-out set's noise and the refit keeps the selection run's
# whole length. Measured (docs/BENCHMARKS.md row 1, 2026-12-07): from scratch at 8 per class, 10 held out, the
# steps chosen by noise (5, 7, 3 of 8) left the refit at chance in every seed (0.200); with this rule each refit
# trains the whole plan: 0.256 over the 3 seeds (Trainer at its defaults 0.261); LoRA and full chose the last step.
DISTINCT_BY = 2.0


def chosen_steps(selection: dict, held_out: int) -> int:
    """The selection run's step count for the refit: its best check's step where the held-out accuracy there beats
    the last check's by more than DISTINCT_BY standard errors of a difference of two accuracies on `held_out`
    examples, sqrt(2 p (1 - p) / n) at their mean p (binomial; taken as independent, which overstates the noise of
    two checks on the same examples, so that in doubt the run keeps its planned length), and at least one example's
    worth (1 / n); else every step the selection run took. A validation loss (a decoder's) has no such bound: its
    best step is kept as chosen."""
    from core.training.loop import MAX_EARLY_STOP_EXAMPLES  # the loop (torch) loads with the training, not before

    taken = int(selection.get("steps") or 1)
    best_step = int(selection.get("best_step") or taken)
    scores = selection.get("val_accuracies")
    if best_step >= taken or not scores or held_out <= 0:
        return best_step
    n = min(held_out, MAX_EARLY_STOP_EXAMPLES)
    best, last = max(scores), scores[-1]
    p = min(1.0, max(0.0, (best + last) / 2))
    margin = max(1 / n, DISTINCT_BY * math.sqrt(2 * p * (1 - p) / n))
    return best_step if best - last > margin else taken


def refit_step_count(chosen: int, trained_on: int, every: int, batch_size: int) -> int:
    """The refit's steps on `every` example: as many epochs as `chosen` steps were on `trained_on` (whole batches
    per epoch, as the loop plans them)."""
    from core.training.loop import plan_steps

    if not SCALE_STEPS_BY_DATA or not trained_on:
        return chosen
    per_epoch = {n: plan_steps(n, batch_size, 1, 0).steps_per_epoch for n in (trained_on, every)}
    return max(1, round(chosen / per_epoch[trained_on] * per_epoch[every]))


def refit(fit: FitFn, ctx: FitContext, selection: dict, selection_seconds: float) -> Fitted:
    """Train again from the base on every example for the selection run's chosen step count (scaled to the same
    epochs); record both runs."""
    chosen = chosen_steps(selection, len(ctx.val_texts))
    every = len(ctx.train_texts) + len(ctx.val_texts)
    steps = refit_step_count(chosen, len(ctx.train_texts), every, ctx.config.training.batch_size)
    with stopwatch() as refit_seconds:
        fitted = fit(on_every_example(ctx, refit_steps=steps))
    best = {k: v for k, v in selection.items() if k.startswith("best_") and k != "best_step"}
    fitted.details["refit"] = {
        "chosen_steps": chosen, "steps": fitted.details.get("steps"), "selection_steps": selection.get("steps"),
        "selection_best_step": selection.get("best_step"), "selection_stop_reason": selection.get("stop_reason"),
        **{f"selection_{k}": v for k, v in best.items()},
        **({"selection_last_val_accuracy": selection["val_accuracies"][-1]} if selection.get("val_accuracies") else {}),
        "selection_seconds": selection_seconds, "refit_seconds": refit_seconds(),
        "trained_on": every, "selected_on": len(ctx.val_texts)}
    return fitted
