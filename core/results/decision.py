"""From measured results to a decision: Pareto fronts, break-even volumes, storage, and a recommendation.

Pure pandas, DataFrame in and out, like core/results/analysis.py, whose analyse().summary is the usual input:
one row per (method, size) with accuracy and its interval, and the mean costs of its runs::

    table = analyse(runs, test_labels, reference).summary
    choice = recommend(table, Constraints(accuracy_floor=0.8, budget_dollars=50, queries=1_000_000))
    choice.method, choice.size, choice.reasons
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from core.evaluation.metrics import bootstrap_interval
from core.methods import METHODS
from core.task.sizes import NO_TRAINING_DATA, size_label, size_order


def shares_base_model(method: str) -> bool:
    """The method's deployment keeps the frozen base beside a small per-task part (core/methods: its spec)."""
    return METHODS[method].shares_base_model if method in METHODS else False


def updates_without_training(method: str) -> bool:
    """The method takes new data without training: a prompt, or an index that takes new documents."""
    return METHODS[method].updates_without_training if method in METHODS else False

COST_AXES = {  # the cost columns a user can put against accuracy, in their words
    "train_dollars": "training cost ($)",
    "inference_seconds_per_1k": "latency (ms per query)",  # seconds per 1,000 queries = ms per query
    "peak_memory_mb": "peak memory (MB)",
    "bytes_stored": "bytes stored per task",
}


def quality_name(kind: str) -> str:
    """What the quality axis measures, in words: answer match for questions answered in words, else accuracy.

    Either way the number is in the `accuracy` column (a QA run stores answer match there: an accepted answer
    appears in the reply)."""
    return "answer match" if kind == "qa" else "accuracy"


def money(dollars: float) -> str:
    """Dollars as a person reads them: $1,234.50, $0.0421, $0.000021 (never 2.1e-05)."""
    if pd.isna(dollars):
        return "–"
    if dollars == 0 or abs(dollars) >= 1:
        return f"${dollars:,.2f}"
    decimals = min(8, max(2, 1 - math.floor(math.log10(abs(dollars)))))
    return f"${dollars:,.{decimals}f}"


def pareto_front(table: pd.DataFrame, cost: str, quality: str = "accuracy") -> pd.Series:
    """True for rows no other row beats: none is at least as cheap and as good, and better at one."""
    on_front = pd.Series(False, index=table.index)
    valid = table[[cost, quality]].dropna()
    best = -np.inf
    # cheapest first; among equal costs the best first, so it alone can be on the front
    for index, row in valid.sort_values([cost, quality], ascending=[True, False]).iterrows():
        if row[quality] > best:
            on_front[index], best = True, row[quality]
    return on_front


def one_per_method(table: pd.DataFrame, size: str | None = None) -> pd.DataFrame:
    """One row per method: the given size where it was run, else the method's largest size."""
    rows = []
    for _, group in table.groupby("method", sort=False):
        match = group[group["size"] == size] if size is not None else group.iloc[0:0]
        rows.append(match.iloc[0] if len(match) else group.loc[group["size"].map(size_order).idxmax()])
    return pd.DataFrame(rows).reset_index(drop=True) if rows else table.iloc[0:0]


def fixed_dollars(table: pd.DataFrame, constraints: Constraints | None = None, retrains: int = 1) -> pd.Series:
    """What an option costs before its first query, per row: training (`retrains` times for a method that
    trains), labelling its training examples, and storing its models over the period, for every task variant.

    Storage: a method that shares the base model stores it once beside one small part per variant (an adapter,
    a head, an index); one that changes every weight stores a whole copy per variant (core/methods: the specs)."""
    constraints = constraints or Constraints(retrains=retrains, data_changes_often=retrains > 1)
    retrained = np.where(table.method.map(updates_without_training).astype(bool), 1, constraints.retrains_counted)
    variants = constraints.variants
    column = lambda name: table[name].fillna(0) if name in table else pd.Series(0.0, index=table.index)  # noqa: E731
    training = column("train_dollars") * retrained * variants
    labelling = column("train_examples") * constraints.dollars_per_label * variants
    shared = base_model_bytes(table) if "bytes_stored" in table else 0.0
    stored = column("bytes_stored") * variants + np.where(table.method.map(shares_base_model).astype(bool), shared, 0.0)
    storage = stored / 1e9 * constraints.storage_dollars_per_gb_month * constraints.months
    return training + labelling + storage


