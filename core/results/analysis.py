"""Pure analysis of stored runs: DataFrame in, DataFrame out. No I/O, no plotting, no training.

Intervals come from a paired bootstrap over test examples and, where there are several seeds,
over seeds too (hierarchical): both sources of luck widen the interval, and because every method
is scored on the same test examples with the same seeds, differences are paired. The bootstrap is
core.evaluation.metrics.bootstrap_interval, the one every run's own interval uses.

analyse() is the entry point: one pass over an experiment's runs gives the bundle every front end
shows (the dashboard caches it, the CLI and docs/make_results.py print it)::

    analysis = analyse(store.runs_frame(name, with_predictions=True), experiment["test_labels"], "scratch")
    analysis.summary, analysis.curves, analysis.transfer
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control

from core.evaluation.metrics import (
    bootstrap_interval,
    interval_from,
    intervals_from_rows,
    p_from,
    pooled_means,
    row_means,
)
from core.methods import DEFAULT_REFERENCE, METHODS
from core.task.sizes import NO_TRAINING_DATA, size_order

TRANSFER_COLUMNS = ["method", "size", "seed", "difference", "low", "high", "hurts", "p_adjusted", "unpaired"]


@dataclass
class Analysis:
    """Everything computed from one experiment's runs; empty frames when no run has finished."""

    summary: pd.DataFrame = field(default_factory=pd.DataFrame)  # one row per (method, size) as run: the results table
    # per (method, size), no-training-data runs at every size
    curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    transfer: pd.DataFrame = field(default_factory=pd.DataFrame)  # vs the reference (empty without its runs)


def analyse(runs: pd.DataFrame, test_labels: list[int], reference: str | None = DEFAULT_REFERENCE) -> Analysis:
    """The results table, the learning curves and the negative transfer against `reference`, each interval
    bootstrapped once.

    summary: accuracy with its interval, macro-F1, mean costs and (with a reference) the pooled difference to
    it (`vs_<reference>`, `transfer_hurts`); runs that use no training data keep their one size there.
    curves: the same rows with those runs repeated at every trained size. transfer: negative_transfer()."""
    scored = with_correctness(runs, test_labels)
    if scored.empty:
        return Analysis()
    measured = _accuracy_rows(scored)
    curves = _sorted(broadcast_once(measured))
    summary = measured.merge(cost_summary(runs), on=["method", "size"], how="left")
    transfer = pd.DataFrame(columns=TRANSFER_COLUMNS)
    if reference and (scored.method == reference).any():
        transfer = negative_transfer(scored, reference)
        # a run without training data is compared at each size (its difference varies by size): not in this table
        pooled = transfer[transfer.seed.isna()][["method", "size", "difference", "low", "high", "hurts"]]
        summary = summary.merge(pooled.rename(columns={"difference": f"vs_{reference}", "low": f"vs_{reference}_low",
                                                       "high": f"vs_{reference}_high", "hurts": "transfer_hurts"}),
                                on=["method", "size"], how="left")
    return Analysis(summary=_sorted(summary), curves=curves, transfer=transfer)


def compared_reference(methods, configured: str | None = DEFAULT_REFERENCE) -> str | None:
    """The reference the differences are taken to: the experiment's own where it ran (`methods`: those with a finished
    run, a runs frame's or a summary's `method`), else the first from-scratch reference that did (TF-IDF where
    scratch did not run), else None: a column of differences to a reference that never ran would be empty."""
    ran = set(methods)
    if configured in ran:
        return configured
    return next((name for name, spec in METHODS.items() if spec.is_reference and name in ran), None)


def with_correctness(runs: pd.DataFrame, test_labels: list[int]) -> pd.DataFrame:
    """Add a `correct` column (0/1 per test example) from stored predictions; finished runs only. Runs that have
    one already are kept as they are."""
    finished = runs[runs.status == "finished"].copy()
    if "correct" in finished:
        return finished
    truth = np.asarray(test_labels)
    finished["correct"] = [np.asarray(p) == truth for p in finished.predictions]
    return finished


def _sizes(runs: pd.DataFrame) -> list[str]:
    return sorted((s for s in runs["size"].unique() if s != NO_TRAINING_DATA), key=size_order)


def broadcast_once(runs: pd.DataFrame) -> pd.DataFrame:
    """Repeat rows of runs without training data (prompt-only) at every trained size, so they sit on every curve."""
    once = runs[runs["size"] == NO_TRAINING_DATA]
    sized = runs[runs["size"] != NO_TRAINING_DATA]
    copies = [once.assign(size=size) for size in _sizes(runs)] or [once]
    return pd.concat([sized, *copies], ignore_index=True)


CURVE_COLUMNS = ["method", "size", "train_examples", "seeds", "accuracy", "accuracy_low", "accuracy_high", "macro_f1"]


