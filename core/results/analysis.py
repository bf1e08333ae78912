"""Pure analysis of stored runs: DataFrame in, DataFrame out. No I/O, no plotting, no training.

Intervals come from a paired bootstrap over test examples and, where there are several seeds,
over seeds too (hierarchical): both sources of luck widen the interval, and because every method
is scored on the same test examples with the same seeds, differences are paired.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.config import METHOD_NAMES
from core.evaluation.metrics import BOOTSTRAP_SAMPLES, CONFIDENCE

ONCE = "0"  # size of runs that use no training data: they hold at every size


def size_order(size: str) -> float:
    return float("inf") if size == "all" else float(size)


def with_correctness(runs: pd.DataFrame, test_labels: list[int]) -> pd.DataFrame:
    """Add a `correct` column (0/1 per test example) from stored predictions; finished runs only."""
    finished = runs[runs.status == "finished"].copy()
    truth = np.asarray(test_labels)
    finished["correct"] = [np.asarray(p) == truth for p in finished.predictions]
    return finished


def hierarchical_interval(matrix: np.ndarray, seed: int = 0, samples: int = BOOTSTRAP_SAMPLES) -> tuple[float, float]:
    """95% interval of the mean of a (seeds x examples) matrix, resampling seeds and examples."""
    matrix = np.asarray(matrix, dtype=np.float64)
    rng = np.random.default_rng(seed)
    n_seeds, n_examples = matrix.shape
    means = np.empty(samples)
    for b in range(samples):
        columns = rng.integers(0, n_examples, n_examples)
        per_seed = matrix[:, columns].mean(axis=1)
        means[b] = per_seed[rng.integers(0, n_seeds, n_seeds)].mean() if n_seeds > 1 else per_seed[0]
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def _sizes(runs: pd.DataFrame) -> list[str]:
    return sorted((s for s in runs["size"].unique() if s != ONCE), key=size_order)


def broadcast_once(runs: pd.DataFrame) -> pd.DataFrame:
    """Repeat size-independent runs (prompt-only) at every trained size, so they sit on every curve."""
    once = runs[runs["size"] == ONCE]
    sized = runs[runs["size"] != ONCE]
    copies = [once.assign(size=size) for size in _sizes(runs)] or [once]
    return pd.concat([sized, *copies], ignore_index=True)


def learning_curves(runs: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per (method, size): mean over seeds with a hierarchical 95% interval.

    Needs the `correct` column (see with_correctness)."""
    rows = []
    for (method, size), group in broadcast_once(runs).groupby(["method", "size"], sort=False):
        matrix = np.stack(group.correct.to_numpy())
        low, high = hierarchical_interval(matrix)
        rows.append({"method": method, "size": size, "train_examples": float(group.train_examples.mean()),
                     "seeds": len(group), "accuracy": float(matrix.mean()), "accuracy_low": low,
                     "accuracy_high": high, "macro_f1": float(group.macro_f1.mean())})
    return _sorted(pd.DataFrame(rows))


def negative_transfer(runs: pd.DataFrame, reference: str = "scratch") -> pd.DataFrame:
    """Each method's accuracy minus the reference's, per (method, size, seed) and pooled over seeds.

    Rows with seed = None are the pooled (hierarchical) estimate. `hurts` is True where the whole
    95% interval lies below zero: the adapted model is reliably worse than training from scratch.
    """
    runs = broadcast_once(runs)
    ref = runs[runs.method == reference].set_index(["size", "seed"]).correct
    rows = []
    for (method, size), group in runs[runs.method != reference].groupby(["method", "size"], sort=False):
        diffs = []
        for seed, correct in zip(group.seed, group.correct):
            for ref_seed in ([seed] if (size, seed) in ref.index else
                             [s for (z, s) in ref.index if z == size]):  # size-independent runs pair with every seed
                diff = correct.astype(float) - ref[(size, ref_seed)].astype(float)
                low, high = hierarchical_interval(diff[None, :])
                rows.append(_transfer_row(method, size, ref_seed, diff.mean(), low, high))
                diffs.append(diff)
        if diffs:
            low, high = hierarchical_interval(np.stack(diffs))
            rows.append(_transfer_row(method, size, None, float(np.mean(diffs)), low, high))
    columns = ["method", "size", "seed", "difference", "low", "high", "hurts"]
    return _sorted(pd.DataFrame(rows, columns=columns))


def _transfer_row(method, size, seed, difference, low, high) -> dict:
    return {"method": method, "size": size, "seed": seed, "difference": float(difference), "low": low,
            "high": high, "hurts": high < 0}


def cost_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean cost per (method, size) over finished runs."""
    finished = runs[runs.status == "finished"]
    columns = ["train_seconds", "inference_seconds_per_1k", "peak_memory_mb", "trainable_parameters",
               "total_parameters", "bytes_stored", "train_dollars", "inference_dollars_per_1k"]
    return _sorted(finished.groupby(["method", "size"], sort=False)[columns].mean().reset_index())


def summary_table(runs: pd.DataFrame, test_labels: list[int], reference: str | None = "scratch") -> pd.DataFrame:
    """The results table: accuracy with interval, macro-F1, difference to the reference, and cost."""
    scored = with_correctness(runs, test_labels)
    if scored.empty:
        return pd.DataFrame()
    curves = learning_curves(scored[scored["size"] != ONCE]) if (scored["size"] != ONCE).any() else pd.DataFrame()
    once = learning_curves(scored[scored["size"] == ONCE]) if (scored["size"] == ONCE).any() else pd.DataFrame()
    table = pd.concat([once, curves], ignore_index=True).merge(cost_summary(runs), on=["method", "size"], how="left")
    if reference and (scored.method == reference).any():
        # prompt-only has one run for all sizes, so its difference varies by size: shown per size elsewhere
        pooled = negative_transfer(scored[scored["size"] != ONCE], reference)
        pooled = pooled[pooled.seed.isna()][["method", "size", "difference", "hurts"]]
        table = table.merge(pooled.rename(columns={"difference": f"vs_{reference}", "hurts": "transfer_hurts"}),
                            on=["method", "size"], how="left")
    return _sorted(table)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    order = {name: i for i, name in enumerate(METHOD_NAMES)}  # the registry's order is the display order
    keys = frame.assign(_m=frame.method.map(order), _s=frame["size"].map(size_order))
    return keys.sort_values(["_s", "_m"]).drop(columns=["_m", "_s"]).reset_index(drop=True)