def total_cost(table: pd.DataFrame, queries, retrains: int = 1, constraints: Constraints | None = None) -> pd.DataFrame:
    """Dollars to train, label and store (fixed_dollars) and then answer each query volume."""
    fixed = fixed_dollars(table, constraints, retrains)
    rows = []
    for row, before in zip(table.itertuples(), fixed):
        for volume in np.atleast_1d(queries):
            rows.append({"method": row.method, "size": row.size, "queries": float(volume),
                         "total_dollars": before + float(volume) * row.inference_dollars_per_1k / 1000})
    return pd.DataFrame(rows, columns=["method", "size", "queries", "total_dollars"])


SERVING_NOISE = 0.05  # per-query costs closer than this share of the larger are the same: timing is not steadier


def serving_noise(runs: pd.DataFrame) -> pd.DataFrame:
    """Standard error of the measured $ per 1,000 queries per (method, size) over its finished runs (NaN: one run)."""
    finished = runs[runs.status == "finished"] if "status" in runs else runs
    grouped = finished.groupby(["method", "size"], sort=False).inference_dollars_per_1k
    frame = (grouped.std() / np.sqrt(grouped.count())).rename("inference_dollars_per_1k_se").reset_index()
    return frame


def serve_alike(per_1k_a: float, per_1k_b: float, se_a: float = float("nan"), se_b: float = float("nan"),
                tolerance: float = SERVING_NOISE) -> bool:
    """True when two per-query costs differ by no more than their noise: SERVING_NOISE of the larger, or two
    standard errors of the difference where the runs' spread is known, whichever is larger."""
    noise = tolerance * max(abs(per_1k_a), abs(per_1k_b))
    spread = [se for se in (se_a, se_b) if pd.notna(se)]
    if spread:
        noise = max(noise, 2 * math.sqrt(sum(se * se for se in spread)))
    return abs(per_1k_a - per_1k_b) <= noise


def break_even_queries(table: pd.DataFrame, retrains: int = 1, tolerance: float = SERVING_NOISE,
                       constraints: Constraints | None = None) -> pd.DataFrame:
    """Query volumes where one option's total cost overtakes another's (its fixed_dollars, then pay per query).

    For options a (cheaper to train) and b (cheaper per query), b is the cheaper choice beyond
    (train_b - train_a) / (per_query_a - per_query_b) queries. Only where the per-query costs differ by more
    than their noise (serve_alike): otherwise the two cost the same to serve (same_serving_cost) and a
    crossing would be the noise's doing. An optional `inference_dollars_per_1k_se` column gives that noise."""
    rows = []
    items = list(table.itertuples())
    fixed = dict(zip(table.index, fixed_dollars(table, constraints, retrains)))
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            per_a, per_b = a.inference_dollars_per_1k / 1000, b.inference_dollars_per_1k / 1000
            if any(pd.isna(v) for v in (per_a, per_b, a.train_dollars, b.train_dollars)):
                continue
            if serve_alike(a.inference_dollars_per_1k, b.inference_dollars_per_1k, _se(a), _se(b), tolerance):
                continue
            train_a, train_b = fixed[a.Index], fixed[b.Index]
            volume = (train_b - train_a) / (per_a - per_b)
            if volume <= 0:
                continue  # one of them is cheaper at every volume
            cheap_first, cheap_later = (a, b) if per_a > per_b else (b, a)
            rows.append({"cheaper_first": cheap_first.method, "cheaper_first_size": cheap_first.size,
                         "cheaper_after": cheap_later.method, "cheaper_after_size": cheap_later.size,
                         "queries": volume, "total_dollars": train_a + volume * per_a})
    columns = ["cheaper_first", "cheaper_first_size", "cheaper_after", "cheaper_after_size", "queries",
               "total_dollars"]
    return pd.DataFrame(rows, columns=columns).sort_values("queries").reset_index(drop=True)


def same_serving_cost(table: pd.DataFrame, tolerance: float = SERVING_NOISE) -> pd.DataFrame:
    """Pairs of options whose per-query costs differ by no more than their noise: they cost the same to serve,
    so no query volume changes which is cheaper (training decides)."""
    rows = []
    items = list(table.itertuples())
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            if pd.notna(a.inference_dollars_per_1k) and pd.notna(b.inference_dollars_per_1k) and serve_alike(
                    a.inference_dollars_per_1k, b.inference_dollars_per_1k, _se(a), _se(b), tolerance):
                rows.append({"method": a.method, "size": a.size, "other": b.method, "other_size": b.size,
                             "dollars_per_1k": a.inference_dollars_per_1k,
                             "other_dollars_per_1k": b.inference_dollars_per_1k})
    return pd.DataFrame(rows, columns=["method", "size", "other", "other_size", "dollars_per_1k",
                                       "other_dollars_per_1k"])


