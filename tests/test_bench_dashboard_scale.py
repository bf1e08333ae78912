"""bench/dashboard_scale.py: the grown stores it measures the dashboard on, and the benchmark at a toy size."""

from __future__ import annotations

import numpy as np
import pytest

from bench.dashboard_scale import grow
from core.results.store import SqlStore
from dashboard.serve import CHROMIUM
from tests.dashboard.conftest import fake_experiment

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
