"""A results summary (core.results.analysis.analyse().summary's shape) written by hand, for the costs and the
recommendation tests."""

import pandas as pd


def summary_of(rows):
    columns = ["method", "size", "accuracy", "accuracy_low", "accuracy_high", "train_dollars",
               "inference_dollars_per_1k", "inference_seconds_per_1k", "bytes_stored", "total_parameters"]
    return pd.DataFrame(rows, columns=columns)


# method, size, accuracy, low, high, train $, $ per 1k queries, ms per query, bytes stored, total parameters
SUMMARY = summary_of([
    ("prompt", "0", 0.40, 0.35, 0.45, 0.00, 0.010, 4.0, 2_000, 22_000_000),
    ("rag", "32", 0.78, 0.74, 0.82, 0.01, 0.012, 5.0, 400_000, 22_000_000),
    ("lora", "32", 0.85, 0.81, 0.89, 0.50, 0.004, 2.0, 1_200_000, 22_000_000),
    ("full", "32", 0.87, 0.83, 0.91, 1.50, 0.004, 2.0, 90_000_000, 22_000_000),
    ("tfidf", "32", 0.70, 0.66, 0.74, 0.001, 0.001, 0.5, 3_000_000, 0),
])
