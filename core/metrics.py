"""Accuracy, macro-F1 and per-class F1 (scikit-learn), with bootstrap intervals over test examples."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

BOOTSTRAP_SAMPLES = 2000
CONFIDENCE = 0.95


def bootstrap_interval(correct: np.ndarray, seed: int = 0, samples: int = BOOTSTRAP_SAMPLES) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean of a 0/1 (or real) per-example vector."""
    values = np.asarray(correct, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, values.size, size=(samples, values.size))].mean(axis=1)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict:
    """Everything recorded about a run's predictions on one test set."""
    classes = list(range(len(labels)))
    low, high = bootstrap_interval(y_true == y_pred)
    per_class = f1_score(y_true, y_pred, labels=classes, average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "accuracy_low": low,
        "accuracy_high": high,
        "macro_f1": float(f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0)),
        "per_class_f1": {label: float(score) for label, score in zip(labels, per_class)},
    }
