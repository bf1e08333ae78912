"""The recommendation: which option to use, from the measured results and the user's constraints.

Among the options that meet every constraint, the most accurate and those the data cannot tell from it (ties,
paired over the same seeds and test examples where predictions are stored) are kept, and the cheapest of those at
the query volume wins. Pure pandas; the costs are core/results/costs.py's, the sentences core/results/reasons.py's::

    choice = recommend(table, Constraints(accuracy_floor=0.8, budget_dollars=50, queries=1_000_000))
    choice.method, choice.size, choice.headline, choice.reasons
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.evaluation.metrics import bootstrap_interval
from core.results.costs import (
    SERVING_NOISE,
    Constraints,
    fixed_parts,
    pareto_front,
    serve_alike,
    serving_noise,
    updates_without_training,
)
from core.results.reasons import cost_words, excluded_options, reason_lines, what_would_decide
from core.results.text import option_title
from core.task.sizes import NO_TRAINING_DATA, size_order


@dataclass
class Recommendation:
    method: str | None
    size: str | None
    met: bool  # False: nothing meets every constraint; the closest option is named instead
    headline: str
    reasons: list[str] = field(default_factory=list)
    candidates: pd.DataFrame = field(default_factory=pd.DataFrame)  # score_candidates, with `tied`, `pareto`
    inconclusive: bool = False  # the data cannot separate the top options: the pick among them is on cost
    tied: list[str] = field(default_factory=list)  # "RAG (32 per class) 0.795", each option tied with the best
    to_decide: list[str] = field(default_factory=list)  # what would separate the tied options
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (option, why) ruled out by the constraints
    unit: str = "per_class"
    quality: str = "accuracy"
    choice_line: str = ""  # the headline's first sentence, the choice alone: the verdict card's headline

    @property
    def option(self) -> str | None:
        """The chosen option in words, its method's title and size: "LoRA adapter (32 per class)"."""
        return None if self.method is None else option_title(self.method, self.size, self.unit)


def score_candidates(table: pd.DataFrame, constraints: Constraints) -> pd.DataFrame:
    """The summary with total cost, latency, which constraints each row meets, and by how much it misses."""
    frame = table.copy()
    frame["retrains"] = np.where(frame.method.map(updates_without_training).astype(bool), 1,
                                 constraints.retrains_counted)
    frame["per_query_dollars"] = frame.inference_dollars_per_1k / 1000
    parts = fixed_parts(frame, constraints)  # training, labelling, storage: a cost sentence names each
    frame[["training_part", "labelling_part", "storage_part"]] = parts.to_numpy()
    frame["fixed_dollars"] = parts.sum(axis=1)
    frame["total_dollars"] = frame.fixed_dollars + constraints.queries * frame.per_query_dollars
    # the latency limit is on one query answered alone (batch 1, median) where it was measured; the batched time
    # per query otherwise (`latency_alone` False), and every sentence on latency says which it is
    single = frame.latency_p50_ms if "latency_p50_ms" in frame else pd.Series(np.nan, index=frame.index)
    frame["latency_alone"] = single.notna()
    frame["latency_ms"] = single.fillna(frame.inference_seconds_per_1k)
    # shortfall: how far each constraint is missed, relative to the constraint (0 where it is met)
    limits = {"accuracy": (constraints.accuracy_floor, frame.accuracy, -1),
              "budget": (constraints.budget_dollars, frame.total_dollars, 1),
              "latency": (constraints.latency_ms, frame.latency_ms, 1)}
    frame["shortfall"] = 0.0
    for name, (limit, value, sign) in limits.items():
        # an unknown value (a cost from a stored price that is not a number) cannot be shown to meet a limit
        miss = 0.0 if limit is None else ((sign * (value - limit)).clip(lower=0)
                                          / max(abs(limit), 1e-12)).fillna(np.inf)
        frame[f"meets_{name}"] = True if limit is None else sign * (value - limit) <= 0
        frame["shortfall"] += miss
    frame["feasible"] = frame[["meets_accuracy", "meets_budget", "meets_latency"]].all(axis=1)
    return frame


# -- ties with the best, paired where predictions are stored -----------------------------------------------------
def scored_runs(runs: pd.DataFrame | None, test_labels=None) -> pd.DataFrame | None:
    """Finished runs with a `correct` vector (0/1 per test example), from stored predictions; None without them."""
    if runs is None or runs.empty:
        return None
    finished = runs[runs.status == "finished"] if "status" in runs else runs
    if "correct" in finished:
        return finished
    if "predictions" not in finished or test_labels is None:
        return None
    truth = np.asarray(test_labels)
    usable = finished[[p is not None and np.size(p) == len(truth) for p in finished.predictions]]
    if usable.empty:
        return None
    return usable.assign(correct=[np.asarray(p) == truth for p in usable.predictions])