def _accuracy_rows(runs: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per (method, size) as run: mean over seeds with a hierarchical 95% interval."""
    rows = []
    for (method, size), group in runs.groupby(["method", "size"], sort=False):
        matrix = np.stack(group.correct.to_numpy())
        low, high = bootstrap_interval(matrix)
        rows.append({"method": method, "size": size, "train_examples": float(group.train_examples.mean()),
                     "seeds": len(group), "accuracy": float(matrix.mean()), "accuracy_low": low,
                     "accuracy_high": high, "macro_f1": float(group.macro_f1.mean())})
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def learning_curves(runs: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per (method, size): mean over seeds with a hierarchical 95% interval; runs that use no
    training data are measured once and shown at every trained size.

    Needs the `correct` column (see with_correctness)."""
    return _sorted(broadcast_once(_accuracy_rows(runs)))


FLAG_LEVEL = 0.025  # one-sided, like the upper end of a 95% interval


def negative_transfer(runs: pd.DataFrame, reference: str = DEFAULT_REFERENCE) -> pd.DataFrame:
    """Each method's accuracy minus the reference's, per (method, size, seed) and pooled over seeds.

    Pairs are the same seed and the same test examples. A run without training data (prompt-only) has one
    seed and pairs with every reference seed; a trained run whose reference run (same size and seed) is
    missing or failed is left out, and the pooled row counts it in `unpaired`.

    Rows with seed = None are the pooled (hierarchical) estimate. There `hurts` flags cells where the
    method is reliably worse than the reference, with the error controlled across all the cells: each
    cell's one-sided bootstrap p-value, adjusted by Benjamini-Hochberg (`p_adjusted`), below FLAG_LEVEL.
    Per-seed rows flag a whole 95% interval below zero, unadjusted (descriptive).
    """
    once = set(runs.method[runs["size"] == NO_TRAINING_DATA])
    runs = broadcast_once(runs)
    reference_runs = runs[runs.method == reference]
    ref = dict(zip(zip(reference_runs["size"], reference_runs.seed), reference_runs.correct))  # (size, seed) -> 0/1
    ref_seeds_at = {}  # size -> the reference's seeds there
    for size, seed in ref:
        ref_seeds_at.setdefault(size, []).append(seed)
    pairs, intervals, pooled = [], [], []
    for (method, size), group in runs[runs.method != reference].groupby(["method", "size"], sort=False):
        diffs, unpaired = [], 0
        for seed, correct in zip(group.seed, group.correct):
            if method in once:  # one run serves every size and seed
                ref_seeds = ref_seeds_at.get(size, [])
            elif (size, seed) in ref:
                ref_seeds = [seed]
            else:
                unpaired += 1
                continue
            for ref_seed in ref_seeds:
                diff = correct.astype(float) - ref[(size, ref_seed)].astype(float)
                pairs.append((method, size, ref_seed, diff.mean()))
                diffs.append(diff)
        if diffs:
            stacked = np.stack(diffs)
            # one draw for the pooled interval, its p-value and each pair's own interval: each pair's resampled
            # means are the rows the hierarchical bootstrap draws its seeds from
            pair_means, state = row_means(stacked)
            means = pooled_means(pair_means, state)
            low, high = interval_from(means, stacked)
            pooled.append({**_transfer_row(method, size, None, float(stacked.mean()), low, high),
                           "p": p_from(means), "unpaired": unpaired})
            intervals += intervals_from_rows(pair_means, stacked)
    rows = [_transfer_row(method, size, seed, difference, low, high)
            for (method, size, seed, difference), (low, high) in zip(pairs, intervals)]
    if pooled:
        adjusted = false_discovery_control([row["p"] for row in pooled], method="bh")
        for row, p in zip(pooled, adjusted):
            row.update(p_adjusted=float(p), hurts=bool(p < FLAG_LEVEL and row["high"] < 0))
            del row["p"]
    return _sorted(pd.DataFrame(rows + pooled, columns=TRANSFER_COLUMNS))


def _transfer_row(method, size, seed, difference, low, high) -> dict:
    return {"method": method, "size": size, "seed": seed, "difference": float(difference), "low": low,
            "high": high, "hurts": high < 0, "p_adjusted": float("nan"), "unpaired": 0}


def cost_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean cost per (method, size) over finished runs."""
    finished = runs[runs.status == "finished"].copy()
    columns = ["train_seconds", "inference_seconds_per_1k", "peak_memory_mb", "trainable_parameters",
               "total_parameters", "bytes_stored", "train_dollars", "inference_dollars_per_1k"]
    if "record" in finished:  # serving figures kept in each run's record (batch-1 latency, throughput spread)
        for name in RECORD_COSTS:
            finished[name] = [record.get(name) if isinstance(record, dict) else None for record in finished.record]
            finished[name] = pd.to_numeric(finished[name], errors="coerce")
        columns += [name for name in RECORD_COSTS if finished[name].notna().any()]
    return _sorted(finished.groupby(["method", "size"], sort=False)[columns].mean().reset_index())


# per query answered alone (median, 95th percentile; a LoRA adapter also merged into its base), and the spread of
# batched throughput over the parts of the test pass
RECORD_COSTS = ("latency_p50_ms", "latency_p95_ms", "merged_latency_p50_ms", "merged_latency_p95_ms",
                "inference_seconds_per_1k_low", "inference_seconds_per_1k_high")


def summary_table(runs: pd.DataFrame, test_labels: list[int],
                  reference: str | None = DEFAULT_REFERENCE) -> pd.DataFrame:
    """The results table alone (see analyse): accuracy with interval, macro-F1, difference to the reference, cost."""
    return analyse(runs, test_labels, reference).summary


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    order = {name: i for i, name in enumerate(METHODS)}  # the registry's order is the display order
    keys = frame.assign(_m=frame.method.map(order), _s=frame["size"].map(size_order))
    return keys.sort_values(["_s", "_m"]).drop(columns=["_m", "_s"]).reset_index(drop=True)


def per_class_f1(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean F1 per (method, size, class) over the seeds of finished runs."""
    rows = [{"method": run.method, "size": run.size, "label": label, "f1": score}
            for run in runs[runs.status == "finished"].itertuples()
            for label, score in (run.record or {}).get("per_class_f1", {}).items()]
    frame = pd.DataFrame(rows, columns=["method", "size", "label", "f1"])
    return frame.groupby(["method", "size", "label"], sort=False).f1.mean().reset_index()
