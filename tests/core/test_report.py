"""The decision report: every section present, user text escaped, one self-contained HTML file."""

import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from core.results.decision import Constraints, recommend
from core.results.report import build_report, provenance_rows, to_html, to_markdown
from core.task.uploads import save_upload

SUMMARY = pd.DataFrame({
    "method": ["prompt", "lora"], "size": ["0", "8"], "train_examples": [0, 40], "seeds": [1, 2],
    "accuracy": [0.4, 0.8], "accuracy_low": [0.3, 0.7], "accuracy_high": [0.5, 0.9], "macro_f1": [0.35, 0.79],
    "train_seconds": [0.1, 30.0], "inference_seconds_per_1k": [3.0, 2.0], "peak_memory_mb": [500.0, 900.0],
    "trainable_parameters": [0, 70_000], "total_parameters": [22_000_000, 22_000_000],
    "bytes_stored": [2_000, 300_000], "train_dollars": [0.0, 0.001], "inference_dollars_per_1k": [1e-4, 1e-4],
    "vs_scratch": [float("nan"), -0.05], "transfer_hurts": [None, True]})
ENVIRONMENT = {"python": "3.11.9", "platform": "Linux", "device": "CPU (2 cores)", "device_kind": "cpu",
               "versions": {"torch": "2.13.0", "peft": "0.17.1"}}


def _experiment(provenance):
    return {"name": "tickets", "config": {"model": {"name": "default", "max_length": 128}, "methods": ["prompt", "lora"],
                                          "sizes": [8], "seeds": [0, 1], "size_unit": "per_class",
                                          "reference": "scratch", "budget": {"max_epochs": 4}, "prices": {"cpu": 0.1}},
            "task": {"provenance": provenance, "stats": {"rows": {"train": 60, "validation": 10, "test": 30},
                                                          "classes": 2, "corpus_documents": 0},
                     "warnings": ["classes are imbalanced"], "environment": ENVIRONMENT}}


def test_uploaded_data_is_reported_under_the_users_own_name_and_licence():
    stored = save_upload(b"text,label\na,x\n", "Tickets <2024>.csv", licence="CC-BY-4.0")
    rows = provenance_rows({"provenance": {"sources": [{"file": stored.path.name, "sha256": stored.sha256, "rows": 1}]}})
    assert rows == [{"source": "all splits", "file": "Tickets <2024>.csv", "sha256": stored.sha256, "rows": 1,
                     "licence": "CC-BY-4.0"}]
    builtin = provenance_rows({"provenance": {"scenario": {"name": "fortunes", "title": "Fortunes", "licence": "BSD",
                                                           "source": "PyPI"}, "sha256": "ab"},
                               "stats": {"rows": {"train": 3, "test": 2}}})
    assert builtin[0]["licence"] == "BSD" and builtin[0]["rows"] == 5


def test_markdown_has_the_decision_its_reasons_the_data_and_the_environment():
    stored = save_upload(b"text,label\na,x\n", "tickets.csv", licence="internal")
    experiment = _experiment({"sources": [{"file": stored.path.name, "sha256": stored.sha256, "rows": 100}]})
    constraints = Constraints(accuracy_floor=0.7, queries=5000)
    report = build_report(experiment, SUMMARY, recommend(SUMMARY, constraints), constraints, ["lora|8|1: OOM"])
    text = to_markdown(report)
    for expected in ("# Decision report: tickets", "**Use lora (8 per class).**", "accuracy floor: 0.700",
                     "0.800 [0.700, 0.900]", "-0.050 (hurts)", "tickets.csv", "internal", stored.sha256,
                     "train 60", "torch: 2.13.0", "CPU (2 cores)", "lora|8|1: OOM", "classes are imbalanced",
                     "negative transfer"):
        assert expected in text, expected
    assert text.count("| prompt |") == 1


def test_html_is_self_contained_and_escapes_what_users_typed():
    stored = save_upload(b"text,label\na,x\n", "<img src=x onerror=alert(1)>.csv")
    experiment = _experiment({"sources": [{"file": stored.path.name, "sha256": stored.sha256, "rows": 1}]})
    report = build_report(experiment, SUMMARY, recommend(SUMMARY), Constraints())
    figure = go.Figure(go.Scatter(x=[1, 2], y=[3, 4])).to_html(full_html=False, include_plotlyjs=False)
    page = to_html(report, {"Accuracy against cost": figure})
    assert page.startswith("<!DOCTYPE html>") and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in page
    assert page.count("Plotly.newPlot") == 1 and get_plotlyjs()[:200] in page
    assert "<script src=" not in page  # plotly.js inline, not fetched: the file opens offline
    assert "Accuracy against cost" in page and "Use lora" in page
    assert "Plotly" not in to_html(report)  # no figures, no 4 MB of JavaScript
