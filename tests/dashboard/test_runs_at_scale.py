"""The Runs page and export with many runs: every stored run reachable (filtered, a page at a time), all of them
downloadable as CSV and JSON. The grown stores bench/dashboard_scale.py measures on are tested in
tests/test_bench_dashboard_scale.py."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from core.cli import main as cli
from core.results.store import SqlStore
from pages.runs import PAGE_ROWS, _exporter
from tests.dashboard.conftest import assert_clean, fake_experiment, open_page

SEEDS = 103  # 6 trained methods x 2 sizes x 103 seeds, prompt once: over a thousand runs
RUNS = 6 * 2 * SEEDS + 1


@pytest.fixture
def grown(adaptlab_home):
    """An experiment of RUNS runs (a fake grid over many seeds), written where the dashboard reads (ADAPTLAB_HOME)."""
    store = SqlStore(adaptlab_home / "results.db")
    fake_experiment(store, "many", seeds=range(SEEDS))
    assert len(store.runs_frame("many")) == RUNS  # the failed run replaces one finished seed
    return "many"


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
    assert f"(of {RUNS:,} stored)" in " ".join(c.value for c in app.caption)


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