def paired_difference(a: pd.DataFrame, b: pd.DataFrame) -> tuple[float, float, float] | None:
    """a's accuracy minus b's over the same test examples, paired on seeds: (mean, 95% low, 95% high).

    a and b are one option's scored runs each (`size`, `seed`, `correct`). Runs of the same seed pair; a run
    that uses no training data (one run serves every size and seed) pairs with every run of the other, as
    analysis.negative_transfer pairs a method with its reference. The interval is the hierarchical bootstrap
    over test examples and seeds (core.evaluation.metrics.bootstrap_interval). None when nothing pairs (no
    seed in common, or test sets of different lengths): the caller then falls back to unpaired intervals."""
    if a.empty or b.empty:
        return None
    once = [(frame["size"] == NO_TRAINING_DATA).all() for frame in (a, b)]
    first, second = list(zip(a.seed, a.correct)), list(zip(b.seed, b.correct))
    if any(once):
        pairs = [(x, y) for _, x in first for _, y in second]
    else:
        by_seed = dict(second)
        pairs = [(x, by_seed[s]) for s, x in first if s in by_seed]
    if not pairs or any(np.size(x) != np.size(y) for x, y in pairs):
        return None
    diffs = np.stack([np.asarray(x, dtype=float) - np.asarray(y, dtype=float) for x, y in pairs])
    low, high = bootstrap_interval(diffs)
    return float(diffs.mean()), low, high


def mark_ties(frame: pd.DataFrame, best, scored: pd.DataFrame | None) -> pd.DataFrame:
    """Add `best`, `tied` (the data cannot tell the option from `best`), `paired`, `diff`, `diff_low`, `diff_high`.

    Among the feasible rows: paired (the option's accuracy minus the best's on the same seeds and test
    examples, tied when its 95% interval reaches 0) where both have stored predictions; else unpaired (tied
    when the option's accuracy lies inside the best's 95% interval). Options far below the best (by more than
    twice both intervals' half-widths together) are told apart without a bootstrap."""
    frame = frame.assign(tied=False, paired=False, diff=np.nan, diff_low=np.nan, diff_high=np.nan)
    best_key = (best.method, best["size"])
    frame["best"] = (frame.method == best.method) & (frame["size"] == best["size"])
    cells = dict(iter(scored.groupby(["method", "size"], sort=False))) if scored is not None else {}
    half = (frame.accuracy_high - frame.accuracy_low) / 2
    best_half = (best.accuracy_high - best.accuracy_low) / 2
    for index, row in frame[frame.feasible].iterrows():
        if (row.method, row["size"]) == best_key:
            frame.loc[index, ["tied", "diff"]] = [True, 0.0]
            continue
        frame.loc[index, "diff"] = row.accuracy - best.accuracy
        if best.accuracy - row.accuracy > 2 * (best_half + half[index]):
            continue  # far apart: no interval reaches zero
        paired = None
        if best_key in cells and (row.method, row["size"]) in cells:
            paired = paired_difference(cells[(row.method, row["size"])], cells[best_key])
        if paired is not None:
            diff, low, high = paired
            frame.loc[index, ["paired", "diff", "diff_low", "diff_high", "tied"]] = [True, diff, low, high, high >= 0]
        else:
            frame.loc[index, "tied"] = row.accuracy >= best.accuracy_low
    frame["tied"] = frame.tied.astype(bool)
    frame["paired"] = frame.paired.astype(bool)
    return frame


