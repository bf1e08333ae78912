"""Training-set sizes as every run, table, page and report names them: a number of examples (per class or in
all), the whole training split, or none at all (methods that learn from no labelled examples).

The grid (core/running/grid.py) plans runs by these sizes; the results, the CLI and the dashboard show them.
"""

from __future__ import annotations

ALL = "all"  # the size that takes the whole training split
NO_TRAINING_DATA = "0"  # the size of runs of methods that use no training data: their result holds at every size


def size_order(size: str) -> float:
    """Sort key of a size: by number, with the whole training split last (and no training data first)."""
    return float("inf") if size == ALL else float(size)


def size_label(size: str, unit: str = "per_class") -> str:
    """A size in words, as every page, table and report shows it: "8 per class", "no training data"..."""
    if size == NO_TRAINING_DATA:
        return "no training data"
    if size == ALL:
        return "all training data"
    return f"{size} per class" if unit == "per_class" else f"{size} examples"
