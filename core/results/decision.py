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

from core.methods import METHODS
from core.running.grid import size_label, size_order


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

    Either way the number is in the `accuracy` column (a QA run stores answer match there: an accepted answer appears in the reply)."""
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


def total_cost(table: pd.DataFrame, queries, retrains: int = 1) -> pd.DataFrame:
    """Dollars to train (retrains times, for methods that train) and then answer each query volume."""
    rows = []
    for row in table.itertuples():
        training = row.train_dollars * (1 if updates_without_training(row.method) else retrains)
        for volume in np.atleast_1d(queries):
            rows.append({"method": row.method, "size": row.size, "queries": float(volume),
                         "total_dollars": training + float(volume) * row.inference_dollars_per_1k / 1000})
    return pd.DataFrame(rows, columns=["method", "size", "queries", "total_dollars"])


def break_even_queries(table: pd.DataFrame) -> pd.DataFrame:
    """Query volumes where one method's total cost overtakes another's (train once, pay per query).

    For methods a (cheaper to train) and b (cheaper per query), b is the cheaper choice beyond
    (train_b - train_a) / (per_query_a - per_query_b) queries."""
    rows = []
    items = list(table.itertuples())
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            per_a, per_b = a.inference_dollars_per_1k / 1000, b.inference_dollars_per_1k / 1000
            if per_a == per_b or any(pd.isna(v) for v in (per_a, per_b, a.train_dollars, b.train_dollars)):
                continue
            volume = (b.train_dollars - a.train_dollars) / (per_a - per_b)
            if volume <= 0:
                continue  # one of them is cheaper at every volume
            cheap_first, cheap_later = (a, b) if per_a > per_b else (b, a)
            rows.append({"cheaper_first": cheap_first.method, "cheaper_first_size": cheap_first.size,
                         "cheaper_after": cheap_later.method, "cheaper_after_size": cheap_later.size,
                         "queries": volume, "total_dollars": a.train_dollars + volume * per_a})
    columns = ["cheaper_first", "cheaper_first_size", "cheaper_after", "cheaper_after_size", "queries",
               "total_dollars"]
    return pd.DataFrame(rows, columns=columns).sort_values("queries").reset_index(drop=True)


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


@dataclass
class Recommendation:
    method: str | None
    size: str | None
    met: bool  # False: nothing meets every constraint; the closest option is named instead
    headline: str
    reasons: list[str] = field(default_factory=list)
    candidates: pd.DataFrame = field(default_factory=pd.DataFrame)


def score_candidates(table: pd.DataFrame, constraints: Constraints) -> pd.DataFrame:
    """The summary with total cost, latency, which constraints each row meets, and by how much it misses."""
    frame = table.copy()
    retrains = constraints.retrains if constraints.data_changes_often else 1
    frame["retrains"] = np.where(frame.method.map(updates_without_training).astype(bool), 1, retrains)
    frame["total_dollars"] = frame.train_dollars * frame.retrains + constraints.queries * frame.inference_dollars_per_1k / 1000
    frame["latency_ms"] = frame.inference_seconds_per_1k
    # shortfall: how far each constraint is missed, relative to the constraint (0 where it is met)
    limits = {"accuracy": (constraints.accuracy_floor, frame.accuracy, -1),
              "budget": (constraints.budget_dollars, frame.total_dollars, 1),
              "latency": (constraints.latency_ms, frame.latency_ms, 1)}
    frame["shortfall"] = 0.0
    for name, (limit, value, sign) in limits.items():
        miss = 0.0 if limit is None else (sign * (value - limit)).clip(lower=0) / max(abs(limit), 1e-12)
        frame[f"meets_{name}"] = True if limit is None else sign * (value - limit) <= 0
        frame["shortfall"] += miss
    frame["feasible"] = frame[["meets_accuracy", "meets_budget", "meets_latency"]].all(axis=1)
    return frame


def recommend(table: pd.DataFrame, constraints: Constraints | None = None, size_unit: str = "per_class",
              quality: str = "accuracy") -> Recommendation:
    """Pick the option to use, from the measured results and the user's constraints.

    Among the options that meet every constraint, the most accurate one and those tied with it
    (their accuracy lies inside its 95% interval: the data cannot tell them apart) are kept, and
    the cheapest of those wins. When the data changes often, a trained model goes stale between
    retrains while RAG indexes new documents at once: with an accuracy floor, the best option that
    updates without training wins if it meets every constraint; without one, it wins when tied.
    When nothing meets every constraint, the option that misses them by least is named. `quality` names the
    accuracy column in the reasons (see quality_name)."""
    constraints = constraints or Constraints()
    if table.empty:
        return Recommendation(None, None, False, "No finished runs yet: nothing to recommend.")
    frame = score_candidates(table, constraints)
    feasible = frame[frame.feasible]
    if feasible.empty:
        choice = frame.loc[frame.shortfall.idxmin()]
        best = choice
    else:
        best = feasible.loc[feasible.accuracy.idxmax()]
        pool = feasible[feasible.accuracy >= best.accuracy_low]
        current = feasible[feasible.method.map(updates_without_training).astype(bool)]
        if constraints.data_changes_often and len(current):
            if constraints.accuracy_floor is not None:
                pool = current[current.accuracy == current.accuracy.max()]
            elif pool.method.map(updates_without_training).any():
                pool = pool[pool.method.map(updates_without_training).astype(bool)]
        choice = pool.assign(_size=pool["size"].map(size_order)).sort_values(["total_dollars", "_size"]).iloc[0]
    met = not feasible.empty
    where = f"{choice.method} ({size_label(choice['size'], size_unit)})"
    headline = f"Use {where}." if met else f"Nothing meets every constraint; the closest is {where}."
    return Recommendation(choice.method, choice["size"], met, headline,
                          _reasons(choice, best, frame, constraints, size_unit, met, quality), frame)


def _reasons(choice, best, frame: pd.DataFrame, constraints: Constraints, unit: str, met: bool,
             quality: str = "accuracy") -> list[str]:
    volume = f"{constraints.queries:,} queries"
    reasons = [(f"It reaches {choice.accuracy:.3f} {quality} (95% interval {choice.accuracy_low:.3f} to "
                f"{choice.accuracy_high:.3f}) and costs {money(choice.total_dollars)} in total at {volume} "
                f"({money(choice.train_dollars * choice.retrains)} to train, {choice.latency_ms:.2f} ms per query).")]
    if (choice.method, choice["size"]) != (best.method, best["size"]):
        measurably = f"is not measurably better (this one's {quality} lies inside its 95% interval)" \
            if choice.accuracy >= best.accuracy_low else "is measurably better"
        best_words = "most accurate option" if quality == "accuracy" else f"option with the highest {quality}"
        reasons.append(f"The {best_words}, {best.method} ({size_label(best['size'], unit)}, "
                       f"{best.accuracy:.3f}), {measurably}, and costs {money(best.total_dollars)}.")
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
        reasons.append(f"The data changes often: RAG takes new documents by indexing them (and prompt-only needs no "
                       f"data), so it stays current, while a trained model goes stale between updates and pays its "
                       f"training again on each of {constraints.retrains} (included in its total cost).")
    hurts = choice.get("transfer_hurts")
    if pd.notna(hurts) and bool(hurts):
        reasons.append("Caution: at this size it is reliably worse than the from-scratch reference (negative "
                       "transfer); the reference itself may be the better choice.")
    excluded = frame[~frame.feasible]
    if met and len(excluded):
        why = {"meets_accuracy": f"below the {quality} floor", "meets_budget": "over budget",
               "meets_latency": "too slow"}
        names = sorted({f"{row.method} ({'; '.join(w for k, w in why.items() if not getattr(row, k))})"
                        for row in excluded.itertuples()})
        reasons.append("Ruled out by the constraints: " + ", ".join(names) + ".")
    return reasons
