"""What each option costs: to train, label and store, then per query; break-even volumes, storage of N task
variants, the Pareto front of quality against a cost, and the user's constraints.

Pure pandas, DataFrame in and out, like core/results/analysis.py, whose analyse().summary is the usual input:
one row per (method, size) with accuracy and its interval, and the mean costs of its runs::

    table = analyse(runs, test_labels, reference).summary
    total_cost(table, [1e3, 1e6], constraints=Constraints(variants=10))   # dollars at each query volume
    break_even_queries(table)                                             # where one option overtakes another

The recommendation built on these is core/results/recommendation.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.methods import METHODS
from core.task.sizes import size_order


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
    """What an option costs before its first query, per row: training, labelling and storage (fixed_parts)."""
    return fixed_parts(table, constraints, retrains).sum(axis=1)


def fixed_parts(table: pd.DataFrame, constraints: Constraints | None = None, retrains: int = 1) -> pd.DataFrame:
    """The parts of fixed_dollars, per row, so a sentence naming them adds up to its total: `training`
    (`retrains` times for a method that trains), `labelling` its training examples and `storage` of its models
    over the period, each for every task variant.

    Storage: a method that shares the base model stores it once beside one small part per variant (an adapter,
    a head, an index); one that changes every weight stores a whole copy per variant (core/methods: the specs)."""
    constraints = constraints or Constraints(retrains=retrains, data_changes_often=retrains > 1)
    retrained = np.where(table.method.map(updates_without_training).astype(bool), 1, constraints.retrains_counted)
    variants = constraints.variants
    column = lambda name: table[name].fillna(0) if name in table else pd.Series(0.0, index=table.index)  # noqa: E731
    shared = base_model_bytes(table) if "bytes_stored" in table else 0.0
    stored = column("bytes_stored") * variants + np.where(table.method.map(shares_base_model).astype(bool), shared, 0.0)
    return pd.DataFrame({"training": column("train_dollars") * retrained * variants,
                         "labelling": column("train_examples") * constraints.dollars_per_label * variants,
                         "storage": stored / 1e9 * constraints.storage_dollars_per_gb_month * constraints.months},
                        index=table.index)


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


def cheapest_stretches(table: pd.DataFrame, low: float, high: float, retrains: int = 1,
                       constraints: Constraints | None = None) -> pd.DataFrame:
    """Which option is cheapest in total over query volumes from `low` to `high`: one row per stretch (`method`,
    `size`, `from_queries`, `to_queries`), in order. The stretches change hands exactly at break_even_queries'
    volumes, so a headline and the list of break-even points name the same figure."""
    columns = ["method", "size", "from_queries", "to_queries"]
    usable = table.dropna(subset=["inference_dollars_per_1k", "train_dollars"])
    if usable.empty:
        return pd.DataFrame(columns=columns)
    fixed = fixed_dollars(usable, constraints, retrains)
    at_low = fixed + low * usable.inference_dollars_per_1k / 1000
    current = usable.loc[at_low.idxmin()]
    points = break_even_queries(usable, retrains, constraints=constraints)
    rows, start = [], float(low)
    while True:
        # where the current option is overtaken first, past where its stretch began
        mine = points[(points.cheaper_first == current.method) & (points.cheaper_first_size == current["size"])
                      & (points.queries > start) & (points.queries < high)]
        if mine.empty:
            rows.append({"method": current.method, "size": current["size"], "from_queries": start,
                         "to_queries": float(high)})
            return pd.DataFrame(rows, columns=columns)
        step = mine.iloc[0]  # sorted by volume
        rows.append({"method": current.method, "size": current["size"], "from_queries": start,
                     "to_queries": float(step.queries)})
        start = float(step.queries)
        current = usable[(usable.method == step.cheaper_after) & (usable["size"] == step.cheaper_after_size)].iloc[0]


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
