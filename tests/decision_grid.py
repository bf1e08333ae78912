"""A stored grid for decision-report tests: finished runs written straight into a results store, nothing trained.

The CLI (tests/core/test_cli.py) and the Decision report page (tests/dashboard/test_report_page.py) read it.
"""

from __future__ import annotations

import zlib

import numpy as np

from core.config import parse_config
from core.results.store import SqlStore
from tests.conftest import tiny_config

TESTS = 80
# method, size: accuracy (the same for each seed), train $, $ per 1,000 queries, ms per query
CELLS = {("prompt", "0"): (0.40, 0.0, 0.010, 4.0), ("rag", "8"): (0.70, 0.001, 0.012, 9.0),
         ("rag", "32"): (0.78, 0.002, 0.012, 9.0), ("lora", "8"): (0.60, 0.2, 0.004, 3.0),
         ("lora", "32"): (0.90, 0.8, 0.004, 3.0), ("tfidf", "8"): (0.66, 0.001, 0.0006, 0.4),
         ("tfidf", "32"): (0.85, 0.002, 0.0006, 0.4)}


def stored_grid(store: str, name: str = "grid", seeds=(0, 1), missing=(), cells=None, alone=None) -> None:
    """prompt once; rag, lora and tfidf at 8 and 32 per class, for each seed; `missing` run keys are left out, as
    if still running. Each run's predictions are right on a random share (its cell's accuracy) of 80 examples.
    `cells` replaces CELLS (same shape); `alone` maps (method, size) to its ms for one query alone (batch 1), which
    a run records beside the batched time."""
    cells = cells or CELLS
    methods = list(dict.fromkeys(method for method, _ in cells))
    config = parse_config(tiny_config(name, methods=methods, sizes=sorted({int(s) for _, s in cells if s != "0"}),
                                      seeds=list(seeds)))
    truth = np.arange(TESTS) % 2
    target = SqlStore(store)
    target.register_experiment(name, config.model_dump(mode="json"), "fingerprint", ["a", "b"], truth.tolist(),
                               {"kind": "classification", "stats": {"rows": {"train": 64, "test": TESTS}},
                                "environment": {"device": "CPU (2 cores)"}})
    for (method, size), (accuracy, train, per_1k, ms) in cells.items():
        for seed in seeds[:1] if size == "0" else seeds:
            key = f"{method}|{size}|{seed}"
            if key in missing:
                continue
            rng = np.random.default_rng(zlib.crc32(key.encode()))
            correct = np.zeros(TESTS, dtype=bool)
            correct[rng.permutation(TESTS)[:round(accuracy * TESTS)]] = True
            record = {"run_key": key, "method": method, "size": size, "seed": seed, "status": "finished",
                      "train_examples": int(size) * 2, "accuracy": float(correct.mean()),
                      "macro_f1": float(correct.mean()), "train_seconds": train * 36_000,
                      "inference_seconds_per_1k": ms, "peak_memory_mb": 500.0, "trainable_parameters": 1000,
                      "total_parameters": 22_000_000, "bytes_stored": 1_000_000, "train_dollars": train,
                      "inference_dollars_per_1k": per_1k}
            if alone and (method, size) in alone:
                record["latency_p50_ms"] = alone[(method, size)]
            target.write_run(name, record, np.where(correct, truth, 1 - truth).tolist())
