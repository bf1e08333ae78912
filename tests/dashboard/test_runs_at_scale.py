"""The Runs page and export with many runs: every stored run reachable (filtered, a page at a time), all of them
downloadable as CSV and JSON, and the grown stores bench/dashboard_scale.py measures the dashboard on."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from bench.dashboard_scale import grow
from core.cli import main as cli
from core.results.store import SqlStore
from dashboard.serve import CHROMIUM
from pages.runs import PAGE_ROWS, _exporter
from tests.dashboard.conftest import assert_clean, fake_experiment, open_page

RUNS = 1234


@pytest.fixture
def grown(adaptlab_home, tmp_path):
    """A 1,234-run experiment grown from a fake grid, written where the dashboard reads (ADAPTLAB_HOME)."""
    source = SqlStore(tmp_path / "source.db")
    fake_experiment(source, "fake")
    return grow(tmp_path / "source.db", "fake", RUNS, adaptlab_home)


def test_a_grown_store_holds_every_run_scored_from_its_own_predictions(grown, adaptlab_home):
    store = SqlStore(adaptlab_home / "results.db")
    truth = np.asarray(store.experiment(grown)["test_labels"])
    runs = store.runs_frame(grown, with_predictions=True)
    assert len(runs) == RUNS and runs.run_key.is_unique and (runs.status == "finished").all()
    accuracy = [float((np.asarray(p) == truth).mean()) for p in runs.predictions]
    assert np.allclose(runs.accuracy, accuracy)
    # new seeds differ from the runs they were grown from: a spread, not copies
    lora = runs[(runs.method == "lora") & (runs["size"] == "32")]
    assert lora.accuracy.nunique() > 5 and lora.train_seconds.nunique() > 5


def test_the_runs_page_pages_and_filters_every_stored_run(grown):
    app = open_page("runs")
    assert_clean(app)
    table = app.dataframe[-1].value
    assert len(table) == PAGE_ROWS
    assert f"Runs 1 to {PAGE_ROWS} of {RUNS:,}" in " ".join(c.value for c in app.caption)
    last = -(-RUNS // PAGE_ROWS)
    app.number_input(key=f"runs.page.{grown}.{RUNS}").set_value(last).run()
    assert len(app.dataframe[-1].value) == RUNS - (last - 1) * PAGE_ROWS
    app.multiselect(key=f"runs.methods.{grown}").set_value(["lora"]).run()
    shown = app.dataframe[-1].value
    assert set(shown.method) == {"lora"} and len(shown) == min(PAGE_ROWS, _count(grown, "lora"))
    assert "(of 1,234 stored)" in " ".join(c.value for c in app.caption)


def _count(name: str, method: str) -> int:
    from core.paths import adaptlab_home

    return int((SqlStore(adaptlab_home() / "results.db").runs_frame(name).method == method).sum())


def test_every_run_downloads_as_csv_and_json_the_same_as_the_cli_writes(grown, adaptlab_home, tmp_path):
    app = open_page("runs")
    labels = [b.proto.label for b in app.get("download_button")]
    assert labels == [f"Download all {RUNS:,} runs (CSV)", f"Download all {RUNS:,} runs (JSON)"]
    url = f"sqlite:///{adaptlab_home / 'results.db'}"
    csv = _exporter(url, grown, "csv")()
    frame = pd.read_csv(io.StringIO(csv))
    assert len(frame) == RUNS and {"per_class_f1", "details", "accuracy"} <= set(frame.columns)
    records = json.loads(_exporter(url, grown, "json")())
    assert len(records) == RUNS and records[0]["experiment"] == grown and "per_class_f1" in records[0]
    store = str(adaptlab_home / "results.db")
    assert cli(["--store", store, "export", grown, "--format", "csv", "-o", str(tmp_path / "r.csv")]) == 0
    assert (tmp_path / "r.csv").read_text(encoding="utf-8") == csv
    assert cli(["--store", store, "export", grown, "--format", "json", "-o", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8")) == records


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's Chromium is not at /usr/bin/chromium (apt-get install -y "
                    "chromium); the benchmark's browser timing needs it")
def test_the_scale_benchmark_times_every_page_server_and_browser_and_sees_the_same_numbers(adaptlab_home, tmp_path):
    """bench/dashboard_scale.py at a toy size: each page's server time cold and warm with its figures unchanged
    between them, and Chromium's time to a settled page (charts drawn)."""
    from bench.dashboard_scale import PAGES, browser_times, server_times

    source = SqlStore(tmp_path / "source.db")
    fake_experiment(source, "fake")
    home = tmp_path / "scaled"
    name = grow(tmp_path / "source.db", "fake", 60, home)
    server = server_times(home, name, repeats=1)
    assert set(server) == set(PAGES)
    for page, times in server.items():
        assert times["cold_seconds"] > 0 and times["warm_seconds"] > 0, page
        assert times["same_numbers_cold_and_warm"], page
    browser = browser_times(home, name)
    assert set(browser) == set(PAGES) and all(t["first_visit_seconds"] > 0 for t in browser.values())
