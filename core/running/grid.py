"""The experiment grid: which runs to do, and nested training subsets so learning curves are paired.

For a seed, the subset at size 8/class is contained in the one at 32/class, which is contained in
128/class; the test set never changes. A difference between sizes is then the data's doing, not
the luck of a new draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.config import ExperimentConfig
from core.methods import METHODS

# the size names are the task's (core/task/sizes.py); size_label and size_order are named here too, as before
from core.task.sizes import ALL, NO_TRAINING_DATA, size_label, size_order  # noqa: F401


@dataclass(frozen=True)
class RunSpec:
    method: str
    size: str  # "8", "32", "all"; NO_TRAINING_DATA for methods that use no training data
    seed: int

    @property
    def key(self) -> str:
        return f"{self.method}|{self.size}|{self.seed}"


def nested_order(labels: np.ndarray, seed: int) -> np.ndarray:
    """A stratified ordering of train indices: any prefix keeps class shares (for `total` sizes)."""
    rng = np.random.default_rng(seed)
    rank = np.empty(len(labels), dtype=np.float64)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        # spread each class evenly over [0, 1); a random offset breaks ties between classes
        rank[rng.permutation(members)] = (np.arange(len(members)) + rng.random()) / len(members)
    return np.lexsort((rng.random(len(labels)), rank))


def subset_indices(labels: np.ndarray, size: int | str, unit: str, seed: int) -> np.ndarray:
    """Train indices for one (size, seed): nested in every larger size with the same seed."""
    if size == ALL:
        return np.random.default_rng(seed).permutation(len(labels))
    size = int(size)
    if unit == "total":
        return nested_order(labels, seed)[:size]
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(labels == label))[:size] for label in np.unique(labels)]
    return np.concatenate(chosen)


def plan_runs(config: ExperimentConfig, corpus_only_rag: bool = False) -> list[RunSpec]:
    """Every run of the grid, smallest sizes first so early results arrive early.

    Methods that use no training data (prompt-only, and RAG over the corpus alone) are run once:
    their result holds at every size.
    """
    runs: list[RunSpec] = []
    # retrieval that learns nothing (rag and its retriever variants, not rag_lora): over the corpus alone, one run
    index_only = {name for name, spec in METHODS.items() if spec.retrieves and not spec.learning_rates}
    once = [m for m in config.methods if not METHODS[m].uses_training_data
            or (m in index_only and corpus_only_rag)]
    runs.extend(RunSpec(m, NO_TRAINING_DATA, config.seeds[0]) for m in once)
    for size in config.sizes:
        for seed in config.seeds:
            runs.extend(RunSpec(m, str(size), seed) for m in config.methods if m not in once)
    return runs
