"""Forgetting read from stored runs: what each fine-tune lost of a general ability, with intervals, and
compared at matched task accuracy.

A run's record holds its forgetting probe (core.evaluation.forgetting): which probe pairs the base model and
the adapted one got right. The loss on a pair is the base model's hit minus the adapted model's; over the
seeds and the pairs, the hierarchical bootstrap of core.evaluation.metrics gives the interval. Runs stored
before the hits were recorded carry only their recall: their interval is over seeds alone.

Two fine-tunes that reach different task accuracy do not compare on forgetting: a hotter or longer fine-tune
learns more of the task and moves the encoder further. `matched_forgetting` compares only settings whose task
accuracy is within a tolerance, pair by pair and seed by seed (same probe pairs, same training draws).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.evaluation.metrics import bootstrap_interval

MATCH_TOLERANCE = 0.02  # task accuracy within 2 points counts as matched

COLUMNS = ["method", "size", "setting", "seed", "accuracy", "recall_lost", "base_recall", "probe", "base_hits",
           "adapted_hits"]


def forgetting_runs(runs: pd.DataFrame, setting: str = "") -> pd.DataFrame:
    """One row per finished run with a forgetting probe: its task accuracy and what it lost.

    runs: SqlStore.runs_frame; setting: a name for what these runs were trained with (say "lr 2e-3"), so that
    runs of several experiments can be compared in one frame."""
    rows = []
    for run in runs.itertuples():
        if getattr(run, "status", "finished") != "finished":
            continue
        record = run.record if isinstance(run.record, dict) else {}
        probe = record.get("forgetting") or {}
        if "recall_lost" not in probe:
            continue
        rows.append({"method": run.method, "size": run.size, "setting": setting, "seed": run.seed,
                     "accuracy": run.accuracy, "recall_lost": probe["recall_lost"], "base_recall": probe["base_recall"],
                     "probe": probe["probe"], "base_hits": probe.get("base_hits"),
                     "adapted_hits": probe.get("adapted_hits")})
    return pd.DataFrame(rows, columns=COLUMNS)


def _hits(texts: pd.Series) -> np.ndarray | None:
    """A (runs x pairs) 0/1 matrix from the stored "0110..." strings; None where a run has none."""
    if texts.isna().any() or len({len(t) for t in texts}) != 1:
        return None
    return np.array([[c == "1" for c in text] for text in texts], dtype=np.int8)


def loss_interval(group: pd.DataFrame) -> tuple[float, float, str]:
    """95% interval of the mean recall lost over a group of runs (one per seed), and what it is over."""
    base, adapted = _hits(group.base_hits), _hits(group.adapted_hits)
    if base is not None and adapted is not None:
        low, high = bootstrap_interval(base - adapted)  # (seeds x pairs): the pairs and the seeds both resampled
        return low, high, "seeds and probe pairs"
    if len(group) >= 2:
        low, high = bootstrap_interval(group.recall_lost.to_numpy())
        return low, high, "seeds"
    return float("nan"), float("nan"), ""


def forgetting_summary(frame: pd.DataFrame, by: tuple[str, ...] = ("method", "size", "setting")) -> pd.DataFrame:
    """Per group (by default a method, a size and a setting): seeds, mean task accuracy, mean recall lost and
    its 95% interval (recall_lost_low/high, and what it is over)."""
    rows = []
    for keys, group in frame.groupby(list(by), sort=False):
        low, high, over = loss_interval(group)
        rows.append({**dict(zip(by, keys)), "seeds": group.seed.nunique(), "accuracy": group.accuracy.mean(),
                     "recall_lost": group.recall_lost.mean(), "recall_lost_low": low, "recall_lost_high": high,
                     "interval_over": over, "base_recall": group.base_recall.mean(), "probe": group.probe.iloc[0]})
    return pd.DataFrame(rows, columns=[*by, "seeds", "accuracy", "recall_lost", "recall_lost_low", "recall_lost_high",
                                       "interval_over", "base_recall", "probe"])


def matched_forgetting(frame: pd.DataFrame, first: str, second: str,
                       tolerance: float = MATCH_TOLERANCE) -> pd.DataFrame:
    """Every pair of a `first` setting and a `second` setting, at the same size, whose mean task accuracy over
    their common seeds is within `tolerance`: how much more `first` lost than `second` (difference, in recall),
    with its paired 95% interval (same seeds, same probe pairs). Empty where no settings match."""
    rows = []
    for size, at_size in frame.groupby("size", sort=False):
        for (a_setting, a), (b_setting, b) in ((x, y) for x in at_size[at_size.method == first].groupby("setting")
                                               for y in at_size[at_size.method == second].groupby("setting")):
            a, b = a.set_index("seed"), b.set_index("seed")
            seeds = sorted(set(a.index) & set(b.index))
            if not seeds:
                continue
            a, b = a.loc[seeds], b.loc[seeds]
            if abs(a.accuracy.mean() - b.accuracy.mean()) > tolerance:
                continue
            a_hits, b_hits = _hits(a.adapted_hits), _hits(b.adapted_hits)
            if a_hits is not None and b_hits is not None and a_hits.shape == b_hits.shape:
                low, high = bootstrap_interval(b_hits - a_hits)  # (base - a) - (base - b), pair by pair
                over = "seeds and probe pairs"
            else:
                low, high = bootstrap_interval((a.recall_lost - b.recall_lost).to_numpy()) if len(seeds) > 1 \
                    else (float("nan"), float("nan"))
                over = "seeds"
            rows.append({"size": size, "first": first, "first_setting": a_setting, "first_accuracy": a.accuracy.mean(),
                         "first_lost": a.recall_lost.mean(), "second": second, "second_setting": b_setting,
                         "second_accuracy": b.accuracy.mean(), "second_lost": b.recall_lost.mean(),
                         "difference": a.recall_lost.mean() - b.recall_lost.mean(), "low": low, "high": high,
                         "seeds": len(seeds), "interval_over": over})
    return pd.DataFrame(rows, columns=["size", "first", "first_setting", "first_accuracy", "first_lost", "second",
                                       "second_setting", "second_accuracy", "second_lost", "difference", "low",
                                       "high", "seeds", "interval_over"])


def matched_verdict(matched: pd.DataFrame, first: str, second: str, tolerance: float = MATCH_TOLERANCE) -> str:
    """What the matched comparisons say, in one sentence: whether `first` reliably forgets more than `second`
    at the same task accuracy (every matched pair's interval above zero), less, or neither."""
    points = f"{tolerance * 100:.0f} points"
    if matched.empty:
        return (f"No setting of {first} and {second} reached task accuracy within {points} of each other, so their "
                "forgetting cannot be compared at matched accuracy.")
    pairs = f"{len(matched)} matched pair{'s' if len(matched) != 1 else ''} (task accuracy within {points})"
    if (matched.low > 0).all():
        return f"At matched task accuracy {first} reliably forgets more than {second}: in all {pairs}, the 95% " \
               "interval of the difference is above zero."
    if (matched.high < 0).all():
        return f"At matched task accuracy {first} reliably forgets less than {second}: in all {pairs}, the 95% " \
               "interval of the difference is below zero."
    more, less = int((matched.low > 0).sum()), int((matched.high < 0).sum())
    return (f"At matched task accuracy the data does not separate {first} from {second} on forgetting: of {pairs}, "
            f"{more} show {first} reliably forgetting more, {less} reliably less, and {len(matched) - more - less} "
            "cannot tell them apart.")