# -- the recommendation ------------------------------------------------------------------------------------------
def recommend(table: pd.DataFrame, constraints: Constraints | None = None, size_unit: str = "per_class",
              quality: str = "accuracy", runs: pd.DataFrame | None = None, test_labels=None) -> Recommendation:
    """Pick the option to use, from the measured results and the user's constraints.

    Among the options that meet every constraint, the most accurate one and those tied with it (the data
    cannot tell them apart: see mark_ties; paired over the same seeds and test examples when `runs` carry
    predictions, with `test_labels`, or a `correct` column) are kept, and the cheapest of those at the
    query volume wins; when more than one option is tied the verdict says it is inconclusive, and what would
    decide it. When the data changes often, a trained model goes stale between retrains while RAG indexes
    new documents at once: with an accuracy floor, the best option that updates without training wins if it
    meets every constraint; without one, it wins when tied. When nothing meets every constraint, the option
    that misses them by least is named. `quality` names the accuracy column in the reasons (see quality_name).
    Every option is named by its method's title and its size (core.results.text.option_title), in the headline,
    the reasons and the lists of tied and excluded ones, as the report's tables name it."""
    constraints = constraints or Constraints()
    if table.empty:
        return Recommendation(None, None, False, "No finished runs yet: nothing to recommend.", unit=size_unit,
                              quality=quality)
    frame = score_candidates(table, constraints)
    scored = scored_runs(runs, test_labels)
    if scored is not None and "inference_dollars_per_1k" in scored and "inference_dollars_per_1k_se" not in frame:
        frame = frame.merge(serving_noise(scored), on=["method", "size"], how="left")
    feasible = frame[frame.feasible]
    if feasible.empty:
        choice = best = frame.loc[frame.shortfall.idxmin()]
        frame = frame.assign(tied=False, paired=False, diff=np.nan, diff_low=np.nan, diff_high=np.nan, best=False)
    else:
        best = feasible.loc[feasible.assign(_size=feasible["size"].map(size_order))
                            .sort_values(["accuracy", "total_dollars", "_size"], ascending=[False, True, True])
                            .index[0]]
        frame = mark_ties(frame, best, scored)
        feasible = frame[frame.feasible]
        pool = feasible[feasible.tied]
        current = feasible[feasible.method.map(updates_without_training).astype(bool)]
        if constraints.data_changes_often and len(current):
            if constraints.accuracy_floor is not None:
                pool = current[current.accuracy == current.accuracy.max()]
            elif pool.method.map(updates_without_training).any():
                pool = pool[pool.method.map(updates_without_training).astype(bool)]
        choice = frame.loc[cheapest(pool)]
    frame["pareto"] = pareto_front(frame, "total_dollars")
    frame["chosen"] = (frame.method == choice.method) & (frame["size"] == choice["size"])
    met = bool(choice.feasible)
    where = option_title(choice.method, choice["size"], size_unit)  # the headline names methods by their titles
    tied = frame[frame.tied].sort_values(["best", "accuracy"], ascending=False)  # the best first
    # the tie matters when the choice is one of the tied options; one picked for another reason (the data changes
    # often) does not hang on telling them apart, though they are still named
    inconclusive = met and len(tied) > 1 and bool(choice.tied)
    tie_pick, tie_why = cheapest_and_why(tied) if len(tied) else (None, "")  # which tied option costs least, and why
    headline = choice_line = f"Use {where}." if met else f"Nothing meets every constraint; the closest is {where}."
    if inconclusive:
        labels = [option_title(m, s, size_unit) for m, s in zip(tied.method, tied["size"])]
        names = ", ".join(labels[:HEADLINE_TIES]) + (f" and {len(labels) - HEADLINE_TIES} more (listed below)"
                                                     if len(labels) > HEADLINE_TIES else "")
        why = cost_words(choice, tie_why, constraints.queries, quality) if choice.name == tie_pick else \
            "see below why it is chosen"
        headline += f" Inconclusive on {quality}: the data cannot tell apart {names}; {why}."
    excluded = excluded_options(frame, quality, size_unit) if met else []
    to_decide = what_would_decide(frame, tied, scored, size_unit) if inconclusive else []
    reasons = reason_lines(choice, best, frame, constraints, size_unit, met, quality, excluded, to_decide,
                          (tie_pick, tie_why))
    return Recommendation(choice.method, choice["size"], met, headline, reasons, frame, inconclusive,
                          [f"{option_title(m, s, size_unit)} {a:.3f}" for m, s, a in
                           zip(tied.method, tied["size"], tied.accuracy)],
                          to_decide, excluded, size_unit, quality, choice_line)


HEADLINE_TIES = 4  # tied options the headline names; the reasons name every one


def cheapest(pool: pd.DataFrame):
    """The index of the cheapest option of `pool` at the query volume (see cheapest_and_why)."""
    return cheapest_and_why(pool)[0]


def cheapest_and_why(pool: pd.DataFrame) -> tuple[object, str]:
    """The cheapest option of `pool` at the query volume, and why: "total" (the least total_dollars; the smaller
    size on a tie); "fixed" (its serving cost is inside the noise of a cheaper total's, and it costs less to train,
    label and store, so no timing difference multiplied by the query volume decides); "same" (serving and fixed
    costs both alike, within their noise and SERVING_NOISE of each other: the higher accuracy estimate is named)."""
    ordered = pool.assign(_size=pool["size"].map(size_order)).sort_values(["total_dollars", "_size"])
    choice, why = ordered.iloc[0], "total"
    for _, other in ordered.iloc[1:].iterrows():
        cheaper_fixed = other.fixed_dollars < choice.fixed_dollars
        if _serve_alike(choice, other) and not _fixed_alike(choice, other) and cheaper_fixed:
            choice, why = other, "fixed"
    alike = [other for _, other in ordered.iterrows() if other.name != choice.name and _serve_alike(choice, other)
             and _fixed_alike(choice, other)]
    if alike:  # no cost tells them apart: the higher accuracy estimate is named
        best = max([choice, *alike], key=lambda row: row.accuracy)
        return best.name, "same"
    return choice.name, why


def _serve_alike(a, b) -> bool:
    return serve_alike(a.inference_dollars_per_1k, b.inference_dollars_per_1k,
                       a.get("inference_dollars_per_1k_se", float("nan")),
                       b.get("inference_dollars_per_1k_se", float("nan")))


def _fixed_alike(a, b) -> bool:
    return abs(a.fixed_dollars - b.fixed_dollars) <= SERVING_NOISE * max(a.fixed_dollars, b.fixed_dollars)