def _se(row) -> float:
    return getattr(row, "inference_dollars_per_1k_se", float("nan"))


def base_model_bytes(table: pd.DataFrame) -> float:
    """Bytes of one full copy of the base model: measured (a full fine-tune's save) or 4 bytes per weight."""
    whole = table.method.map(lambda m: m in METHODS and METHODS[m].stores_whole_model)
    measured = table.loc[whole, "bytes_stored"].dropna()
    if len(measured):
        return float(measured.max())
    weights = table.loc[table.method.map(shares_base_model), "total_parameters"].dropna()
    return float(weights.max()) * 4 if len(weights) else 0.0


def storage_of_variants(table: pd.DataFrame, variants) -> pd.DataFrame:
    """Bytes to keep N task variants per method: base once plus N small parts, or N full copies."""
    base = base_model_bytes(table)
    rows = []
    for row in one_per_method(table).itertuples():
        shared = base if shares_base_model(row.method) else 0.0
        for n in np.atleast_1d(variants):
            rows.append({"method": row.method, "variants": int(n), "bytes": shared + int(n) * row.bytes_stored,
                         "shares_base_model": shares_base_model(row.method)})
    return pd.DataFrame(rows, columns=["method", "variants", "bytes", "shares_base_model"])


def per_class_f1(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean F1 per (method, size, class) over the seeds of finished runs."""
    rows = [{"method": run.method, "size": run.size, "label": label, "f1": score}
            for run in runs[runs.status == "finished"].itertuples()
            for label, score in (run.record or {}).get("per_class_f1", {}).items()]
    frame = pd.DataFrame(rows, columns=["method", "size", "label", "f1"])
    return frame.groupby(["method", "size", "label"], sort=False).f1.mean().reset_index()


@dataclass
class Constraints:
    """What the user needs. None means "no constraint"."""

    accuracy_floor: float | None = None  # 0..1
    budget_dollars: float | None = None  # for training plus `queries` queries
    latency_ms: float | None = None  # per query
    queries: int = 100_000  # expected query volume over the period the budget covers
    data_changes_often: bool = False  # then trained methods pay their training again on each update
    retrains: int = 12  # updates over that period when the data changes often (monthly for a year)
    variants: int = 1  # task variants deployed (say one per customer): each is labelled, trained and stored
    dollars_per_label: float = 0.0  # what labelling one training example costs
    storage_dollars_per_gb_month: float = 0.10  # keeping the models (block storage), over `months`
    months: int = 12  # the period `queries` and `retrains` cover

    @property
    def retrains_counted(self) -> int:
        """Trainings paid over the period by a method that trains: `retrains` when the data changes often, else 1."""
        return self.retrains if self.data_changes_often else 1


@dataclass
class Recommendation:
    method: str | None
    size: str | None
    met: bool  # False: nothing meets every constraint; the closest option is named instead
    headline: str
    reasons: list[str] = field(default_factory=list)
    candidates: pd.DataFrame = field(default_factory=pd.DataFrame)  # score_candidates, with `tied`, `pareto`
    inconclusive: bool = False  # the data cannot separate the top options: the pick among them is on cost
    tied: list[str] = field(default_factory=list)  # "rag (32 per class) 0.795", each option tied with the best
    to_decide: list[str] = field(default_factory=list)  # what would separate the tied options
    excluded: list[tuple[str, str]] = field(default_factory=list)  # (option, why) ruled out by the constraints
    unit: str = "per_class"
    quality: str = "accuracy"

    @property
    def option(self) -> str | None:
        """The chosen option in words, method and size: "lora (32 per class)"."""
        return None if self.method is None else option_label(self.method, self.size, self.unit)


def option_label(method: str, size: str, unit: str = "per_class") -> str:
    """An option as every sentence names it: its method and its training-set size, "tfidf (24 per class)"."""
    return f"{method} ({size_label(size, unit)})"


def score_candidates(table: pd.DataFrame, constraints: Constraints) -> pd.DataFrame:
    """The summary with total cost, latency, which constraints each row meets, and by how much it misses."""
    frame = table.copy()
    frame["retrains"] = np.where(frame.method.map(updates_without_training).astype(bool), 1,
                                 constraints.retrains_counted)
    frame["per_query_dollars"] = frame.inference_dollars_per_1k / 1000
    frame["fixed_dollars"] = fixed_dollars(frame, constraints)
    frame["total_dollars"] = frame.fixed_dollars + constraints.queries * frame.per_query_dollars
    # a query answered alone (batch 1, median) where it was measured; batched time per query otherwise
    single = frame.latency_p50_ms if "latency_p50_ms" in frame else pd.Series(np.nan, index=frame.index)
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
    Every option is named with its size, in the headline, the reasons and the lists of tied and excluded ones."""
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
    where = option_label(choice.method, choice["size"], size_unit)
    tied = frame[frame.tied].sort_values(["best", "accuracy"], ascending=False)  # the best first
    # the tie matters when the choice is one of the tied options; one picked for another reason (the data changes
    # often) does not hang on telling them apart, though they are still named
    inconclusive = met and len(tied) > 1 and bool(choice.tied)
    tie_pick, tie_why = cheapest_and_why(tied) if len(tied) else (None, "")  # which tied option costs least, and why
    headline = f"Use {where}." if met else f"Nothing meets every constraint; the closest is {where}."
    if inconclusive:
        labels = [option_label(m, s, size_unit) for m, s in zip(tied.method, tied["size"])]
        names = ", ".join(labels[:HEADLINE_TIES]) + (f" and {len(labels) - HEADLINE_TIES} more (listed below)"
                                                     if len(labels) > HEADLINE_TIES else "")
        why = cost_words(choice, tie_why, constraints.queries, quality) if choice.name == tie_pick else \
            "see below why it is chosen"
        headline += f" Inconclusive on {quality}: the data cannot tell apart {names}; {why}."
    excluded = _excluded(frame, quality, size_unit) if met else []
    to_decide = _to_decide(frame, tied, scored, size_unit) if inconclusive else []
    reasons = _reasons(choice, best, frame, constraints, size_unit, met, quality, excluded, to_decide,
                       (tie_pick, tie_why))
    return Recommendation(choice.method, choice["size"], met, headline, reasons, frame, inconclusive,
                          [f"{option_label(m, s, size_unit)} {a:.3f}" for m, s, a in
                           zip(tied.method, tied["size"], tied.accuracy)],
                          to_decide, excluded, size_unit, quality)


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


def cost_words(choice, why: str, queries: int, quality: str = "accuracy") -> str:
    """Why `choice` is the cheapest of its pool, in words; `why` is what cheapest_and_why said of it."""
    if why == "same":
        return (f"they cost the same within the noise of the measurement (to train, label and store about "
                f"{money(choice.fixed_dollars)}, to serve about {money(choice.inference_dollars_per_1k)} per 1,000 "
                f"queries), so the higher {quality} estimate is named; either will do")
    if why == "fixed":
        return ("their serving costs differ by less than their noise, and it is the cheapest of them to train, label "
                f"and store ({money(choice.fixed_dollars)})")
    return f"it is the cheapest of them at {queries:,} queries"


WHY_EXCLUDED = {"meets_accuracy": "below the {quality} floor", "meets_budget": "over budget",
                "meets_latency": "too slow"}


def _why(row, quality: str) -> str:
    return " and ".join(w.format(quality=quality) for k, w in WHY_EXCLUDED.items() if not row[k])


def _excluded(frame: pd.DataFrame, quality: str, unit: str) -> list[tuple[str, str]]:
    """Each option the constraints rule out, with its size, and why; most accurate first."""
    rows = frame[~frame.feasible].sort_values("accuracy", ascending=False)
    return [(option_label(row.method, row["size"], unit), _why(row, quality)) for _, row in rows.iterrows()]


def _to_decide(frame: pd.DataFrame, tied: pd.DataFrame, scored: pd.DataFrame | None, unit: str) -> list[str]:
    """What would separate the tied options: more seeds, more test examples, a larger training-set size."""
    steps, seeds_line = [], None
    if "seeds" in tied and tied.seeds.notna().any():
        trained = tied[tied["size"] != NO_TRAINING_DATA]
        counts = (trained if len(trained) else tied).seeds
        seeds_line = len(steps)
        steps.append(f"more seeds per option (the tied ones have {counts.min():.0f}"
                     + (f" to {counts.max():.0f}" if counts.max() != counts.min() else "") + ")")
    examples = None
    if scored is not None and len(scored):
        examples = int(np.size(scored.correct.iloc[0]))
    others = tied[~tied.best]
    # the difference the decision hangs on: the chosen option against the best, else the closest one to the best
    runner_up = others[others.chosen].iloc[0] if others.chosen.any() else others.iloc[0]
    gap = abs(runner_up["diff"]) if pd.notna(runner_up["diff"]) else np.nan
    if runner_up.paired and pd.notna(runner_up.diff_high):
        half = (runner_up.diff_high - runner_up.diff_low) / 2
    else:
        best = tied.iloc[0]
        half = (best.accuracy_high - best.accuracy_low) / 2
    now = f" (now {examples:,})" if examples else ""
    if seeds_line is not None and gap > 0 and half > 0 and pd.notna(runner_up.get("seeds")):
        # where seed-to-seed variation dominates, an interval narrows as one over the square root of the seeds
        have = int(min(tied.iloc[0].get("seeds") or runner_up.seeds, runner_up.seeds))
        needed = max(have + 1, int(np.ceil(have * (half / gap) ** 2)))
        steps[seeds_line] += (f"; if the spread is mostly between seeds, about {needed} seeds each would separate "
                              f"a difference of {gap:.3f}")
    if examples and gap > 0 and half > 0:
        needed = examples * (half / gap) ** 2
        steps.append(f"more test examples{now}: about {needed:,.0f} would separate a difference of {gap:.3f} "
                     f"between {option_label(tied.iloc[0].method, tied.iloc[0]['size'], unit)} and "
                     f"{option_label(runner_up.method, runner_up['size'], unit)}")
    else:
        steps.append(f"more test examples{now}")
    trained = tied[tied["size"] != NO_TRAINING_DATA]
    if len(trained):
        largest = max(frame["size"], key=size_order)
        steps.append(f"a larger training-set size than the largest run ({size_label(largest, unit)}), where the "
                     "options may pull apart")
    return steps


def _reasons(choice, best, frame: pd.DataFrame, constraints: Constraints, unit: str, met: bool,
             quality: str = "accuracy", excluded: list[tuple[str, str]] = (), to_decide: list[str] = (),
             tie: tuple[object, str] = (None, "")) -> list[str]:
    """The reasons under the headline; `tie` is cheapest_and_why of the tied options (None when none is tied)."""
    volume = f"{constraints.queries:,} queries"
    where = option_label(choice.method, choice["size"], unit)
    retrained = f" ({choice.retrains:.0f} trainings)" if choice.retrains > 1 else ""
    reasons = [(f"{where} reaches {choice.accuracy:.3f} {quality} (95% interval {choice.accuracy_low:.3f} to "
                f"{choice.accuracy_high:.3f}) and costs {money(choice.total_dollars)} in total at {volume}: "
                f"{money(choice.train_dollars * choice.retrains)} to train{retrained} and "
                f"{money(choice.inference_dollars_per_1k)} per 1,000 queries "
                f"({money(choice.per_query_dollars * constraints.queries)} for {volume}), "
                f"{choice.latency_ms:.2f} ms per query.")]
    tied = frame[frame.tied & ~((frame.method == best.method) & (frame["size"] == best["size"]))]
    if met:
        best_words = "most accurate option" if quality == "accuracy" else f"option with the highest {quality}"
        best_where = option_label(best.method, best["size"], unit)
        if (choice.method, choice["size"]) != (best.method, best["size"]):
            if bool(choice.tied):
                how = _difference_words(choice, quality)
                why = f"{where} is cheaper" if choice.total_dollars < best.total_dollars else \
                    f"{where} stays current as the data changes"
                reasons.append(f"The {best_words}, {best_where} at {best.accuracy:.3f}, is not measurably better "
                               f"({how}) and costs {money(best.total_dollars)}; {why}.")
            else:
                reasons.append(f"The {best_words}, {best_where} at {best.accuracy:.3f}, is measurably better and "
                               f"costs {money(best.total_dollars)}.")
        if len(tied):
            names = ", ".join(f"{option_label(r.method, r['size'], unit)} {r.accuracy:.3f}"
                              for _, r in tied.sort_values("accuracy", ascending=False).iterrows())
            paired = "paired differences over the same seeds and test examples" if tied.paired.all() else \
                "paired differences where predictions are stored, else the best's 95% interval" \
                if tied.paired.any() else "the best's 95% interval: no stored predictions to pair"
            rule = (f"Among tied options the cheapest at {volume} is chosen" + (
                f" ({cost_words(choice, tie[1], constraints.queries, quality)})." if tie[1] != "total" else "."))\
                if choice.name == tie[0] else \
                (f"{where} is not among them: see why below." if not bool(choice.tied) else
                 "The choice among them is not on cost: see why below.")
            reasons.append(f"Tied with the best, {best_where} at {best.accuracy:.3f} (the data cannot tell them "
                           f"apart; judged on {paired}): {names}. {rule}")
            if to_decide:
                reasons.append(f"Inconclusive on {quality}: what would decide it: " + "; ".join(to_decide) + ".")
    if constraints.accuracy_floor is not None:
        if choice.meets_accuracy:
            sure = "its whole interval clears it too" if choice.accuracy_low >= constraints.accuracy_floor else \
                "but the lower end of its interval falls below it, so the floor is met on the estimate, not for sure"
            reasons.append(f"It meets the {quality} floor of {constraints.accuracy_floor:.3f}; {sure}.")
        else:
            reasons.append(f"It misses the {quality} floor of {constraints.accuracy_floor:.3f}: more training "
                           "data or a stronger base model is needed to reach it.")
    if constraints.budget_dollars is not None:
        verb = "is within" if choice.meets_budget else "exceeds"
        reasons.append(f"Its total cost {verb} the {money(constraints.budget_dollars)} budget at {volume}.")
    if constraints.latency_ms is not None:
        verb = "is under" if choice.meets_latency else "is over"
        reasons.append(f"Its latency of {choice.latency_ms:.2f} ms per query {verb} the "
                       f"{constraints.latency_ms:g} ms limit.")
    if constraints.data_changes_often:
        reasons.append(_changes_often(choice, best, frame, constraints, unit, met, quality))
    hurts = choice.get("transfer_hurts")
    if pd.notna(hurts) and bool(hurts):
        reasons.append("Caution: at this size it is reliably worse than the from-scratch reference (negative "
                       "transfer); the reference itself may be the better choice.")
    if met and excluded:
        reasons.append("Ruled out by the constraints: " + "; ".join(f"{name}: {why}" for name, why in excluded) + ".")
    return reasons


def _difference_words(row, quality: str) -> str:
    if row.paired:
        return (f"paired difference {row['diff']:+.3f}, 95% interval {row.diff_low:+.3f} to {row.diff_high:+.3f} "
                "over the same seeds and test examples")
    return f"this one's {quality} lies inside its 95% interval"


def _changes_often(choice, best, frame: pd.DataFrame, constraints: Constraints, unit: str, met: bool,
                   quality: str) -> str:
    """The data-changes-often reason, matching the choice: why the option that stays current was or was not taken."""
    where = option_label(choice.method, choice["size"], unit)
    stale = (f"a trained model goes stale between updates and pays its training again on each of "
             f"{constraints.retrains} (included in its total cost)")
    if updates_without_training(choice.method):
        tail = ""
        if met and (choice.method, choice["size"]) != (best.method, best["size"]) and not bool(choice.tied):
            tail = (f" That is why it is chosen over the more accurate "
                    f"{option_label(best.method, best['size'], unit)}: it meets every constraint and stays current.")
        return (f"The data changes often: {where} takes new data without training (RAG indexes new documents; a "
                f"prompt needs no data), so it stays current, while {stale}.{tail}")
    current = frame[frame.method.map(updates_without_training).astype(bool)]
    preferred = "options that take new data without training (RAG, prompt-only)"
    if current.empty:
        why = "none was run in this experiment"
    elif not current.feasible.any():
        why = "each is ruled out (" + "; ".join(
            f"{option_label(r.method, r['size'], unit)}: {_why(r, quality)}"
            for _, r in current.sort_values("accuracy", ascending=False).iterrows()) + ")"
    else:
        top = current[current.feasible].sort_values("accuracy", ascending=False).iloc[0]
        why = (f"the best of them, {option_label(top.method, top['size'], unit)} at {top.accuracy:.3f}, is "
               f"measurably less accurate than {option_label(best.method, best['size'], unit)} at "
               f"{best.accuracy:.3f}, and "
               "without an accuracy floor only a tie would let it win")
    return (f"The data changes often, which favours {preferred}, but {why}. So {where} is "
            f"{'used' if met else 'named'}: {stale}.")
