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


def knowledge_update_scores(fitted, update, labels: list[str]) -> dict:
    """Accuracy on examples whose facts arrive after training: before and after adding those facts.

    Only a method that can take new documents without retraining (RAG: `add_documents`) can improve."""
    index = {label: i for i, label in enumerate(labels)}
    texts, truth = update.test.text.tolist(), update.test.label.map(index).to_numpy()
    before = float((fitted.predict_proba(texts).argmax(1) == truth).mean())
    updatable = hasattr(fitted, "add_documents")
    after = before
    if updatable:
        fitted.add_documents(update.documents.text.tolist(), [index.get(label) for label in update.documents.label])
        after = float((fitted.predict_proba(texts).argmax(1) == truth).mean())
    return {"accuracy_before": before, "accuracy_after": after, "examples": len(texts), "updatable": updatable}


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
